//! The double's framework rules as pure logic: no FFI, no `unsafe`, unit-tested on the host.
//! The Windows side (`crate::fx`) applies them to the objects and IRPs it manages.
#![forbid(unsafe_code)]

pub mod presenter;
pub mod request;
pub mod validate;

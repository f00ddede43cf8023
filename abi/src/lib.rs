//! The wsksock IOCTL ABI, shared by the driver, its kernel consumers and its test tools.
//!
//! Everything a client sends or receives is defined here once: control codes ([`ioctl`]), the
//! versioned `#[repr(C)]` requests and replies ([`msg`]), socket handles ([`handle`]), socket
//! addresses ([`addr`]) and the NTSTATUS values the driver returns ([`status`]). The C header
//! `include/wsksock.h` is generated from these definitions (see `tests/header.rs`).
//!
//! # Invariants
//! - Every request and reply starts with a [`msg::Header`] whose `size` is the size of the whole
//!   struct and whose `version` is [`msg::ABI_VERSION`].
//! - Decoding ([`parse`]) never panics and never reads past the bytes it is given: every input gets
//!   either a typed request or a specific [`status::NtStatus`].
#![no_std]
#![forbid(unsafe_code)]

pub mod addr;
pub mod handle;
pub mod ioctl;
pub mod msg;
pub mod parse;
pub mod status;

pub use addr::SockAddr;
pub use handle::Handle;
pub use ioctl::Op;
pub use status::NtStatus;

//! The front ends: client requests (IRPs) in, engine calls out.
//!
//! - [`request`]: `wsksock_core::Request` over an IRP, shared by both front ends; how a request is
//!   finished and how its cancel routine is armed is a small [`request::Backend`] trait.
//! - [`wdm`]: the WDM front end (no WDK needed; the `DriverEntry` of the Linux cross build).
//! - `kmdf` (feature `kmdf`): the KMDF front end over windows-drivers-rs (needs the WDK).
//! - [`security`]: the device's security descriptor (SYSTEM and Administrators only).

pub mod request;
pub mod security;

#[cfg(not(feature = "kmdf"))]
pub mod wdm;

#[cfg(feature = "kmdf")]
pub mod kmdf;

use crate::wsk::provider::WskProvider;

/// The engine as the front ends instantiate it.
pub type DriverEngine<B> = wsksock_core::Engine<WskProvider, request::IrpRequest<B>>;
/// A client (one open file object).
pub type DriverClient<B> = wsksock_core::ClientRef<WskProvider, request::IrpRequest<B>>;

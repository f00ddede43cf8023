//! The front ends: client requests (IRPs) in, engine calls out.
//!
//! - [`request`]: `wsksock_core::Request` over an IRP, shared by both front ends; how a request is
//!   finished and how its cancel routine is armed is a small [`request::Backend`] trait.
//! - [`wdm`]: the WDM front end (no WDK needed; the `DriverEntry` of the Linux cross build).
//! - `kmdf` (`cfg(kmdf_front)`): the KMDF front end over wdk-sys (the product; built with the WDK,
//!   or on Linux against the stand-in — see the crate docs).
//! - `security` (WDM): the device's security descriptor (SYSTEM and Administrators only), built
//!   by hand; the KMDF front end hands the framework the same rule as an SDDL string.

pub mod request;
#[cfg(not(kmdf_front))]
pub mod security;

#[cfg(not(kmdf_front))]
pub mod wdm;

#[cfg(kmdf_front)]
pub mod kmdf;

use crate::wsk::provider::WskProvider;

/// The engine as the front ends instantiate it.
pub type DriverEngine<B> = wsksock_core::Engine<WskProvider, request::IrpRequest<B>>;
/// A client (one open file object).
pub type DriverClient<B> = wsksock_core::ClientRef<WskProvider, request::IrpRequest<B>>;

//! The wsksock client library: what the `wsksock` CLI and the end-to-end tests use to talk to
//! the driver's IOCTL interface, on either backend.
//!
//! - [`channel`]: one open handle to the device (a file object) that submits IOCTLs and returns
//!   [`channel::Pending`] results — the shape of overlapped `DeviceIoControl`.
//! - [`host`]: the host backend — the real engine in-process over the WSK emulator (not on
//!   Windows: the emulator is built on Unix socket APIs).
//! - `device` (Windows): the device backend — `\\.\WskSock` through overlapped `DeviceIoControl`.
//! - [`api`]: a typed client over any channel (socket, bind, connect, send, close, ...).
//! - [`peer`]: loopback peers that observe the wire (data, FIN, RST) for demos and tests.
//! - [`pattern`]: the test payload `byte[i] = i % 251`.

pub mod api;
pub mod channel;
#[cfg(windows)]
pub mod device;
#[cfg(not(windows))]
pub mod host;
pub mod pattern;
pub mod peer;

pub use api::{Client, CloseMode};
pub use channel::{Channel, Completed, Output, Pending};
#[cfg(not(windows))]
pub use host::HostDevice;

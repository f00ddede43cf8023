//! The engine's provider over Winsock Kernel.
//!
//! - [`registration`]: `WskRegister` / `WskCaptureProviderNPI` (finite wait) and, only at unload
//!   after the engine reported idle, `WskReleaseProviderNPI` / `WskDeregister`.
//! - [`socket`]: a `PWSK_SOCKET` with its kind, giving typed access to the dispatch table of
//!   that kind.
//! - [`addrinfo`]: a `WskGetAddressInfo` result, owned; freed (`WskFreeAddressInfo`) on drop.
//! - [`events`]: the disconnect event of connection sockets and the waits for a connection's
//!   end (the only event callback used).
//! - [`provider`]: `impl wsksock_core::Provider` — every operation, timers, locks. Its IRPs are
//!   `crate::irp::wsk`'s: one owned completion context per WSK IRP, into the IRP once, back once.
//! - [`device`]: the device object the IRPs and work items belong to.
//! - [`teardown`]: what a socket's teardown calls (disconnects, close) need, allocated with the
//!   socket, so the teardown cannot fail for want of memory.
//!
//! # Socket kinds (what we chose and why)
//! Stream sockets are WSK *connection* sockets (`WSK_FLAG_CONNECTION_SOCKET`) and listening
//! sockets are WSK *listen* sockets (`WSK_FLAG_LISTEN_SOCKET`): both exist on every Windows
//! version with WSK and in Wine's netio.sys, unlike `WSK_FLAG_STREAM_SOCKET` (Windows 10 1703+,
//! not in Wine). A WSK listen socket listens as soon as it is bound, so the engine's `listen` on a
//! listen socket completes at once with success (the backlog is the system's); on any other kind
//! it fails with STATUS_NOT_SUPPORTED. Datagram sockets use `WSK_FLAG_DATAGRAM_SOCKET`.

pub mod addrinfo;
pub mod device;
pub mod events;
pub mod provider;
pub mod registration;
pub mod socket;
pub mod teardown;

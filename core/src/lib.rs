//! The portable wsksock engine: per-client handle tables, refcounted socket objects, rundown
//! protection, per-socket operation tracking, the close state machine, request dispatch.
//!
//! Generic over a [`Provider`] (the WSK operations, timers and locks of a platform) and a
//! [`Request`] (a client request of a front end). `no_std` + `alloc`, no `unsafe`, and nothing
//! here blocks or sleeps: every step continues from a completion or a timer.
//!
//! # Invariants (the behaviour contract, spec section 2)
//! 1. A socket object is referenced by its handles, its operations in flight and its timer;
//!    disconnect and close run only when the last handle closes; the object is finished only
//!    after the close completed and every operation completed ([`socket`]).
//! 2. A closed handle names nothing, even after its slot is reused (generations, [`slab`]).
//! 3. Closing a handle cancels what was issued through it, from any thread, without waiting.
//! 4. The handle leaves the table before the teardown starts; CLOSE completes at once unless it
//!    asked to wait for the teardown.
//! 5. No provider call is in progress on a socket when its close is issued ([`rundown`]), nothing
//!    is called after it, and any synchronous failure of a disconnect just moves on.
//! 6. A cancel is a request: an operation that completes with data anyway returns its data.
//! 7. Every request completes exactly once ([`engine::Shared::finish_request`]).
//! 8. Client cleanup closes all the client's handles; unload closes everything and reports when
//!    the provider may be released.
//! 9. Nothing blocks; the linger timeout is a provider timer.
//!
//! # Lock order
//! engine `clients` → `client.state` → `socket.state`; the socket registry and `on_idle` are
//! leaves. No lock is ever held across a provider call, a timer call or a request completion —
//! a provider may complete synchronously, re-entering the engine.
#![no_std]
#![forbid(unsafe_code)]
extern crate alloc;

mod cancel;
pub mod client;
mod dispatch;
pub mod engine;
pub mod provider;
pub mod request;
pub mod rundown;
pub mod slab;
pub(crate) mod socket;
pub mod sync;

pub use client::{Client, ClientRef};
pub use engine::{Config, Engine, Stats};
pub use provider::{
    AddrKind, Buffer, Completion, CompletionSink, Family, OpOutput, OpValue, Provider, SockOpt, SocketKind,
    SocketParams, TimerCallback,
};
pub use request::{CancelToken, DataSource, Request, RequestorMode};
pub use socket::teardown::TeardownMode;

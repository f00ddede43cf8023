//! The portable wsksock engine: per-client handle tables, refcounted socket objects, rundown
//! protection, per-socket operation tracking, the close state machine, request dispatch.
//!
//! Generic over a [`Provider`] (the WSK operations, timers and locks of a platform) and a
//! [`Request`] (a client request of a front end). `no_std` + `alloc`, no `unsafe`, and nothing
//! here blocks or sleeps: every step continues from a completion or a timer.
//!
//! # Invariants (the behaviour contract; the close path is told in `docs/ENGINE.md`)
//! Other modules refer to these by number ("invariant 3").
//! 1. A socket object is referenced by its handles, its operations in flight and its timers
//!    (the teardown's, and each request deadline's until it fired or was cancelled);
//!    disconnect and close run only when the last handle closes; the object is finished only
//!    after the close completed, every operation completed and every request of its operations
//!    was completed (module `socket`).
//! 2. A closed handle names nothing, even after its slot is reused (generations, [`slab`]; a
//!    slot whose generation would wrap is retired).
//! 3. Closing a handle cancels what was issued through it, from any thread, without waiting; an
//!    operation racing the close of its handle is either cancelled by it or refused.
//! 4. The handle leaves the table before the teardown starts; CLOSE completes at once unless it
//!    asked to wait for the teardown.
//! 5. No provider call is in progress on a socket when its close is issued ([`rundown`]), nothing
//!    is called after it (cancels included), and any synchronous failure of a disconnect just
//!    moves on.
//! 6. A cancel is a request: an operation that completes with data anyway returns its data.
//! 7. Every request completes exactly once (`Shared::complete_engine_request` or
//!    `Shared::complete_socket_request`, module `shared`).
//! 8. Client cleanup closes all the client's handles and bounds the graceful teardowns holding
//!    its requests; unload closes everything and reports when the provider may be released.
//! 9. Nothing blocks; the linger timeout and request deadlines are provider timers.
//! 10. Nothing allocates where it could not fail: an allocation that fails fails the request
//!     that needed it (STATUS_INSUFFICIENT_RESOURCES, nothing changed), and what completions,
//!     timers, teardowns, cleanup and unload need was allocated when the request or the socket
//!     was admitted (module `mem`; `docs/ENGINE.md`, "Memory").
//!
//! # Lock order
//! engine `clients` → `client.state` → `socket.state`; the socket registry and `on_idle` are
//! leaves. No lock is ever held across a provider call, a timer call or a request completion —
//! a provider may complete synchronously, re-entering the engine.
//!
//! # Modules
//! [`engine`] is the front ends' façade over `shared` (what everything shares); [`client`]
//! holds handle tables, `socket` the objects, their operations and the close state machine,
//! `unbound` the operations without a socket (create, resolve), `dispatch` routes requests,
//! [`mem`] is where every allocation is made (fallibly).
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(feature = "fallible-alloc", feature(allocator_api))]
extern crate alloc;

mod cancel;
pub mod client;
mod config;
mod dispatch;
pub mod engine;
pub mod mem;
pub mod provider;
pub mod request;
pub mod rundown;
mod shared;
pub mod slab;
pub(crate) mod socket;
pub mod sync;
mod unbound;

pub use client::{Client, ClientRef};
pub use engine::{Census, Config, Engine, Stats};
pub use mem::AllocError;
pub use provider::{
    AddrKind, Buffer, Completion, CompletionSink, Family, OpOutput, OpValue, Owner, Provider, SockOpt,
    SocketKind, SocketParams, TimerCallback,
};
pub use request::{CancelArm, CancelToken, DataSource, Request, RequestorMode};
pub use socket::teardown::TeardownMode;

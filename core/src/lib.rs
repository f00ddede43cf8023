//! The portable wsksock engine (work in progress).
#![no_std]
#![forbid(unsafe_code)]
extern crate alloc;

pub mod provider;
pub mod request;
pub mod sync;

pub use provider::{
    AddrKind, Buffer, Completion, CompletionSink, Family, OpOutput, OpValue, Provider, SockOpt, SocketKind,
    SocketParams, TimerCallback,
};
pub use request::{CancelToken, DataSource, Request, RequestorMode};

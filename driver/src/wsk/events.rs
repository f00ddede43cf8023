//! The end of a connection as WSK's disconnect event tells it, and the waits for it
//! (`wait_peer_close`).
//!
//! Every connection socket (created or accepted) gets an [`Events`] before WSK sees the socket:
//! its address is the `SocketContext` of `WskSocket` / `WskAccept`, with [`CONNECTION_DISPATCH`]
//! as the callback table, and `WSK_EVENT_DISCONNECT` is enabled on it (`WskControlSocket`,
//! `SO_WSK_EVENT_CALLBACK`). WSK then calls [`disconnect_event`] when the peer sends FIN
//! (graceful) or RST (`WSK_FLAG_ABORTIVE`). The connection also ends, for the waits, when a send
//! or receive fails with a connection-ending status (a keepalive timeout, a reset), when the
//! connect fails, or when an abortive disconnect of ours succeeds.
//!
//! Where the event cannot be enabled — Wine, whose `WskControlSocket` is a stub — a wait
//! completes with STATUS_NOT_SUPPORTED at once.
//!
//! # Ownership of the context
//! `into_context` hands WSK one strong reference ([`ForeignOwnable::into_foreign`]); WSK may call
//! the event with it until `WskCloseSocket` completed (no event callback runs after that), and
//! the close's completion takes it back with `release_context` — exactly once. A socket WSK never
//! created (`WskSocket`/`WskAccept` failed) gives it back at once.
//!
//! # Invariants
//! - Each wait completes exactly once: by the end of the connection, its cancel, or the close.
//! - Completions run with the lock released (the engine may call back into the provider).

use super::provider::WskProvider;
use crate::irp::wsk::OpRef;
use crate::kernel::foreign::ForeignOwnable;
use crate::kernel::spin::RawSpinLock;
use crate::sys::{NTSTATUS, WSK_CLIENT_CONNECTION_DISPATCH, WSK_FLAG_ABORTIVE};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::ptr::NonNull;
use wsksock_abi::NtStatus;
use wsksock_core::{Completion, OpOutput, OpValue};

/// The callbacks of connection sockets: only the disconnect event.
pub static CONNECTION_DISPATCH: WSK_CLIENT_CONNECTION_DISPATCH = WSK_CLIENT_CONNECTION_DISPATCH {
    WskReceiveEvent: core::ptr::null(),
    WskDisconnectEvent: Some(disconnect_event),
    WskSendBacklogEvent: core::ptr::null(),
};

/// Where the connection is, as far as the waits are concerned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Conn {
    /// Not connected (a created socket before its connect).
    Idle,
    /// A connect is in flight, or the connection is up.
    Live,
    /// It ended this way: STATUS_SUCCESS (FIN), STATUS_CONNECTION_RESET (RST), or a failure.
    Ended(NtStatus),
}

struct State {
    conn: Conn,
    /// WSK_EVENT_DISCONNECT could be enabled.
    enabled: bool,
    /// The socket's close was issued: no wait may start.
    closed: bool,
    next_id: u64,
    waits: Vec<(u64, Completion<WskProvider>)>,
}

/// The peer-close state of one connection socket.
pub struct Events {
    state: lock_api::Mutex<RawSpinLock, State>,
}

impl Events {
    /// The state of a new connection socket (`accepted`: already connected); `None` for want of
    /// memory.
    pub fn new(accepted: bool) -> Option<Arc<Events>> {
        Arc::try_new(Events {
            state: lock_api::Mutex::new(State {
                conn: if accepted { Conn::Live } else { Conn::Idle },
                enabled: false,
                closed: false,
                next_id: 1,
                waits: Vec::new(),
            }),
        })
        .ok()
    }

    /// One strong reference as WSK's `SocketContext` (module docs: "Ownership").
    pub fn into_context(this: &Arc<Events>) -> *mut c_void {
        this.clone().into_foreign().as_ptr()
    }

    /// Takes WSK's reference back.
    ///
    /// # Safety
    /// `ctx` came from [`Events::into_context`] and WSK will not use it again (the socket's close
    /// completed, or it was never created); called once per `into_context`.
    pub unsafe fn release_context(ctx: *mut c_void) {
        // SAFETY: 1. null, or the reference `into_context` handed over, given back once (caller
        // contract).
        drop(unsafe { <Arc<Events> as ForeignOwnable>::try_from_foreign(ctx) });
    }

    /// Whether enabling the disconnect event worked.
    pub fn set_enabled(&self, enabled: bool) {
        self.state.lock().enabled = enabled;
    }

    /// A connect was issued.
    pub fn connecting(&self) {
        let mut st = self.state.lock();
        if st.conn == Conn::Idle {
            st.conn = Conn::Live;
        }
    }

    /// Starts a wait for the end of the connection; completes at once if it already ended, was
    /// never started, or cannot be told.
    pub fn wait(this: &Arc<Events>, done: Completion<WskProvider>) -> Option<OpRef> {
        let now = {
            let mut st = this.state.lock();
            match (st.closed, st.enabled, st.conn) {
                (true, _, _) => Some(OpOutput::status(NtStatus::STATUS_CANCELLED)),
                (false, false, _) => Some(OpOutput::status(NtStatus::STATUS_NOT_SUPPORTED)),
                (false, true, Conn::Idle) => Some(OpOutput::status(NtStatus::STATUS_INVALID_DEVICE_STATE)),
                (false, true, Conn::Ended(how)) => Some(OpOutput::value(OpValue::PeerClosed(how))),
                // The wait's room, fallibly: the request fails rather than the driver.
                (false, true, Conn::Live) if st.waits.try_reserve(1).is_err() => {
                    Some(OpOutput::status(NtStatus::STATUS_INSUFFICIENT_RESOURCES))
                }
                (false, true, Conn::Live) => {
                    let id = st.next_id;
                    st.next_id += 1;
                    // Room reserved just above: no allocation.
                    #[allow(clippy::disallowed_methods)]
                    st.waits.push((id, done));
                    return Some(OpRef::wait(this.clone(), id));
                }
            }
        };
        if let Some(out) = now {
            done.complete(out);
        }
        None
    }

    /// Cancels wait `id` (it completes STATUS_CANCELLED) if it is still waiting.
    pub fn cancel(&self, id: u64) {
        let done = {
            let mut st = self.state.lock();
            let i = st.waits.iter().position(|(w, _)| *w == id);
            i.map(|i| st.waits.swap_remove(i).1)
        };
        if let Some(d) = done {
            d.complete(OpOutput::status(NtStatus::STATUS_CANCELLED));
        }
    }

    /// The connection ended `how` (the first end counts): every wait completes with it.
    pub fn ended(&self, how: NtStatus) {
        let (waits, first) = {
            let mut st = self.state.lock();
            let first = match st.conn {
                Conn::Ended(first) => first,
                Conn::Idle | Conn::Live => {
                    st.conn = Conn::Ended(how);
                    how
                }
            };
            (core::mem::take(&mut st.waits), first)
        };
        for (_, d) in waits {
            d.complete(OpOutput::value(OpValue::PeerClosed(first)));
        }
    }

    /// A send, receive or connect completed with `st`: a status that ends the connection ends
    /// it for the waits too.
    pub fn observe(&self, st: NtStatus) {
        if ends_connection(st) {
            self.ended(st);
        }
    }

    /// The socket's close is being issued: the waits complete STATUS_CANCELLED.
    pub fn close(&self) {
        let waits = {
            let mut st = self.state.lock();
            st.closed = true;
            core::mem::take(&mut st.waits)
        };
        for (_, d) in waits {
            d.complete(OpOutput::status(NtStatus::STATUS_CANCELLED));
        }
    }
}

/// Statuses of a send, receive or connect that mean the connection is gone.
pub fn ends_connection(st: NtStatus) -> bool {
    [
        NtStatus::STATUS_CONNECTION_RESET,
        NtStatus::STATUS_CONNECTION_ABORTED,
        NtStatus::STATUS_CONNECTION_DISCONNECTED,
        NtStatus::STATUS_CONNECTION_REFUSED,
        NtStatus::STATUS_IO_TIMEOUT,
        NtStatus::STATUS_NETWORK_UNREACHABLE,
        NtStatus::STATUS_HOST_UNREACHABLE,
    ]
    .contains(&st)
}

/// `WskDisconnectEvent`: the peer sent FIN, or RST with `WSK_FLAG_ABORTIVE`. Runs at IRQL <=
/// DISPATCH_LEVEL on any thread; returns STATUS_SUCCESS, the only value allowed.
unsafe extern "system" fn disconnect_event(ctx: *mut c_void, flags: u32) -> NTSTATUS {
    let Some(ctx) = NonNull::new(ctx) else {
        return 0;
    };
    // SAFETY: 1. `ctx` is the context we gave WSK for this socket, whose strong reference WSK
    // holds until the close completed — and WSK calls no event after that (module docs).
    let events = unsafe { <Arc<Events> as ForeignOwnable>::borrow(ctx) };
    let how = if flags & WSK_FLAG_ABORTIVE != 0 {
        NtStatus::STATUS_CONNECTION_RESET
    } else {
        NtStatus::STATUS_SUCCESS
    };
    events.ended(how);
    0
}

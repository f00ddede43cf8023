//! What a socket's teardown calls need, allocated when the socket is made.
//!
//! The engine's teardown runs where nothing may fail for want of memory — a client's cleanup,
//! unload, the completion of a socket's last operation — and it must end in `WskCloseSocket`
//! (a socket never closed would keep `WskDeregister` waiting at unload). So every socket carries,
//! from the moment it is created or accepted, its [`Kits`]: for a connection socket the IRP and
//! context of a graceful and of an abortive `WskDisconnect` (the most one teardown issues), for
//! every socket the work item, IRP and context of its `WskCloseSocket`. The provider's
//! `teardown_disconnect` and `close` only fill in the engine's completion and start them.
//!
//! Cost (x64): an IRP with one stack location, 0x118 bytes, plus about 100 bytes of context per
//! call, and a work item: about 1.2 KB of non-paged pool per connection socket, 0.5 KB for the
//! others — what a WSK client that closes from its cleanup must hold (docs/DRIVER.md, "Memory").

use super::device::OurDevice;
use super::events::Events;
use super::provider::WskProvider;
use super::socket::ContextRef;
use crate::irp::wsk::{Finish, Reserved};
use crate::kernel::print::kprint;
use crate::kernel::workitem::{Job, WorkItem};
use crate::status::{abi, NtStatus};
use crate::sys::{NTSTATUS, PFN_WSK_CLOSE_SOCKET, WSK_SOCKET};
use alloc::sync::Arc;
use wsksock_core::{Completion, OpOutput};

/// What a teardown disconnect does when it completes.
pub struct DisconnectFinish {
    /// The engine's completion, filled in when the disconnect is issued.
    pub done: Option<Completion<WskProvider>>,
    /// The abortive one's: our reset ends the connection for the waits.
    events: Option<Arc<Events>>,
}

impl Finish<()> for DisconnectFinish {
    fn finish(self, (): (), st: NTSTATUS, _info: usize) {
        if let Some(e) = self.events.filter(|_| st >= 0) {
            e.ended(NtStatus::STATUS_CONNECTION_ABORTED);
        }
        if let Some(done) = self.done {
            done.complete(OpOutput::status(abi(st)));
        }
    }
}

/// What the close does when it completes.
pub struct CloseFinish {
    /// The engine's completion, filled in when the close is issued.
    pub done: Option<Completion<WskProvider>>,
    /// WSK's reference to the socket's events, given back once the close completed.
    pub context: Option<ContextRef>,
}

impl Finish<()> for CloseFinish {
    fn finish(self, (): (), st: NTSTATUS, _info: usize) {
        match self.context {
            // SAFETY: 1. the close completed: WSK calls no event with it any more.
            Some(c) if st >= 0 => unsafe { c.release() },
            // A failed close may leave the socket alive: keep the context (a leak, never a use
            // after free).
            Some(_) => kprint!("close failed ({:#x}); socket context kept", st),
            None => {}
        }
        if let Some(done) = self.done {
            done.complete(OpOutput::status(abi(st)));
        }
    }
}

/// A WSK socket pointer moved to a work item.
#[derive(Clone, Copy)]
pub struct SendPtr(pub *mut WSK_SOCKET);

// SAFETY: 1. a WSK socket may be used from any thread at IRQL <= DISPATCH_LEVEL.
unsafe impl Send for SendPtr {}

/// The close, run from a work item: the engine may close from the completion routine of the
/// socket's last operation, and Wine's `WskCloseSocket` waits for the socket's thread-pool
/// callbacks — the very one that routine runs in — so it would wait for itself. (Allowed inline on
/// Windows; a work item costs one thread hop there.)
pub struct CloseJob {
    device: OurDevice,
    /// Filled in when the close is issued.
    pub call: Option<(SendPtr, PFN_WSK_CLOSE_SOCKET)>,
    /// The close's IRP and context.
    reserved: Option<Reserved<(), CloseFinish>>,
}

impl CloseJob {
    /// The close's completion and context, to fill in when it is issued.
    pub fn finish_mut(&mut self) -> Option<&mut CloseFinish> {
        self.reserved.as_mut().map(Reserved::finish_mut)
    }
}

impl Job for CloseJob {
    fn run(self) {
        let (Some((sock, close)), Some(reserved)) = (self.call, self.reserved) else {
            return;
        };
        drop(self.device.start_reserved(reserved, |_, irp| {
            // SAFETY: 1. live socket: WSK frees it only in this call, and the engine calls
            // nothing on it after `close` (its contract); 2. `irp` is ours until it completes.
            unsafe { close(sock.0, irp) }
        }));
    }
}

/// A socket's teardown calls (module docs), each taken once.
pub struct Kits {
    graceful: Option<Reserved<(), DisconnectFinish>>,
    abortive: Option<Reserved<(), DisconnectFinish>>,
    close: Option<WorkItem<CloseJob>>,
}

impl Kits {
    /// Allocates the teardown calls of a socket: with `events`, a connection socket's
    /// disconnects too. `None` (nothing left allocated) for want of memory.
    pub fn allocate(device: OurDevice, events: Option<&Arc<Events>>) -> Option<Kits> {
        let disconnect = |events: Option<Arc<Events>>| {
            Reserved::allocate((), DisconnectFinish { done: None, events }).ok()
        };
        let (graceful, abortive) = match events {
            Some(e) => (Some(disconnect(None)?), Some(disconnect(Some(e.clone()))?)),
            None => (None, None),
        };
        let close = Reserved::allocate(
            (),
            CloseFinish {
                done: None,
                context: None,
            },
        )
        .ok()?;
        let job = CloseJob {
            device,
            call: None,
            reserved: Some(close),
        };
        let close = device.work_item(job).ok()?;
        Some(Kits {
            graceful,
            abortive,
            close: Some(close),
        })
    }

    /// The graceful or abortive disconnect's call, once.
    pub fn take_disconnect(&mut self, abortive: bool) -> Option<Reserved<(), DisconnectFinish>> {
        if abortive {
            self.abortive.take()
        } else {
            self.graceful.take()
        }
    }

    /// The close's work item and call, once.
    pub fn take_close(&mut self) -> Option<WorkItem<CloseJob>> {
        self.close.take()
    }
}

//! A WSK socket and the dispatch table of its kind.

use super::events::Events;
use super::teardown::Kits;
use crate::kernel::spin::RawSpinLock;
use crate::sys::{
    WSK_PROVIDER_BASIC_DISPATCH, WSK_PROVIDER_CONNECTION_DISPATCH, WSK_PROVIDER_DATAGRAM_DISPATCH,
    WSK_PROVIDER_LISTEN_DISPATCH, WSK_SOCKET,
};
use alloc::sync::Arc;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};

/// Which WSK socket category (and so which dispatch table) a socket has.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WskKind {
    /// `WSK_FLAG_LISTEN_SOCKET`.
    Listen,
    /// `WSK_FLAG_CONNECTION_SOCKET` (created, or accepted from a listen socket).
    Connection,
    /// `WSK_FLAG_DATAGRAM_SOCKET`.
    Datagram,
}

/// The dispatch table of one socket, typed by its kind.
#[derive(Clone, Copy)]
pub enum Dispatch {
    /// Listen socket.
    Listen(&'static WSK_PROVIDER_LISTEN_DISPATCH),
    /// Connection socket.
    Connection(&'static WSK_PROVIDER_CONNECTION_DISPATCH),
    /// Datagram socket.
    Datagram(&'static WSK_PROVIDER_DATAGRAM_DISPATCH),
}

impl Dispatch {
    /// The functions every kind has.
    pub fn basic(self) -> &'static WSK_PROVIDER_BASIC_DISPATCH {
        match self {
            Dispatch::Listen(d) => &d.Basic,
            Dispatch::Connection(d) => &d.Basic,
            Dispatch::Datagram(d) => &d.Basic,
        }
    }
}

/// A socket WSK created (`PWSK_SOCKET`).
///
/// # Invariants
/// `ptr` is a live WSK socket of category `kind` from its creation (or accept) until the engine's
/// close completes; the engine calls nothing on it after `close`.
pub struct WskSock {
    ptr: NonNull<WSK_SOCKET>,
    kind: WskKind,
    /// Connection sockets: the end of the connection and the waits for it.
    events: Option<Arc<Events>>,
    /// WSK's `SocketContext` reference to `events` (null: none, or given back).
    context: AtomicPtr<c_void>,
    /// What its teardown's calls need, allocated with it (`wsk::teardown`).
    kits: lock_api::Mutex<RawSpinLock, Kits>,
}

/// WSK's reference to a socket's [`Events`] (its `SocketContext`), given back when the close
/// completed ([`WskSock::take_context`]).
pub struct ContextRef(*mut c_void);

// SAFETY: 1. an `Arc<Events>` reference in raw form; `Events` is Send + Sync.
unsafe impl Send for ContextRef {}
// SAFETY: 1. see `Send`; only moved, never dereferenced here.
unsafe impl Sync for ContextRef {}

impl ContextRef {
    /// Wraps the context given to WSK.
    pub fn new(ctx: *mut c_void) -> ContextRef {
        ContextRef(ctx)
    }

    /// The context as given to WSK.
    pub fn as_ptr(&self) -> *mut c_void {
        self.0
    }

    /// Gives WSK's reference back.
    ///
    /// # Safety
    /// WSK will not call an event with it again (the close completed, or the socket was never
    /// created).
    pub unsafe fn release(self) {
        // SAFETY: 1. made by `Events::into_context`; consumed once (by value) (caller contract).
        unsafe { Events::release_context(self.0) };
    }
}

// SAFETY: 1. a WSK socket may be used from any thread; the engine serializes close against every
// other call (rundown), which is the only ordering WSK requires.
unsafe impl Send for WskSock {}
// SAFETY: 1. see `Send`.
unsafe impl Sync for WskSock {}

impl WskSock {
    /// Wraps a socket WSK returned in `Irp->IoStatus.Information`.
    ///
    /// # Safety
    /// `ptr` is a live WSK socket of category `kind`, owned by the engine from now on; `events`
    /// is the context it was created with (connection sockets), WSK's reference included; `kits`
    /// its teardown's calls.
    pub unsafe fn new(
        ptr: NonNull<WSK_SOCKET>,
        kind: WskKind,
        events: Option<(Arc<Events>, ContextRef)>,
        kits: Kits,
    ) -> WskSock {
        let (events, context) = match events {
            Some((e, c)) => (Some(e), c.0),
            None => (None, core::ptr::null_mut()),
        };
        WskSock {
            ptr,
            kind,
            events,
            context: AtomicPtr::new(context),
            kits: lock_api::Mutex::new(kits),
        }
    }

    /// Its teardown's calls (each taken once).
    pub fn kits(&self) -> lock_api::MutexGuard<'_, RawSpinLock, Kits> {
        self.kits.lock()
    }

    /// The end-of-connection state (connection sockets).
    pub fn events(&self) -> Option<&Arc<Events>> {
        self.events.as_ref()
    }

    /// WSK's context reference, once, for the close's completion to give back.
    pub fn take_context(&self) -> Option<ContextRef> {
        let ctx = self.context.swap(core::ptr::null_mut(), Ordering::AcqRel);
        (!ctx.is_null()).then_some(ContextRef(ctx))
    }

    /// The raw socket for a WSK call.
    pub fn as_ptr(&self) -> *mut WSK_SOCKET {
        self.ptr.as_ptr()
    }

    /// The socket's category.
    pub fn kind(&self) -> WskKind {
        self.kind
    }

    /// Its dispatch table.
    pub fn dispatch(&self) -> Dispatch {
        // SAFETY: 1. live socket (invariant); 2. WSK sets `Dispatch` to the provider's static
        // table of the socket's category, which lives as long as the provider NPI (until after
        // the engine is idle).
        let table = unsafe { (*self.ptr.as_ptr()).Dispatch };
        match self.kind {
            // SAFETY: 1. as above, a listen socket's table.
            WskKind::Listen => Dispatch::Listen(unsafe { &*table.cast::<WSK_PROVIDER_LISTEN_DISPATCH>() }),
            WskKind::Connection => {
                // SAFETY: 1. as above, a connection socket's table.
                Dispatch::Connection(unsafe { &*table.cast::<WSK_PROVIDER_CONNECTION_DISPATCH>() })
            }
            WskKind::Datagram => {
                // SAFETY: 1. as above, a datagram socket's table.
                Dispatch::Datagram(unsafe { &*table.cast::<WSK_PROVIDER_DATAGRAM_DISPATCH>() })
            }
        }
    }
}

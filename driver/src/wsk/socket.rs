//! A WSK socket and the dispatch table of its kind.

use crate::sys::{
    WSK_PROVIDER_BASIC_DISPATCH, WSK_PROVIDER_CONNECTION_DISPATCH, WSK_PROVIDER_DATAGRAM_DISPATCH,
    WSK_PROVIDER_LISTEN_DISPATCH, WSK_SOCKET,
};
use core::ptr::NonNull;

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
    /// `ptr` is a live WSK socket of category `kind`, owned by the engine from now on.
    pub unsafe fn new(ptr: NonNull<WSK_SOCKET>, kind: WskKind) -> WskSock {
        WskSock { ptr, kind }
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

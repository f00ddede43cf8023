//! Clients: one per open file object, each with its own handle table.
//!
//! A handle is a key into the client's table; the entry holds a reference on the socket object
//! and the socket-local id of that handle (so a close aborts exactly the operations issued through
//! it). Operations that have no socket yet — creating one, resolving a name — are "unbound"
//! (module `unbound`); their records live here so that cleanup can cancel them.
//!
//! # Invariants
//! - A client never reaches another client's entries: lookups only search its own table, and a
//!   stale `{index, generation}` finds nothing (the slab bumps generations on removal and
//!   retires a slot whose generation would wrap; invariant 2).
//! - After cleanup (`closed`), no handle is added: late sockets (a create or accept completing
//!   afterwards) are torn down at once.
//! - `pending` counts this client's operations in flight; it never exceeds the configured limit.
//! - `handles` and `parked` keep room for the inserts reserved by admitted requests (a SOCKET
//!   or ACCEPT filing its socket, a waiting CLOSE parking itself): those inserts allocate
//!   nothing, so they happen where failing is not possible (a completion, a teardown).
//! - Another client adds a handle to this table only by DUPLICATE, and only within an
//!   allowance this client gave it (ALLOW_DUPLICATE): each such handle uses up one, under the
//!   same lock as its insert, and a refused insert uses up nothing. So this table grows only by
//!   what this client asked for or allowed.
//!
//! # Lock order
//! `client.state` may be taken before a socket's lock, never after; in practice each is taken alone.

use crate::mem::AllocError;
use crate::provider::{PMutex, Provider};
use crate::request::Request;
use crate::shared::Shared;
use crate::slab::{Key, Reserving, Slab};
use crate::socket::teardown::CloseArgs;
use crate::socket::{Cancels, SockRef};
use crate::sync::{Arc, AtomicU32, Ordering};
use crate::unbound::UnboundRec;
use wsksock_abi::msg::MAX_DUPLICATE_ALLOWANCES;
use wsksock_abi::{Handle, NtStatus};

/// One consent to DUPLICATE into this client (ALLOW_DUPLICATE): `count` more handles from the
/// client `from` (0: a free slot; no client has id 0).
#[derive(Clone, Copy, Default)]
pub(crate) struct Allowance {
    from: u64,
    count: u32,
}

/// The allowances a client gives: a fixed array, so giving one allocates nothing.
type Allowances = [Allowance; MAX_DUPLICATE_ALLOWANCES as usize];

/// One handle-table entry.
pub(crate) struct HandleEntry<P: Provider, R: Request<P>> {
    pub sock: SockRef<P, R>,
    pub id: u32,
}

pub(crate) struct ClientState<P: Provider, R: Request<P>> {
    pub handles: Reserving<HandleEntry<P, R>>,
    /// Operations not bound to a socket (create, resolve).
    pub unbound: Slab<UnboundRec<P, R>>,
    /// CLOSE requests of this client waiting for a teardown: socket and waiter key.
    pub parked: Reserving<(SockRef<P, R>, Key)>,
    /// Who may DUPLICATE into this client, and how many handles.
    pub allowances: Allowances,
    pub closed: bool,
}

/// A client of the engine (a file object of the device).
pub struct Client<P: Provider, R: Request<P>> {
    id: u64,
    pub(crate) shared: Arc<Shared<P, R>>,
    pub(crate) state: PMutex<P, ClientState<P, R>>,
    pending: AtomicU32,
}

/// How front ends hold a client.
pub type ClientRef<P, R> = Arc<Client<P, R>>;

fn to_handle(k: Key) -> Handle {
    Handle {
        index: k.index,
        generation: k.generation,
    }
}

fn to_key(h: Handle) -> Key {
    Key {
        index: h.index,
        generation: h.generation,
    }
}

impl<P: Provider, R: Request<P>> Client<P, R> {
    pub(crate) fn new(shared: &Arc<Shared<P, R>>, id: u64) -> Self {
        let state = ClientState {
            handles: Reserving::new(),
            unbound: Slab::new(),
            parked: Reserving::new(),
            allowances: Allowances::default(),
            closed: false,
        };
        Client {
            id,
            shared: shared.clone(),
            state: crate::provider::new_mutex(&shared.provider, state),
            pending: AtomicU32::new(0),
        }
    }

    /// The id other clients name this one by (DUPLICATE's `target_client`).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Handles open in this client.
    pub fn handle_count(&self) -> usize {
        self.state.lock().handles.len()
    }

    /// Operations in flight for this client.
    pub fn pending(&self) -> u32 {
        self.pending.load(Ordering::Acquire)
    }

    /// Takes one slot of the per-client pending limit.
    pub(crate) fn reserve_pending(&self) -> bool {
        let limit = self.shared.config.max_pending_per_client;
        let prev = self.pending.fetch_add(1, Ordering::AcqRel);
        if prev >= limit {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    pub(crate) fn release_pending(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
    }

    /// The socket a handle names, with the handle's socket-local id.
    pub(crate) fn lookup(&self, h: Handle) -> Result<(SockRef<P, R>, u32), NtStatus> {
        let st = self.state.lock();
        st.handles
            .get(to_key(h))
            .map(|e| (e.sock.clone(), e.id))
            .ok_or(NtStatus::STATUS_INVALID_HANDLE)
    }

    /// ALLOW_DUPLICATE: client `from` may add `count` handles to this client's table from now on
    /// (0: none). A new allowance takes a free slot, else the slot of a client that is gone
    /// (`live` says which are not: called with `shared.clients` held, which the lock order puts
    /// before `client.state`); STATUS_INSUFFICIENT_RESOURCES if all [`MAX_DUPLICATE_ALLOWANCES`]
    /// name live clients.
    pub(crate) fn allow(&self, from: u64, count: u32, live: impl Fn(u64) -> bool) -> Result<(), NtStatus> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(NtStatus::STATUS_DELETE_PENDING);
        }
        let slots = &mut st.allowances;
        let slot = match slots.iter().position(|a| a.from == from) {
            Some(i) => i,
            None if count == 0 => return Ok(()),
            None => slots
                .iter()
                .position(|a| a.count == 0)
                .or_else(|| slots.iter().position(|a| !live(a.from)))
                .ok_or(NtStatus::STATUS_INSUFFICIENT_RESOURCES)?,
        };
        slots[slot] = if count == 0 {
            Allowance::default()
        } else {
            Allowance { from, count }
        };
        Ok(())
    }

    /// What client `from` may still add to this client's table.
    pub(crate) fn allowed(&self, from: u64) -> u32 {
        let st = self.state.lock();
        st.allowances
            .iter()
            .find(|a| a.from == from)
            .map_or(0, |a| a.count)
    }

    /// Inserts an entry for a handle already counted on the socket (DUPLICATE: the table may grow,
    /// fallibly). `from`: the other client duplicating into this one, whose allowance the insert
    /// uses up (none left: STATUS_ACCESS_DENIED). On failure the socket's handle is closed again
    /// (which tears the socket down if it was its only one).
    pub(crate) fn insert_handle(
        &self,
        sock: &SockRef<P, R>,
        id: u32,
        from: Option<u64>,
    ) -> Result<Handle, NtStatus> {
        self.insert_entry(sock, id, false, from)
    }

    /// Inserts the first handle of a new socket in the room its SOCKET or ACCEPT reserved (no
    /// allocation); on refusal — the client was cleaned up, or its handle limit reached — the
    /// socket is torn down at once.
    pub(crate) fn insert_reserved_handle(&self, sock: &SockRef<P, R>, id: u32) -> Result<Handle, NtStatus> {
        self.insert_entry(sock, id, true, None)
    }

    fn insert_entry(
        &self,
        sock: &SockRef<P, R>,
        id: u32,
        reserved: bool,
        from: Option<u64>,
    ) -> Result<Handle, NtStatus> {
        let refused = {
            let mut st = self.state.lock();
            // The allowance this insert uses up, if it comes from another client.
            let allowance = from.map(|f| st.allowances.iter().position(|a| a.from == f && a.count > 0));
            let refusal = if st.closed {
                Some(NtStatus::STATUS_DELETE_PENDING)
            } else if allowance == Some(None) {
                Some(NtStatus::STATUS_ACCESS_DENIED)
            } else if st.handles.len() >= self.shared.config.max_handles_per_client as usize {
                Some(NtStatus::STATUS_INSUFFICIENT_RESOURCES)
            } else {
                None
            };
            if let Some(e) = refusal {
                if reserved {
                    st.handles.unreserve();
                }
                Err(e)
            } else {
                let entry = HandleEntry {
                    sock: sock.clone(),
                    id,
                };
                let inserted = if reserved {
                    st.handles.insert_reserved(entry)
                } else {
                    st.handles.insert(entry, &self.shared.provider)
                };
                let inserted = inserted
                    .map(to_handle)
                    .map_err(|_| NtStatus::STATUS_INSUFFICIENT_RESOURCES);
                if let (Ok(_), Some(Some(i))) = (&inserted, allowance) {
                    if let Some(a) = st.allowances.get_mut(i) {
                        a.count = a.count.saturating_sub(1);
                        if a.count == 0 {
                            *a = Allowance::default();
                        }
                    }
                }
                inserted
            }
        };
        if refused.is_err() {
            sock.close_handle(id, &CloseArgs::plain(None), None, None);
        }
        refused
    }

    /// Removes a handle from the table (CLOSE): from now on it names nothing.
    pub(crate) fn remove_handle(&self, h: Handle) -> Result<(SockRef<P, R>, u32), NtStatus> {
        let mut st = self.state.lock();
        st.handles
            .remove(to_key(h))
            .map(|e| (e.sock, e.id))
            .ok_or(NtStatus::STATUS_INVALID_HANDLE)
    }

    /// Reserves room for a waiting CLOSE of this client (its admission).
    pub(crate) fn reserve_parked(&self) -> Result<(), AllocError> {
        self.state.lock().parked.reserve(&self.shared.provider)
    }

    /// Remembers a CLOSE waiting on `sock`'s teardown, in the room its admission reserved;
    /// `None` once the client is cleaned up.
    pub(crate) fn park_reserved(&self, sock: SockRef<P, R>, waiter: Key) -> Option<Key> {
        let mut st = self.state.lock();
        if st.closed {
            st.parked.unreserve();
            return None;
        }
        st.parked.insert_reserved((sock, waiter)).ok()
    }

    /// Forgets a parked CLOSE (it completed).
    pub(crate) fn unpark(&self, key: Key) {
        let removed = self.state.lock().parked.remove(key);
        drop(removed);
    }

    /// IRP_MJ_CLEANUP: closes every handle (each socket with its own linger setting) and cancels
    /// the unbound operations. Idempotent.
    ///
    /// A graceful teardown started here, or still holding one of this client's requests, turns
    /// abortive after `bound_ms` (invariant 8; `u64::MAX`: no bound): a peer that stopped reading
    /// cannot keep the client's requests, and so its file object, forever. Sends through a
    /// handle that was not its socket's last (another client keeps the socket open) are left
    /// alone: cancelling them would cut the stream that client goes on using.
    pub(crate) fn cleanup(&self, bound_ms: u64) {
        self.state.lock().closed = true;
        // The unbound operations' cancels, a batch at a time (nothing is allocated here).
        let mut cursor = 0;
        loop {
            let mut batch = Cancels::<P>::new();
            let more = {
                let mut st = self.state.lock();
                let mut more = false;
                for (key, rec) in st.unbound.iter_mut_from(cursor) {
                    batch.add(rec.cancel.request());
                    if batch.is_full() {
                        cursor = key.index + 1;
                        more = true;
                        break;
                    }
                }
                more
            };
            for op in batch.drain() {
                self.shared.provider.cancel(&op);
            }
            if !more {
                break;
            }
        }
        // CLOSEs waiting for a teardown complete (cancelled); the teardowns go on.
        let mut cursor = 0;
        loop {
            let next = self.state.lock().parked.take_next(&mut cursor);
            let Some((_, (sock, waiter))) = next else { break };
            sock.cancel_waiter(waiter);
        }
        let bound = (bound_ms != u64::MAX).then_some(bound_ms);
        let args = CloseArgs::plain(bound);
        // The handles, one at a time: each leaves the table under the lock, is closed without it.
        let mut cursor = 0;
        loop {
            let next = self.state.lock().handles.take_next(&mut cursor);
            let Some((_, e)) = next else { break };
            e.sock.close_handle(e.id, &args, None, None);
        }
        // Teardowns started earlier (an explicit graceful CLOSE) that still hold its requests.
        if let Some(ms) = bound {
            if self.pending() > 0 {
                self.shared.bound_teardowns(ms, Some(self));
            }
        }
    }
}

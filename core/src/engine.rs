//! The engine: the front ends' entry points — clients, dispatch, cleanup, unload, figures.
//!
//! A façade over `shared` (the state every part shares) and the modules doing the work:
//! [`crate::client`], `socket`, `unbound` and the request router.

use crate::client::{Client, ClientRef};
pub use crate::config::{Census, Config, Stats};
use crate::mem::{self, AllocError};
use crate::provider::Provider;
use crate::request::Request;
use crate::shared::Shared;
use crate::slab::Key;
use crate::sync::Arc;
use alloc::boxed::Box;
use wsksock_abi::msg::{Message, StatisticsReply};
use wsksock_abi::NtStatus;

/// The engine. Cheap to clone.
///
/// Call [`Engine::unload`] (and let it report idle) before the last clone goes: until then the
/// engine, its clients and its sockets reference each other, and dropping the engine without
/// unloading leaks them. The driver always unloads; host-mode users must too.
pub struct Engine<P: Provider, R: Request<P>> {
    pub(crate) shared: Arc<Shared<P, R>>,
}

impl<P: Provider, R: Request<P>> Clone for Engine<P, R> {
    fn clone(&self) -> Self {
        Engine {
            shared: self.shared.clone(),
        }
    }
}

impl<P: Provider, R: Request<P>> Engine<P, R> {
    /// An engine over `provider`; fails if there is no memory for it.
    pub fn new(provider: P, config: Config) -> Result<Self, AllocError> {
        // Not an allocation a test injects a failure into (the engine does not exist yet); in
        // the driver `DriverEntry` fails with it.
        Ok(Engine {
            shared: mem::arc(&mem::NoHook, Shared::new(provider, config))?,
        })
    }

    /// The provider.
    pub fn provider(&self) -> &P {
        &self.shared.provider
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// IRP_MJ_CREATE: a new client. STATUS_DEVICE_NOT_READY once unload began,
    /// STATUS_INSUFFICIENT_RESOURCES without memory for it.
    pub fn open_client(&self) -> Result<ClientRef<P, R>, NtStatus> {
        let p = &self.shared.provider;
        let mut clients = self.shared.clients.lock();
        // Checked under the table lock: unload sets the flag before it drains the table, so a
        // client is either refused here or drained there.
        if self.shared.is_unloading() {
            return Err(NtStatus::STATUS_DEVICE_NOT_READY);
        }
        clients.make_room(p)?;
        let key = clients
            .next_key()
            .ok_or(NtStatus::STATUS_INSUFFICIENT_RESOURCES)?;
        let id = key.packed();
        let c = mem::arc(p, Client::new(&self.shared, id))?;
        // Room made above: no allocation.
        clients
            .insert(c.clone(), &mem::NoHook)
            .map_err(|_| NtStatus::STATUS_INSUFFICIENT_RESOURCES)?;
        Ok(c)
    }

    /// IRP_MJ_(INTERNAL_)DEVICE_CONTROL: completes `req` exactly once, now or later.
    pub fn dispatch(&self, client: &ClientRef<P, R>, req: R) {
        crate::dispatch::dispatch(&self.shared, client, req);
    }

    /// IRP_MJ_CLEANUP: closes every handle of the client (each socket with its own linger
    /// setting, graceful teardowns bounded by [`Config::cleanup_linger_ms`]) and cancels its
    /// operations. Idempotent.
    pub fn cleanup_client(&self, client: &ClientRef<P, R>) {
        let removed = {
            let mut clients = self.shared.clients.lock();
            let key = client_key(client.id());
            let same = clients.get(key).is_some_and(|c| Arc::ptr_eq(c, client));
            if same {
                clients.remove(key)
            } else {
                None
            }
        };
        drop(removed);
        client.cleanup(self.shared.config.cleanup_linger_ms);
    }

    /// Unload: closes every socket (graceful ones get `unload_linger_ms` before turning
    /// abortive), refuses new work, and calls `on_idle` exactly once when no socket and no
    /// operation is left — maybe before returning. Allocates nothing: `on_idle` comes boxed
    /// (the driver boxes it at load).
    pub fn unload(&self, on_idle: Box<dyn FnOnce() + Send>) {
        let shared = &self.shared;
        shared.begin_unload(on_idle);
        let bound = shared.config.unload_linger_ms;
        let mut cursor = 0;
        loop {
            let next = shared.clients.lock().take_next(&mut cursor);
            let Some((_, c)) = next else { break };
            c.cleanup(bound);
        }
        shared.bound_teardowns(bound, None);
        shared.revoke_live();
    }

    /// Global figures.
    pub fn stats(&self) -> Stats {
        self.shared.snapshot()
    }

    /// Global figures as the STATISTICS reply carries them.
    pub(crate) fn statistics_reply(shared: &Shared<P, R>) -> StatisticsReply {
        let e = shared.snapshot();
        let mut r = StatisticsReply::new_zeroed_with_header();
        r.scope = 0;
        r.sockets_alive = e.sockets_alive;
        r.sockets_created = e.sockets_created;
        r.bytes_sent = e.bytes_sent;
        r.bytes_received = e.bytes_received;
        r.ops_started = e.ops_started;
        r.ops_completed = e.ops_completed;
        r.ops_cancelled = e.ops_cancelled;
        r.ops_pending = e.ops_started.saturating_sub(e.ops_completed);
        r.requests = e.requests;
        r.requests_failed = e.requests_failed;
        e.census.fill(&mut r);
        let handles: usize = shared.clients.lock().iter().map(|(_, c)| c.handle_count()).sum();
        r.handles = u32::try_from(handles).unwrap_or(u32::MAX);
        r
    }
}

/// The client-table key encoded in a client id.
pub(crate) fn client_key(id: u64) -> Key {
    Key::unpacked(id)
}

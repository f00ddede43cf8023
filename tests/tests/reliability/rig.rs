//! [`CheckedRig`]: the engine over the whole checked provider stack, and the end-of-test audit.
//!
//! ```text
//! engine ──▶ Probe (timers, tags) ──▶ Verifier (WSK contract) ──▶ FaultInjector (seeded faults) ──▶ HostProvider (real sockets, its own checker)
//! ```
//! Every channel the rig opens is wrapped in a [`Tracked`] channel that counts the requests it
//! submits and keeps the ones not yet completed, so the audit can prove "every request completed
//! exactly once": each pending completed, and the engine counted exactly as many completions as
//! were submitted (a request completes by value, so twice is impossible; zero times is what the
//! audit catches).
//!
//! [`CheckedRig::unload_and_audit`] is the end of every test: unload, and at the moment the engine
//! reports idle (when the driver would call `WskDeregister`) nothing may be open or pending in the
//! provider; then every request completed, no socket object alive, no timer outstanding, no
//! contract violation in either checker, and the host provider's deregistration finds nothing.

use super::probe::{Probe, ProbeStats};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wsksock_abi::NtStatus;
use wsksock_core::{Config, Stats};
use wsksock_emu::{
    Checker, CompletionMode, FaultAction, FaultEvent, FaultInjector, FaultPlan, HostProvider, Verifier,
};
use wsksock_tools::channel::{Channel, Output, Pending};
use wsksock_tools::host::HostChannel;
use wsksock_tools::{Client, HostDevice};

/// The provider stack under the engine.
pub type Stack = Probe<Verifier<FaultInjector<HostProvider>>>;

/// Requests submitted through the rig's channels and those not yet seen completed.
#[derive(Default)]
pub struct Ledger {
    /// Requests submitted.
    pub submitted: AtomicU64,
    outstanding: Mutex<Vec<Pending>>,
    /// The first [`HISTORY`] requests (small scenarios look at every status).
    history: Mutex<Vec<Pending>>,
}

/// Requests a ledger remembers for [`Ledger::statuses`].
pub const HISTORY: usize = 10_000;

impl Ledger {
    fn record(&self, p: &Pending) {
        self.submitted.fetch_add(1, Ordering::Relaxed);
        {
            let mut h = self.history.lock();
            if h.len() < HISTORY {
                h.push(p.clone());
            }
        }
        let mut out = self.outstanding.lock();
        if out.len() >= 4096 {
            out.retain(|p| !p.is_done());
        }
        out.push(p.clone());
    }

    /// Statuses of the remembered requests that completed, in submission order.
    pub fn statuses(&self) -> Vec<NtStatus> {
        self.history
            .lock()
            .iter()
            .filter_map(|p| p.poll().map(|c| c.status))
            .collect()
    }

    /// Waits until every request submitted so far completed; the number still pending after
    /// `timeout`.
    pub fn wait_all(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let list: Vec<Pending> = std::mem::take(&mut *self.outstanding.lock());
        list.iter()
            .filter(|p| {
                let left = deadline.saturating_duration_since(Instant::now());
                p.wait_timeout(left).is_none()
            })
            .count()
    }
}

/// A channel that reports its requests to a [`Ledger`].
pub struct Tracked<C: Channel> {
    inner: C,
    ledger: Arc<Ledger>,
}

impl<C: Channel> Channel for Tracked<C> {
    fn submit(&self, code: u32, input: Vec<u8>, output: Output) -> Pending {
        let p = self.inner.submit(code, input, output);
        self.ledger.record(&p);
        p
    }

    fn is_kernel(&self) -> bool {
        self.inner.is_kernel()
    }
}

/// What the audit found (all of it already checked).
#[derive(Clone, Debug)]
pub struct Audit {
    /// The engine's figures after unload.
    pub stats: Stats,
    /// Requests submitted through the rig.
    pub requests: u64,
    /// Faults injected (failed calls and resets).
    pub failures_injected: usize,
    /// Completions delayed by the injector.
    pub delays_injected: usize,
    /// Provider calls the engine made.
    pub provider_calls: u64,
    /// Timers the engine started.
    pub timers: u64,
    /// From `unload` to idle.
    pub unload_time: Duration,
    /// Every fault the injector logged.
    pub faults: Vec<FaultEvent>,
}

/// The engine over the checked stack.
pub struct CheckedRig {
    /// The device (engine in-process).
    pub device: HostDevice<Stack>,
    /// The host provider (a clone: shares the provider).
    pub host: HostProvider,
    /// The host provider's built-in checker.
    pub host_checker: Arc<Checker>,
    /// The verifier's checker (the engine's calls, failed ones included).
    pub checker: Arc<Checker>,
    /// The probe's figures.
    pub probe: Arc<ProbeStats>,
    /// The requests of every channel opened through the rig.
    pub ledger: Arc<Ledger>,
    /// Opens refused for want of memory (an injected allocation failure), then retried.
    pub opens_refused: AtomicU64,
}

/// An engine configuration for tests: small limits, short unload linger.
pub fn test_config() -> Config {
    Config {
        max_pending_per_socket: 32,
        max_pending_per_client: 256,
        max_handles_per_client: 1024,
        unload_linger_ms: 300,
        cleanup_linger_ms: 300,
    }
}

impl CheckedRig {
    /// A rig with `plan`'s faults, `mode` completions and `config`.
    pub fn new(plan: FaultPlan, mode: CompletionMode, config: Config) -> CheckedRig {
        let cfg = wsksock_emu::Config::default().completions(mode);
        let host = HostProvider::with_config(cfg).expect("emulator starts");
        let host_checker = host.checker();
        let verifier = Verifier::new(FaultInjector::new(host.clone(), plan));
        let checker = verifier.checker();
        let probe = Probe::new(verifier);
        let probe_stats = probe.stats();
        CheckedRig {
            device: HostDevice::with_provider(probe, config).expect("an engine on the host"),
            host,
            host_checker,
            checker,
            probe: probe_stats,
            ledger: Arc::new(Ledger::default()),
            opens_refused: AtomicU64::new(0),
        }
    }

    /// A rig without faults, inline completions, [`test_config`].
    pub fn plain() -> CheckedRig {
        CheckedRig::new(FaultPlan::new(0), CompletionMode::Inline, test_config())
    }

    /// A tracked user-mode channel. An open refused for want of memory (an injected allocation
    /// failure) is counted and tried again, as a client would.
    pub fn channel(&self) -> Tracked<HostChannel<Stack>> {
        let mut inner = self.device.open();
        for _ in 0..8 {
            if inner.as_ref().err() != Some(&NtStatus::STATUS_INSUFFICIENT_RESOURCES) {
                break;
            }
            self.opens_refused.fetch_add(1, Ordering::SeqCst);
            inner = self.device.open();
        }
        Tracked {
            inner: inner.expect("open a channel"),
            ledger: Arc::clone(&self.ledger),
        }
    }

    /// The engine's allocations so far, and how many failed (the fault injector's count).
    pub fn allocations(&self) -> (u64, u64) {
        let fi = self.device.engine().provider().inner().inner();
        (fi.allocations(), fi.allocations_failed())
    }

    /// A tracked kernel-mode channel.
    pub fn kernel_channel(&self) -> Tracked<HostChannel<Stack>> {
        Tracked {
            inner: self.device.open_kernel().expect("open a channel"),
            ledger: Arc::clone(&self.ledger),
        }
    }

    /// A typed client over a new user-mode channel (dropping it is IRP_MJ_CLEANUP).
    pub fn client(&self) -> Client {
        Client::new(self.channel())
    }

    /// The faults injected so far.
    pub fn faults(&self) -> Vec<FaultEvent> {
        self.device.engine().provider().inner().inner().events()
    }

    /// The engine's figures now.
    pub fn stats(&self) -> Stats {
        self.device.engine().stats()
    }

    /// Unloads and checks that nothing is left (see the module docs); panics on any finding.
    #[track_caller]
    pub fn unload_and_audit(self, timeout: Duration) -> Audit {
        let unload_time = self.unload(timeout);
        self.audit(unload_time)
    }

    /// Unloads: waits for idle (panics after `timeout`) and checks that at that moment — where
    /// the driver calls `WskDeregister` — nothing is open or pending in the provider and no timer
    /// is outstanding. Returns the time from `unload` to idle.
    #[track_caller]
    pub fn unload(&self, timeout: Duration) -> Duration {
        let (tx, rx) = std::sync::mpsc::channel();
        let checker = Arc::clone(&self.checker);
        let host_checker = Arc::clone(&self.host_checker);
        let probe = Arc::clone(&self.probe);
        let started = Instant::now();
        self.device.engine().unload(Box::new(move || {
            let left = (
                checker.open_sockets(),
                checker.pending_ops(),
                host_checker.open_sockets(),
                host_checker.pending_ops(),
                probe.timers_outstanding(),
            );
            checker.deregister();
            let _ = tx.send(left);
        }));
        let Ok(left) = rx.recv_timeout(timeout) else {
            panic!(
                "unload did not report idle within {timeout:?}: {:?}, verifier open sockets {}, pending ops {}",
                self.stats(),
                self.checker.open_sockets(),
                self.checker.pending_ops()
            );
        };
        let unload_time = started.elapsed();
        assert_eq!(
            left,
            (0, 0, 0, 0, 0),
            "at idle (deregistration): open sockets, pending ops (verifier), open sockets, pending ops (host), timers"
        );
        unload_time
    }

    /// After [`CheckedRig::unload`]: every request completed exactly once, no socket object, no
    /// operation, no timer, no contract violation; the host provider deregisters clean.
    #[track_caller]
    pub fn audit(self, unload_time: Duration) -> Audit {
        let stuck = self.ledger.wait_all(Duration::from_secs(10));
        assert_eq!(stuck, 0, "requests never completed");
        let stats = self.stats();
        assert_eq!(
            stats.sockets_alive, 0,
            "socket objects alive after unload: {stats:?}"
        );
        assert_eq!(
            stats.contract_violations, 0,
            "engine saw contract violations: {stats:?}"
        );
        let requests = self.ledger.submitted.load(Ordering::SeqCst);
        assert_eq!(
            stats.requests, requests,
            "requests completed by the engine vs submitted: {stats:?}"
        );
        assert_eq!(
            stats.ops_started, stats.ops_completed,
            "provider operations started vs completed"
        );
        assert_eq!(self.probe.timers_outstanding(), 0, "timers outstanding");
        let faults = self.faults();
        self.host.deregister();
        self.checker.assert_clean();
        self.host_checker.assert_clean();
        let failures_injected = faults
            .iter()
            .filter(|e| matches!(e.action, FaultAction::Fail(_) | FaultAction::Reset))
            .count();
        Audit {
            stats,
            requests,
            failures_injected,
            delays_injected: faults.len() - failures_injected,
            provider_calls: self.probe.calls.load(Ordering::SeqCst),
            timers: self.probe.timers_started.load(Ordering::SeqCst),
            unload_time,
            faults,
        }
    }
}

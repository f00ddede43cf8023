//! Systematic fault injection: for each scenario, fail the k-th provider call for k = 1, 2, ...
//! until the scenario runs clean (it makes fewer than k calls). Each run must end with:
//! - the injected failure reported to the caller whose request made the call, with the injected
//!   status (calls the teardown makes on its own — disconnect, close — have no caller: the
//!   teardown goes on and, with the wait flag, CLOSE reports the close's status);
//! - nothing left behind: the full audit of `reliability/rig.rs` (unload reaches idle, nothing
//!   open or pending at deregistration, every request completed once, no socket object, no
//!   timer, no contract violation);
//! - every connection a peer saw ended (FIN or RST), and the clean run's wire exactly as the
//!   close mode says.
//!
//! Both completion modes (inline and deferred) run every scenario. The figures (injection points
//! per scenario, calls failed by kind) are printed with `--nocapture` and recorded in
//! `docs/RELIABILITY.md`.
//!
//! The same scenarios again with the engine's n-th *allocation* failing instead (n = 1, 2, ...,
//! until a run makes fewer than n; the injector answers the engine's allocation hook, as the
//! driver's pool fails a `try_new`): the failure must reach the request that needed the memory
//! (STATUS_INSUFFICIENT_RESOURCES, or an open refused), the audit must pass, and — since a
//! request refused for want of memory did nothing — the wire must be exactly what the requests
//! that succeeded did: the bytes of the sends that succeeded, then FIN for a graceful close.

mod reliability;

use reliability::peers::{End, PeerReport, Refusing, Sink};
use reliability::rig::{test_config, CheckedRig};
use reliability::PATIENCE;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use wsksock_abi::addr::AF_INET;
use wsksock_abi::msg::{AddressWhich, SocketKind, SocketOption};
use wsksock_abi::{Handle, NtStatus};
use wsksock_emu::{Call, CompletionMode, FaultAction, FaultPlan};
use wsksock_tools::{pattern, Client, CloseMode};

/// The injected status: one the scenarios never meet otherwise (their limits are far away).
const INJECTED: NtStatus = NtStatus::STATUS_INSUFFICIENT_RESOURCES;

/// How the clean run's connection must end at the peer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Wire {
    /// Exactly `bytes` of the pattern, then FIN.
    Graceful(u64),
    /// RST (what arrived before it is an intact prefix).
    Abortive,
    /// Nothing to check on the wire.
    Any,
}

/// What a scenario reports.
struct Outcome {
    wire: Wire,
    /// The teardown status a waiting CLOSE reported, in scenarios with one socket (a failed
    /// provider close must show there).
    teardown: Option<NtStatus>,
}

type Scenario = fn(&CheckedRig, &Sink) -> Outcome;

/// Sends `n` chunks of the pattern, waiting for each; the bytes sent.
fn send_chunks(c: &Client, h: Handle, n: u64, len: usize) -> u64 {
    let mut off = 0;
    for _ in 0..n {
        let done = c.send(h, pattern::bytes(off, len)).wait_timeout(PATIENCE);
        match done {
            Some(d) if d.status.is_success() => off += d.info as u64,
            _ => break,
        }
    }
    off
}

fn wait_status(p: &wsksock_tools::Pending) -> NtStatus {
    p.wait_timeout(PATIENCE)
        .map_or(NtStatus::STATUS_TIMEOUT, |c| c.status)
}

fn any_v4() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// SOCKET, BIND, CONNECT, GET_ADDRESS, three SENDs, CLOSE in `mode` (wait flag as given).
fn connect_send_close(rig: &CheckedRig, sink: &Sink, mode: CloseMode, wait: bool) -> Outcome {
    let c = rig.client();
    let any = Outcome {
        wire: Wire::Any,
        teardown: None,
    };
    let Ok(h) = c.socket(AF_INET, SocketKind::Stream) else {
        return any;
    };
    let connected = c.bind(h, any_v4()).is_ok() && wait_status(&c.connect(h, sink.addr())).is_success();
    let mut sent = 0;
    if connected {
        let _ = c.address(h, AddressWhich::Local);
        sent = send_chunks(&c, h, 3, 10_000);
    }
    let secs = if mode == CloseMode::Linger { 2 } else { 0 };
    let closed = close_retrying(&c, h, mode, secs, wait);
    if wait {
        assert!(closed.last_reference);
        assert_ne!(closed.teardown_status, NtStatus::STATUS_PENDING, "waited close");
    }
    let wire = match mode {
        CloseMode::Abortive => Wire::Abortive,
        _ => Wire::Graceful(sent),
    };
    Outcome {
        wire,
        teardown: wait.then_some(closed.teardown_status),
    }
}

/// CLOSE, once more if it was refused for want of memory (a waiting CLOSE reserves room first;
/// a refused CLOSE changed nothing, so the client closes again).
fn close_retrying(
    c: &Client,
    h: Handle,
    mode: CloseMode,
    secs: u32,
    wait: bool,
) -> wsksock_tools::api::Closed {
    match c.close_linger(h, mode, secs, wait) {
        Err(e) if e.status == INJECTED => c
            .close_linger(h, mode, secs, wait)
            .expect("close of a live handle, again"),
        other => other.expect("close of a live handle"),
    }
}

fn close_default(rig: &CheckedRig, sink: &Sink) -> Outcome {
    connect_send_close(rig, sink, CloseMode::Default, false)
}
fn close_graceful(rig: &CheckedRig, sink: &Sink) -> Outcome {
    connect_send_close(rig, sink, CloseMode::Graceful, false)
}
fn close_abortive(rig: &CheckedRig, sink: &Sink) -> Outcome {
    connect_send_close(rig, sink, CloseMode::Abortive, false)
}
fn close_linger(rig: &CheckedRig, sink: &Sink) -> Outcome {
    connect_send_close(rig, sink, CloseMode::Linger, false)
}
fn close_graceful_wait(rig: &CheckedRig, sink: &Sink) -> Outcome {
    connect_send_close(rig, sink, CloseMode::Graceful, true)
}
fn close_abortive_wait(rig: &CheckedRig, sink: &Sink) -> Outcome {
    connect_send_close(rig, sink, CloseMode::Abortive, true)
}

/// SO_LINGER {1,0} then a default close: abortive.
fn close_linger_zero(rig: &CheckedRig, sink: &Sink) -> Outcome {
    let c = rig.client();
    let mut out = Outcome {
        wire: Wire::Any,
        teardown: None,
    };
    let Ok(h) = c.connect_to(sink.addr()) else {
        return out;
    };
    c.set_linger(h, Some(0)).expect("SO_LINGER is kept by the engine");
    send_chunks(&c, h, 2, 5000);
    let closed = close_retrying(&c, h, CloseMode::Default, 0, true);
    out.wire = Wire::Abortive;
    out.teardown = Some(closed.teardown_status);
    out
}

/// A receive pending when the handle is closed gracefully, options set and read on the way.
fn receive_and_options(rig: &CheckedRig, sink: &Sink) -> Outcome {
    let c = rig.client();
    let any = Outcome {
        wire: Wire::Any,
        teardown: None,
    };
    let Ok(h) = c.connect_to(sink.addr()) else {
        return any;
    };
    let _ = c.set_option(h, SocketOption::NoDelay, 1, 0);
    let _ = c.set_option(h, SocketOption::KeepAlive, 1, 0);
    let _ = c.get_option(h, SocketOption::ReceiveBuffer);
    let r = c.receive(h, 100);
    let sent = send_chunks(&c, h, 2, 3000);
    c.close(h, CloseMode::Graceful, false).expect("close");
    let st = wait_status(&r);
    assert!(
        st == NtStatus::STATUS_CANCELLED || st == INJECTED,
        "receive pending at close: {st}"
    );
    Outcome {
        wire: Wire::Graceful(sent),
        teardown: None,
    }
}

/// LISTEN socket, ACCEPT, a real peer connects, the accepted socket sends and closes.
fn accept(rig: &CheckedRig, sink: &Sink) -> Outcome {
    let c = rig.client();
    let any = Outcome {
        wire: Wire::Any,
        teardown: None,
    };
    let Ok(l) = c.socket(AF_INET, SocketKind::Listen) else {
        return any;
    };
    let addr = if c.bind(l, any_v4()).is_ok() {
        c.address(l, AddressWhich::Local).ok()
    } else {
        None
    };
    let Some(addr) = addr else {
        c.close(l, CloseMode::Default, false).expect("close");
        return any;
    };
    let _ = c.listen(l, 4);
    let p = c.accept(l);
    sink.connect_to(addr);
    let done = p.wait_timeout(PATIENCE).expect("accept completes");
    let mut out = any;
    if let Ok(r) = Client::accepted(&done) {
        let sent = send_chunks(&c, r.handle, 2, 4000);
        c.close(r.handle, CloseMode::Graceful, false)
            .expect("close accepted");
        out.wire = Wire::Graceful(sent);
    }
    c.close(l, CloseMode::Default, false).expect("close listener");
    out
}

/// DUPLICATE into another client; the original closes, the duplicate sends and closes.
fn duplicate(rig: &CheckedRig, sink: &Sink) -> Outcome {
    let a = rig.client();
    let b = rig.client();
    let any = Outcome {
        wire: Wire::Any,
        teardown: None,
    };
    let Ok(h) = a.connect_to(sink.addr()) else {
        return any;
    };
    let Ok(h2) = a.duplicate_to(h, &b) else {
        // Refused for want of memory: the original closes alone.
        a.close(h, CloseMode::Graceful, false).expect("close original");
        return Outcome {
            wire: Wire::Graceful(0),
            teardown: None,
        };
    };
    let first = send_chunks(&a, h, 1, 2000);
    let closed = a.close(h, CloseMode::Abortive, false).expect("close original");
    assert!(!closed.last_reference, "the duplicate still holds the socket");
    let sent = first + send_chunks_at(&b, h2, first, 2, 2000);
    let closed = close_retrying(&b, h2, CloseMode::Graceful, 0, true);
    Outcome {
        wire: Wire::Graceful(sent),
        teardown: Some(closed.teardown_status),
    }
}

fn send_chunks_at(c: &Client, h: Handle, start: u64, n: u64, len: usize) -> u64 {
    let mut off = start;
    for _ in 0..n {
        match c.send(h, pattern::bytes(off, len)).wait_timeout(PATIENCE) {
            Some(d) if d.status.is_success() => off += d.info as u64,
            _ => break,
        }
    }
    off - start
}

/// The client goes away (IRP_MJ_CLEANUP) with a receive and a connect pending.
fn cleanup(rig: &CheckedRig, sink: &Sink) -> Outcome {
    let c = rig.client();
    let any = Outcome {
        wire: Wire::Any,
        teardown: None,
    };
    let Ok(h) = c.connect_to(sink.addr()) else {
        return any;
    };
    let r = c.receive(h, 64);
    let sent = send_chunks(&c, h, 2, 3000);
    // A second socket whose connect to a closed port may still pend.
    let refusing = Refusing::new();
    let refused = refusing.addr();
    let pending_connect = c.socket(AF_INET, SocketKind::Stream).ok().and_then(|h2| {
        c.bind(h2, any_v4()).ok()?;
        Some(c.connect(h2, refused))
    });
    drop(c);
    let st = wait_status(&r);
    assert!(
        st == NtStatus::STATUS_CANCELLED || st == INJECTED,
        "receive at cleanup: {st}"
    );
    if let Some(p) = pending_connect {
        assert_ne!(
            wait_status(&p),
            NtStatus::STATUS_TIMEOUT,
            "connect completes at cleanup"
        );
    }
    Outcome {
        wire: Wire::Graceful(sent),
        teardown: None,
    }
}

/// Unload with a connection open, a receive pending and a peer that reads.
fn unload(rig: &CheckedRig, sink: &Sink) -> Outcome {
    let c = rig.client();
    let mut out = Outcome {
        wire: Wire::Any,
        teardown: None,
    };
    let Ok(h) = c.connect_to(sink.addr()) else {
        return out;
    };
    let _r = c.receive(h, 64);
    let sent = send_chunks(&c, h, 2, 3000);
    // The rig unloads after this returns; the client stays open through the unload.
    std::mem::forget(c);
    out.wire = Wire::Graceful(sent);
    out
}

/// Name resolution and a datagram round trip.
fn resolve_and_datagram(rig: &CheckedRig, _sink: &Sink) -> Outcome {
    let c = rig.client();
    let _ = c.resolve("localhost", AF_INET, 80);
    if let Ok(u) = c.socket(AF_INET, SocketKind::Datagram) {
        if c.bind(u, any_v4()).is_ok() {
            if let Ok(me) = c.address(u, AddressWhich::Local) {
                let r = c.receive_from(u, 64);
                let _ = wait_status(&c.send_to(u, b"ping".to_vec(), me));
                let _ = r.wait_timeout(Duration::from_millis(500));
            }
        }
        c.close(u, CloseMode::Default, false).expect("close");
    }
    Outcome {
        wire: Wire::Any,
        teardown: None,
    }
}

const SCENARIOS: &[(&str, Scenario)] = &[
    ("connect+send, close default", close_default),
    ("connect+send, close graceful", close_graceful),
    ("connect+send, close abortive", close_abortive),
    ("connect+send, close linger 2 s", close_linger),
    ("connect+send, close graceful + wait", close_graceful_wait),
    ("connect+send, close abortive + wait", close_abortive_wait),
    ("SO_LINGER {1,0}, close default + wait", close_linger_zero),
    ("options, receive pending at close", receive_and_options),
    ("listen, accept, send, close", accept),
    ("duplicate to another client", duplicate),
    ("client cleanup with operations pending", cleanup),
    ("unload with a connection open", unload),
    ("resolve, datagram send_to/receive_from", resolve_and_datagram),
];

/// One run of `scenario` with the k-th call failed (k = 0: no fault), and with `burst` > 1 the
/// `burst - 1` calls after it too (a provider gone bad: every later call fails, the teardown's
/// disconnects and closes included). Returns the k-th call, if the scenario made it.
fn run_once(name: &str, scenario: Scenario, k: u64, mode: CompletionMode, burst: u64) -> Option<Call> {
    let plan = if k == 0 {
        FaultPlan::new(0)
    } else {
        (k..k + burst).fold(FaultPlan::new(k), |p, n| p.fail_nth(n, INJECTED))
    };
    let rig = CheckedRig::new(plan, mode, test_config());
    let sink = Sink::raw();
    let out = scenario(&rig, &sink);
    let failed = rig
        .faults()
        .iter()
        .find(|e| e.index == k && e.action == FaultAction::Fail(INJECTED))
        .map(|e| e.call);
    let statuses = rig.ledger.statuses();
    let ctx = format!("{name}, k = {k}, burst {burst}, {mode:?}, failed call {failed:?}");
    if let Some(call) = failed {
        // A call a request made reports the failure to that request's caller.
        let has_caller = !matches!(call, Call::Disconnect | Call::Close);
        if has_caller {
            assert!(
                statuses.contains(&INJECTED),
                "{ctx}: no request reported {INJECTED}; statuses {statuses:?}"
            );
        }
    }
    for s in &statuses {
        assert!(
            s.name().is_some(),
            "{ctx}: a request completed with an unnamed status {s:?}"
        );
    }
    // The provider close failed: a CLOSE waiting for the teardown reports that status.
    if let (Some(Call::Close), Some(st)) = (failed, out.teardown) {
        assert_eq!(st, INJECTED, "{ctx}: teardown status of the waiting CLOSE");
    }
    if let (None, Some(st)) = (failed, out.teardown) {
        assert_eq!(
            st,
            NtStatus::STATUS_SUCCESS,
            "{ctx}: teardown status of the waiting CLOSE"
        );
    }
    rig.unload_and_audit(PATIENCE);
    let reports = sink.finish(Duration::from_secs(10));
    check_wire(&ctx, k, out.wire, &reports);
    failed
}

fn check_wire(ctx: &str, k: u64, wire: Wire, reports: &[PeerReport]) {
    for r in reports {
        assert!(
            matches!(r.end, End::Fin | End::Reset | End::NoConnection),
            "{ctx}: a connection was not ended: {r:?}"
        );
        assert!(r.first_mismatch.is_none(), "{ctx}: corrupt data: {r:?}");
    }
    if k != 0 {
        return;
    }
    // The clean run: exactly what the close mode says.
    match wire {
        Wire::Graceful(bytes) => {
            let r = reports.first().expect("the peer saw the connection");
            assert_eq!(r.end, End::Fin, "{ctx}: graceful close: {r:?}");
            assert_eq!(r.bytes, bytes, "{ctx}: bytes at the peer");
        }
        Wire::Abortive => {
            let r = reports.first().expect("the peer saw the connection");
            assert_eq!(r.end, End::Reset, "{ctx}: abortive close: {r:?}");
        }
        Wire::Any => {}
    }
}

fn sweep(mode: CompletionMode, burst: u64) -> (u64, BTreeMap<String, u64>) {
    let mut points = 0;
    let mut by_call: BTreeMap<String, u64> = BTreeMap::new();
    for (name, scenario) in SCENARIOS {
        run_once(name, *scenario, 0, mode, 1);
        let mut k = 1;
        let mut here = 0;
        while let Some(call) = run_once(name, *scenario, k, mode, burst) {
            *by_call.entry(call.name().to_string()).or_default() += 1;
            here += 1;
            k += 1;
            assert!(k < 200, "{name}: the scenario never runs clean");
        }
        assert!(here > 0, "{name}: no call was failed");
        eprintln!("  {mode:?} burst {burst} | {name}: {here} injection points");
        points += here;
    }
    (points, by_call)
}

#[test]
fn every_call_of_every_scenario_fails_cleanly_inline() {
    let (points, by_call) = sweep(CompletionMode::Inline, 1);
    eprintln!("inline: {points} injection points; failed calls by kind: {by_call:?}");
    assert!(points >= 100, "coverage: {points}");
}

#[test]
fn every_call_of_every_scenario_fails_cleanly_deferred() {
    let (points, by_call) = sweep(CompletionMode::Deferred, 1);
    eprintln!("deferred: {points} injection points; failed calls by kind: {by_call:?}");
    assert!(points >= 100, "coverage: {points}");
}

/// From the k-th call on, every call fails (the teardown's disconnects and closes too: a failed
/// close still closes, as the injector documents).
#[test]
fn every_call_from_the_kth_on_fails_cleanly() {
    let (points, by_call) = sweep(CompletionMode::Inline, 64);
    eprintln!("inline, all calls from k on: {points} injection points; k-th call by kind: {by_call:?}");
    assert!(points >= 100, "coverage: {points}");
}

/// One run of `scenario` with the engine's `n`-th allocation failed (n = 0: none). Returns
/// whether the n-th allocation was made (and failed).
fn run_once_alloc(name: &str, scenario: Scenario, n: u64, mode: CompletionMode) -> bool {
    let plan = if n == 0 {
        FaultPlan::new(0)
    } else {
        FaultPlan::new(n).fail_allocation(n)
    };
    let rig = CheckedRig::new(plan, mode, test_config());
    let sink = Sink::raw();
    let out = scenario(&rig, &sink);
    let (made, failed) = rig.allocations();
    let reached = failed > 0;
    let statuses = rig.ledger.statuses();
    let refused = rig.opens_refused.load(std::sync::atomic::Ordering::SeqCst);
    let ctx = format!("{name}, allocation {n} of {made}, {mode:?}");
    assert_eq!(failed, u64::from(n != 0 && made >= n), "{ctx}: failures injected");
    if reached {
        assert!(
            statuses.contains(&INJECTED) || refused > 0,
            "{ctx}: the failed allocation reached no request; statuses {statuses:?}"
        );
    }
    for s in &statuses {
        assert!(s.name().is_some(), "{ctx}: an unnamed status {s:?}");
    }
    if let Some(st) = out.teardown {
        assert_eq!(
            st,
            NtStatus::STATUS_SUCCESS,
            "{ctx}: teardown status of the waiting CLOSE"
        );
    }
    rig.unload_and_audit(PATIENCE);
    let reports = sink.finish(Duration::from_secs(10));
    // A refused request did nothing: the wire is what the requests that succeeded did.
    check_wire(
        &ctx,
        0,
        if reports.is_empty() { Wire::Any } else { out.wire },
        &reports,
    );
    reached
}

/// Every allocation of every scenario, failed in turn; the injection points.
fn alloc_sweep(mode: CompletionMode) -> u64 {
    let mut points = 0;
    for (name, scenario) in SCENARIOS {
        assert!(!run_once_alloc(name, *scenario, 0, mode), "{name}: clean run");
        let mut n = 1;
        while run_once_alloc(name, *scenario, n, mode) {
            n += 1;
            assert!(n < 1000, "{name}: the scenario never runs out of allocations");
        }
        assert!(n > 1, "{name}: no allocation was failed");
        eprintln!("  {mode:?} | {name}: {} allocations failed, one per run", n - 1);
        points += n - 1;
    }
    points
}

#[test]
fn every_allocation_of_every_scenario_fails_cleanly_inline() {
    let points = alloc_sweep(CompletionMode::Inline);
    eprintln!("inline: {points} allocations failed, one per run");
    assert!(points >= 120, "coverage: {points}");
}

#[test]
fn every_allocation_of_every_scenario_fails_cleanly_concurrent() {
    let points = alloc_sweep(CompletionMode::Concurrent);
    eprintln!("concurrent: {points} allocations failed, one per run");
    assert!(points >= 120, "coverage: {points}");
}

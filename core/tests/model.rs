//! Property test: random request sequences from several clients and random completion orders,
//! checked against an independent reference model (it never calls the engine's own code to
//! decide what to expect) after every step, and at the end without helping: the model completes
//! only the teardown's own provider operations, so a request the engine left pending fails the
//! "exactly once" check.
//!
//! What the model knows, from the behaviour contract (`core/src/lib.rs` invariants, the close
//! table of `docs/ENGINE.md`):
//! - which handles each client holds and how many handles each socket has;
//! - the teardown each last close must run: an explicit mode wins; the default mode follows
//!   SO_LINGER (off: graceful, {1,0}: abortive, {1,T}: linger); client cleanup and unload give a
//!   graceful teardown a deadline (it becomes a linger);
//! - on the wire (the provider's calls): no disconnect or close before the last handle closed;
//!   the teardown's disconnects before its close; abortive teardowns reset; graceful ones FIN
//!   first unless a SHUTDOWN(send) succeeded (then no disconnect at all); a linger resets only
//!   after a timer fired;
//! - requests: each completes at most once, and once at the end; a receive pending when its
//!   handle closes ends CANCELLED (at once when the provider honours cancels) or with its data;
//!   a send issued before a graceful close is never cancelled, unless a deadline passed or the
//!   test cancelled it.
#![allow(clippy::disallowed_methods)] // not the engine: core/clippy.toml is for src/

mod support;

use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use support::scripted::CancelMode;
use support::treq::Slot;
use support::*;
use wsksock_abi::msg::{CloseMode, CloseReply, ShutdownHow};
use wsksock_abi::{Handle, NtStatus, Op};

const CLIENTS: usize = 3;

/// One random step. Indices pick among what exists (modulo its length).
#[derive(Clone, Debug)]
enum Action {
    Create {
        client: usize,
    },
    Send {
        client: usize,
        pick: usize,
    },
    Receive {
        client: usize,
        pick: usize,
    },
    Shutdown {
        client: usize,
        pick: usize,
    },
    Duplicate {
        client: usize,
        pick: usize,
        to: usize,
    },
    Close {
        client: usize,
        pick: usize,
        mode: u8,
        wait: bool,
    },
    CancelIoctl {
        client: usize,
        pick: usize,
    },
    CancelRequest {
        pick: usize,
    },
    Complete {
        pick: usize,
        ok: bool,
    },
    FireTimers,
    Cleanup {
        client: usize,
    },
    Linger {
        client: usize,
        pick: usize,
        setting: u8,
    },
    UseClosed {
        client: usize,
        pick: usize,
    },
}

fn action() -> impl Strategy<Value = Action> {
    let c = 0..CLIENTS;
    let i = 0..8usize;
    prop_oneof![
        2 => c.clone().prop_map(|client| Action::Create { client }),
        3 => (c.clone(), i.clone()).prop_map(|(client, pick)| Action::Send { client, pick }),
        3 => (c.clone(), i.clone()).prop_map(|(client, pick)| Action::Receive { client, pick }),
        1 => (c.clone(), i.clone()).prop_map(|(client, pick)| Action::Shutdown { client, pick }),
        1 => (c.clone(), i.clone(), c.clone()).prop_map(|(client, pick, to)| Action::Duplicate { client, pick, to }),
        2 => (c.clone(), i.clone(), 0..4u8, any::<bool>())
            .prop_map(|(client, pick, mode, wait)| Action::Close { client, pick, mode, wait }),
        1 => (c.clone(), i.clone()).prop_map(|(client, pick)| Action::CancelIoctl { client, pick }),
        1 => (0..64usize).prop_map(|pick| Action::CancelRequest { pick }),
        6 => (0..64usize, any::<bool>()).prop_map(|(pick, ok)| Action::Complete { pick, ok }),
        1 => Just(Action::FireTimers),
        1 => c.clone().prop_map(|client| Action::Cleanup { client }),
        1 => (c.clone(), i.clone(), 0..3u8).prop_map(|(client, pick, setting)| Action::Linger { client, pick, setting }),
        1 => (c, i).prop_map(|(client, pick)| Action::UseClosed { client, pick }),
    ]
}

/// The teardown the model expects, decided from the contract alone.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// Sends finish, FIN (unless a SHUTDOWN already sent it), close.
    Graceful,
    /// Graceful until a timer fires, then RST.
    Linger,
    /// RST, close.
    Abortive,
}

/// closesocket's table: an explicit mode wins, the default follows SO_LINGER; a deadline
/// (cleanup, unload) makes a graceful teardown linger.
fn expect(mode: CloseMode, so_linger: Option<u32>, deadline: bool) -> Expect {
    let e = match (mode, so_linger) {
        (CloseMode::Abortive, _) | (CloseMode::Default, Some(0)) => Expect::Abortive,
        (CloseMode::Linger, _) | (CloseMode::Default, Some(_)) => Expect::Linger,
        (CloseMode::Graceful, _) | (CloseMode::Default, None) => Expect::Graceful,
    };
    match e {
        Expect::Graceful if deadline => Expect::Linger,
        other => other,
    }
}

/// What the model knows of one socket (by provider id).
#[derive(Default)]
struct Sock {
    handles: u32,
    so_linger: Option<u32>,
    /// Set at the last close.
    expect: Option<Expect>,
    /// Provider operation ids of its SHUTDOWNs' disconnects.
    shutdown_ops: HashSet<u64>,
    /// A SHUTDOWN(send) on it succeeded.
    shut_down: bool,
    /// A timer fired while it was tearing down.
    timer_fired: bool,
}

/// A request whose outcome the model judges.
struct Tracked {
    slot: Slot,
    sock: u64,
    handle: Handle,
    client: usize,
    /// Its handle was closed while it was pending (receives: must end CANCELLED or with data).
    handle_closed_while_pending: bool,
    /// A cancel of it was asked for, or a deadline may have cut it: CANCELLED is allowed.
    excused: bool,
}

impl Tracked {
    fn new(slot: Slot, sock: u64, handle: Handle, client: usize) -> Self {
        Tracked {
            slot,
            sock,
            handle,
            client,
            handle_closed_while_pending: false,
            excused: false,
        }
    }
}

struct World {
    e: TEngine,
    p: Scripted,
    cancel_mode: CancelMode,
    clients: Vec<TClient>,
    /// Per client: live handles and the socket each names.
    live: Vec<Vec<(Handle, u64)>>,
    closed: Vec<Vec<Handle>>,
    socks: HashMap<u64, Sock>,
    sends: Vec<Tracked>,
    receives: Vec<Tracked>,
    slots: Vec<Slot>,
}

impl World {
    fn new(cancel_mode: CancelMode, wine_disconnect: bool) -> Self {
        let (e, p) = engine();
        p.set_cancel_mode(cancel_mode);
        p.set_disconnect_not_implemented(wine_disconnect);
        p.set_auto(CallKind::Bind, true);
        p.set_auto(CallKind::Connect, true);
        let clients = (0..CLIENTS).map(|_| e.open_client().unwrap()).collect();
        World {
            e,
            p,
            cancel_mode,
            clients,
            live: vec![vec![]; CLIENTS],
            closed: vec![vec![]; CLIENTS],
            socks: HashMap::new(),
            sends: Vec::new(),
            receives: Vec::new(),
            slots: Vec::new(),
        }
    }

    fn go(&mut self, client: usize, r: TReq) -> Slot {
        let s = go(&self.e, &self.clients[client], r);
        self.slots.push(s.clone());
        s
    }

    fn pick(&self, client: usize, i: usize) -> Option<(Handle, u64)> {
        let l = &self.live[client];
        (!l.is_empty()).then(|| l[i % l.len()])
    }

    /// The handle left the table: what happens to what was issued through it.
    fn handle_closed(&mut self, client: usize, h: Handle, sock: u64, mode: CloseMode, deadline: bool) {
        self.live[client].retain(|x| x.0 != h);
        self.closed[client].push(h);
        let s = self.socks.get_mut(&sock).unwrap();
        s.handles -= 1;
        let last = s.handles == 0;
        let e = expect(mode, s.so_linger, deadline);
        if last {
            s.expect = Some(e);
        }
        for r in &mut self.receives {
            if r.handle == h && r.client == client && !r.slot.is_done() {
                r.handle_closed_while_pending = true;
            }
        }
        // Sends through the handle are cancelled by an abortive close; at the last abortive close,
        // every send on the socket.
        for x in &mut self.sends {
            let through = x.handle == h && x.client == client;
            let cut = (through && e == Expect::Abortive) || (last && e == Expect::Abortive && x.sock == sock);
            if cut {
                x.excused = true;
            }
        }
    }

    fn step(&mut self, a: &Action) {
        match *a {
            Action::Create { client } => {
                let before = self.p.calls().len();
                let h = connected(&self.e, &self.p, &self.clients[client]);
                let sock = self.p.calls()[before..]
                    .iter()
                    .find(|x| x.kind == CallKind::Bind)
                    .unwrap()
                    .sock;
                self.live[client].push((h, sock));
                self.socks.insert(
                    sock,
                    Sock {
                        handles: 1,
                        ..Sock::default()
                    },
                );
            }
            Action::Send { client, pick } => {
                if let Some((h, sock)) = self.pick(client, pick) {
                    let slot = self.go(client, send_req(h, b"data"));
                    self.sends.push(Tracked::new(slot, sock, h, client));
                }
            }
            Action::Receive { client, pick } => {
                if let Some((h, sock)) = self.pick(client, pick) {
                    let slot = self.go(client, recv_req(h, 8));
                    self.receives.push(Tracked::new(slot, sock, h, client));
                }
            }
            Action::Shutdown { client, pick } => {
                if let Some((h, sock)) = self.pick(client, pick) {
                    let before = self.p.calls().len();
                    let slot = self.go(client, shutdown_req(h, ShutdownHow::Send));
                    // Send-like: a graceful close waits for it as for a send.
                    self.sends.push(Tracked::new(slot, sock, h, client));
                    let op = self.p.calls()[before..]
                        .iter()
                        .find(|x| x.sock == sock && matches!(x.kind, CallKind::Disconnect { .. }))
                        .map(|x| x.op);
                    if let Some(op) = op {
                        self.socks.get_mut(&sock).unwrap().shutdown_ops.insert(op);
                    }
                }
            }
            Action::Duplicate { client, pick, to } => {
                if let Some((h, sock)) = self.pick(client, pick) {
                    let target = self.clients[to].id();
                    if to != client {
                        // The target's consent first (ALLOW_DUPLICATE).
                        let from = self.clients[client].id();
                        self.go(to, allow_req(from, 1)).expect_ok();
                    }
                    let h2 = self.go(client, dup_req(h, target)).handle();
                    self.live[to].push((h2, sock));
                    self.socks.get_mut(&sock).unwrap().handles += 1;
                }
            }
            Action::Close {
                client,
                pick,
                mode,
                wait,
            } => {
                if let Some((h, sock)) = self.pick(client, pick) {
                    let (cm, secs) = match mode {
                        0 => (CloseMode::Default, 0),
                        1 => (CloseMode::Graceful, 0),
                        2 => (CloseMode::Abortive, 0),
                        _ => (CloseMode::Linger, 1),
                    };
                    let last = self.socks[&sock].handles == 1;
                    let slot = self.go(client, close_req(h, cm, secs, wait));
                    self.handle_closed(client, h, sock, cm, false);
                    if !(wait && last) {
                        let r: CloseReply = reply_of(&slot.expect_ok());
                        assert_eq!(r.last_reference, u32::from(last), "model: last reference");
                    }
                    self.check_cancelled_at_close(client, h);
                }
            }
            Action::CancelIoctl { client, pick } => {
                if let Some((h, _)) = self.pick(client, pick) {
                    self.go(client, handle_req(Op::Cancel, h)).expect_ok();
                    for x in self.sends.iter_mut().chain(self.receives.iter_mut()) {
                        if x.handle == h && x.client == client {
                            x.excused = true;
                        }
                    }
                }
            }
            Action::CancelRequest { pick } => {
                let n = self.sends.len() + self.receives.len();
                if n > 0 {
                    let k = pick % n;
                    let x = if k < self.sends.len() {
                        &mut self.sends[k]
                    } else {
                        &mut self.receives[k - self.sends.len()]
                    };
                    x.excused = true;
                    x.slot.cancel();
                }
            }
            Action::Complete { pick, ok } => {
                let pending = self.p.pending();
                if !pending.is_empty() {
                    let (id, sock, kind) = pending[pick % pending.len()];
                    let status = if ok {
                        NtStatus::STATUS_SUCCESS
                    } else {
                        NtStatus::STATUS_CONNECTION_RESET
                    };
                    if kind == CallKind::Close {
                        self.p.complete_close(id);
                    } else {
                        self.p.complete(id, status, usize::MAX);
                        if let Some(s) = self.socks.get_mut(&sock) {
                            if ok && s.shutdown_ops.contains(&id) {
                                s.shut_down = true;
                            }
                        }
                    }
                }
            }
            Action::FireTimers => {
                if self.p.timers() > 0 {
                    self.timer_fires();
                    self.p.fire_timers();
                }
            }
            Action::Cleanup { client } => {
                // Teardowns its earlier closes started that still hold its requests get the
                // cleanup's deadline.
                let held: HashSet<u64> = self
                    .sends
                    .iter()
                    .chain(self.receives.iter())
                    .filter(|x| x.client == client && !x.slot.is_done())
                    .map(|x| x.sock)
                    .collect();
                self.deadline(|id| held.contains(&id));
                for (h, sock) in self.live[client].clone() {
                    self.handle_closed(client, h, sock, CloseMode::Default, true);
                }
                self.e.cleanup_client(&self.clients[client]);
                let closed = std::mem::take(&mut self.closed[client]);
                for h in closed {
                    self.check_cancelled_at_close(client, h);
                }
                self.clients[client] = self.e.open_client().unwrap();
                // The new client never had those handles; the old one's pending requests may
                // still complete (graceful sends within the deadline).
                for x in self.sends.iter_mut().chain(self.receives.iter_mut()) {
                    if x.client == client {
                        x.client = usize::MAX;
                    }
                }
            }
            Action::Linger {
                client,
                pick,
                setting,
            } => {
                if let Some((h, sock)) = self.pick(client, pick) {
                    let v = match setting {
                        0 => None,
                        1 => Some(0),
                        _ => Some(1),
                    };
                    self.go(client, linger_req(h, v.is_some(), v.unwrap_or(0)))
                        .expect_ok();
                    self.socks.get_mut(&sock).unwrap().so_linger = v;
                }
            }
            Action::UseClosed { client, pick } => {
                let closed = &self.closed[client];
                if !closed.is_empty() {
                    let h = closed[pick % closed.len()];
                    let st = self.go(client, recv_req(h, 1)).status();
                    assert_eq!(
                        st,
                        NtStatus::STATUS_INVALID_HANDLE,
                        "invariant 2: a closed handle names nothing"
                    );
                }
            }
        }
        self.check();
    }

    /// A deadline (cleanup, unload) for the graceful teardowns `which` selects: they linger.
    fn deadline(&mut self, which: impl Fn(u64) -> bool) {
        for (id, s) in &mut self.socks {
            if s.expect == Some(Expect::Graceful) && which(*id) {
                s.expect = Some(Expect::Linger);
            }
        }
    }

    /// Every timer is about to fire: sockets tearing down may now reset and cut their sends.
    fn timer_fires(&mut self) {
        for (id, s) in &mut self.socks {
            if s.expect == Some(Expect::Linger) {
                s.timer_fired = true;
                for x in &mut self.sends {
                    if x.sock == *id {
                        x.excused = true;
                    }
                }
            }
        }
    }

    /// Right after a close: with a provider that honours cancels, the receives issued through
    /// the closed handle are done, CANCELLED (or with data that had arrived).
    fn check_cancelled_at_close(&self, client: usize, h: Handle) {
        if self.cancel_mode != CancelMode::Immediate {
            return;
        }
        for r in &self.receives {
            if r.handle == h && r.client == client && r.handle_closed_while_pending {
                let st = r.slot.outcome().map(|o| o.status);
                assert!(
                    matches!(st, Some(NtStatus::STATUS_CANCELLED | NtStatus::STATUS_SUCCESS)),
                    "invariant 3: a receive pending when its handle closed is cancelled at once: {st:?}"
                );
            }
        }
    }

    /// What holds after every step.
    fn check(&self) {
        self.p.assert_clean();
        assert_eq!(self.e.stats().contract_violations, 0);
        for s in &self.slots {
            assert!(s.completions() <= 1, "invariant 7: a request completed twice");
        }
        let calls = self.p.calls();
        for (id, s) in &self.socks {
            let on: Vec<_> = calls.iter().filter(|c| c.sock == *id).collect();
            // The teardown's own disconnects (SHUTDOWN's excluded), in order.
            let teardown: Vec<(usize, bool)> = on
                .iter()
                .enumerate()
                .filter_map(|(i, c)| match c.kind {
                    CallKind::Disconnect { abortive } if !s.shutdown_ops.contains(&c.op) => {
                        Some((i, abortive))
                    }
                    _ => None,
                })
                .collect();
            let close = on.iter().position(|c| c.kind == CallKind::Close);
            if !teardown.is_empty() || close.is_some() {
                assert_eq!(
                    s.handles, 0,
                    "invariant 1: teardown of {id} before its last handle closed"
                );
            }
            let Some(close) = close else { continue };
            assert!(
                teardown.iter().all(|(i, _)| *i < close),
                "invariant 5: a disconnect after the close of {id}: {on:?}"
            );
            let first = teardown.first().map(|t| t.1);
            let expect = s.expect.expect("a teardown has an expected mode");
            match expect {
                Expect::Abortive => {
                    assert_eq!(first, Some(true), "abortive teardown of {id} must reset first");
                }
                Expect::Graceful | Expect::Linger if s.shut_down => assert!(
                    teardown.iter().all(|t| t.1) && (teardown.is_empty() || s.timer_fired),
                    "after a SHUTDOWN that succeeded, {id} is only reset by a passed deadline: {teardown:?}"
                ),
                Expect::Graceful => assert_eq!(
                    first,
                    Some(false),
                    "graceful teardown of {id} must FIN first (a failed SHUTDOWN sent none)"
                ),
                Expect::Linger => assert!(
                    first == Some(false) || (s.timer_fired && first == Some(true)),
                    "lingering teardown of {id} resets only after a timer fired: {teardown:?}"
                ),
            }
        }
        for x in &self.sends {
            if let Some(o) = x.slot.outcome() {
                if o.status == NtStatus::STATUS_CANCELLED {
                    assert!(
                        x.excused,
                        "a send issued before a graceful close was cancelled (socket {})",
                        x.sock
                    );
                }
            }
        }
        for r in &self.receives {
            if let Some(o) = r.slot.outcome() {
                if r.handle_closed_while_pending {
                    assert!(
                        matches!(o.status, NtStatus::STATUS_CANCELLED | NtStatus::STATUS_SUCCESS),
                        "invariants 3 and 6: a receive whose handle closed ends cancelled or with data: {:?}",
                        o.status
                    );
                }
            }
        }
    }

    /// The end: unload, and complete only what the teardowns issue themselves (disconnects and
    /// closes); then every request must have completed exactly once and every socket be freed.
    fn finish(mut self) {
        self.deadline(|_| true);
        for c in 0..CLIENTS {
            for (h, sock) in self.live[c].clone() {
                self.handle_closed(c, h, sock, CloseMode::Default, true);
            }
        }
        let idle = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let i2 = idle.clone();
        self.e.unload(Box::new(move || {
            i2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
        for _ in 0..1000 {
            if self.p.timers() > 0 {
                self.timer_fires();
            }
            let fired = self.p.fire_timers();
            let teardown: Vec<_> = self
                .p
                .pending()
                .into_iter()
                .filter(|(_, _, k)| matches!(k, CallKind::Disconnect { .. } | CallKind::Close))
                .collect();
            if teardown.is_empty() && fired == 0 {
                break;
            }
            for (id, _, kind) in teardown {
                if kind == CallKind::Close {
                    self.p.complete_close(id);
                } else {
                    self.p.complete(id, NtStatus::STATUS_SUCCESS, 0);
                }
            }
            self.check();
        }
        self.check();
        assert_eq!(
            idle.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "invariant 8: unload reports idle exactly once"
        );
        for s in &self.slots {
            assert_eq!(
                s.completions(),
                1,
                "invariant 7: every request completes exactly once"
            );
        }
        assert!(
            self.p.pending().is_empty(),
            "operations left pending after unload"
        );
        assert_eq!(self.e.stats().sockets_alive, 0);
        let freed = self.p.freed();
        assert_eq!(freed.len() as u64, self.p.created(), "every socket object freed");
        self.p.assert_clean();
    }
}

/// 1,000 cases unless `PROPTEST_CASES` asks for more (the long run of `docs/ENGINE.md`).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_every_invariant(
        actions in proptest::collection::vec(action(), 1..60),
        ignore_cancel in any::<bool>(),
        wine_disconnect in any::<bool>(),
    ) {
        let mode = if ignore_cancel { CancelMode::Ignore } else { CancelMode::Immediate };
        let mut w = World::new(mode, wine_disconnect);
        for a in &actions {
            w.step(a);
        }
        w.finish();
    }
}

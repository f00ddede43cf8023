//! Property test: random request sequences from several clients and random completion orders,
//! checked against a simple reference model of handles and against the invariants of the close
//! path (see `check_invariants`).
#![allow(clippy::many_single_char_names)]

mod support;

use proptest::prelude::*;
use std::collections::HashMap;
use support::scripted::CancelMode;
use support::treq::Slot;
use support::*;
use wsksock_abi::msg::{CloseMode, CloseReply};
use wsksock_abi::{Handle, NtStatus, Op};
use wsksock_core::TeardownMode;

const CLIENTS: usize = 3;

#[derive(Clone, Debug)]
enum Action {
    Create(usize),
    Send(usize, usize),
    Receive(usize, usize),
    Duplicate(usize, usize, usize),
    Close(usize, usize, u8, bool),
    CancelIoctl(usize, usize),
    CancelRequest(usize),
    Complete(usize, bool),
    FireTimers,
    Cleanup(usize),
    Linger(usize, usize, u8),
    UseClosed(usize, usize),
}

fn action() -> impl Strategy<Value = Action> {
    let c = 0..CLIENTS;
    let i = 0..8usize;
    prop_oneof![
        2 => c.clone().prop_map(Action::Create),
        3 => (c.clone(), i.clone()).prop_map(|(c, i)| Action::Send(c, i)),
        3 => (c.clone(), i.clone()).prop_map(|(c, i)| Action::Receive(c, i)),
        1 => (c.clone(), i.clone(), c.clone()).prop_map(|(c, i, t)| Action::Duplicate(c, i, t)),
        2 => (c.clone(), i.clone(), 0..4u8, any::<bool>()).prop_map(|(c, i, m, w)| Action::Close(c, i, m, w)),
        1 => (c.clone(), i.clone()).prop_map(|(c, i)| Action::CancelIoctl(c, i)),
        1 => (0..64usize).prop_map(Action::CancelRequest),
        6 => (0..64usize, any::<bool>()).prop_map(|(i, ok)| Action::Complete(i, ok)),
        1 => Just(Action::FireTimers),
        1 => c.clone().prop_map(Action::Cleanup),
        1 => (c.clone(), i.clone(), 0..3u8).prop_map(|(c, i, l)| Action::Linger(c, i, l)),
        1 => (c, i).prop_map(|(c, i)| Action::UseClosed(c, i)),
    ]
}

/// The reference model: which handles each client holds, and each socket's handle count.
#[derive(Default)]
struct Model {
    /// Per client: live handles with their provider socket id.
    live: Vec<Vec<(Handle, u64)>>,
    closed: Vec<Vec<Handle>>,
    handles_of: HashMap<u64, u32>,
    linger: HashMap<u64, Option<u32>>,
    /// Teardown mode of each socket, set when its last handle closes.
    mode: HashMap<u64, TeardownMode>,
    /// Sends: slot, socket, handle, explicitly cancelled.
    sends: Vec<(Slot, u64, Handle, bool)>,
    slots: Vec<Slot>,
    timers_fired_on: Vec<u64>,
}

struct World {
    e: TEngine,
    p: Scripted,
    clients: Vec<wsksock_core::ClientRef<Scripted, TReq>>,
    m: Model,
}

impl World {
    fn new(cancel: CancelMode, wine_disconnect: bool) -> Self {
        let (e, p) = engine();
        p.set_cancel_mode(cancel);
        p.set_disconnect_not_implemented(wine_disconnect);
        p.set_auto(CallKind::Bind, true);
        p.set_auto(CallKind::Connect, true);
        let clients = (0..CLIENTS).map(|_| e.open_client().unwrap()).collect();
        let m = Model {
            live: vec![vec![]; CLIENTS],
            closed: vec![vec![]; CLIENTS],
            ..Model::default()
        };
        World { e, p, clients, m }
    }

    fn go(&mut self, c: usize, r: TReq) -> Slot {
        let s = go(&self.e, &self.clients[c], r);
        self.m.slots.push(s.clone());
        s
    }

    fn pick(&self, c: usize, i: usize) -> Option<(Handle, u64)> {
        let l = &self.m.live[c];
        (!l.is_empty()).then(|| l[i % l.len()])
    }

    fn step(&mut self, a: &Action) {
        match *a {
            Action::Create(c) => {
                let before = self.p.calls().len();
                let h = connected(&self.e, &self.p, &self.clients[c]);
                let sock = self.p.calls()[before..]
                    .iter()
                    .find(|x| x.kind == CallKind::Bind)
                    .unwrap()
                    .sock;
                self.m.live[c].push((h, sock));
                self.m.handles_of.insert(sock, 1);
            }
            Action::Send(c, i) => {
                if let Some((h, s)) = self.pick(c, i) {
                    let slot = self.go(c, send_req(h, b"data"));
                    self.m.sends.push((slot, s, h, false));
                }
            }
            Action::Receive(c, i) => {
                if let Some((h, _)) = self.pick(c, i) {
                    self.go(c, recv_req(h, 8));
                }
            }
            Action::Duplicate(c, i, t) => {
                if let Some((h, s)) = self.pick(c, i) {
                    let target = self.clients[t].id();
                    let slot = self.go(c, dup_req(h, target));
                    let h2 = slot.handle();
                    self.m.live[t].push((h2, s));
                    *self.m.handles_of.get_mut(&s).unwrap() += 1;
                }
            }
            Action::Close(c, i, mode, wait) => {
                if let Some((h, s)) = self.pick(c, i) {
                    let (cm, secs) = match mode {
                        0 => (CloseMode::Default, 0),
                        1 => (CloseMode::Graceful, 0),
                        2 => (CloseMode::Abortive, 0),
                        _ => (CloseMode::Linger, 1),
                    };
                    let count = self.m.handles_of[&s];
                    let mode = TeardownMode::resolve(cm, secs, self.m.linger.get(&s).copied().flatten());
                    if count == 1 {
                        self.m.mode.insert(s, mode);
                    }
                    let slot = self.go(c, close_req(h, cm, secs, wait));
                    self.m.live[c].retain(|x| x.0 != h);
                    self.m.closed[c].push(h);
                    *self.m.handles_of.get_mut(&s).unwrap() -= 1;
                    if !(wait && count == 1) {
                        let r: CloseReply = reply_of(&slot.expect_ok());
                        assert_eq!(r.last_reference, u32::from(count == 1), "model: last reference");
                    }
                    for x in &mut self.m.sends {
                        if x.2 == h && mode == TeardownMode::Abortive {
                            x.3 = true;
                        }
                    }
                }
            }
            Action::CancelIoctl(c, i) => {
                if let Some((h, _)) = self.pick(c, i) {
                    self.go(c, handle_req(Op::Cancel, h)).expect_ok();
                    for x in &mut self.m.sends {
                        if x.2 == h {
                            x.3 = true;
                        }
                    }
                }
            }
            Action::CancelRequest(i) => {
                if !self.m.sends.is_empty() {
                    let k = i % self.m.sends.len();
                    self.m.sends[k].3 = true;
                    self.m.sends[k].0.cancel();
                }
            }
            Action::Complete(i, ok) => {
                let pending = self.p.pending();
                if !pending.is_empty() {
                    let (id, _, kind) = pending[i % pending.len()];
                    let status = if ok || kind == CallKind::Send {
                        NtStatus::STATUS_SUCCESS
                    } else {
                        NtStatus::STATUS_CONNECTION_RESET
                    };
                    if kind == CallKind::Close {
                        self.p.complete_close(id);
                    } else {
                        self.p.complete(id, status, usize::MAX);
                    }
                }
            }
            Action::FireTimers => {
                if self.p.timers() > 0 {
                    // Every socket with a timer out is lingering: its sends may now be cancelled.
                    for (s, m) in &self.m.mode {
                        if matches!(m, TeardownMode::Linger(_)) {
                            self.m.timers_fired_on.push(*s);
                        }
                    }
                    self.p.fire_timers();
                }
            }
            Action::Cleanup(c) => {
                for (h, s) in std::mem::take(&mut self.m.live[c]) {
                    let count = self.m.handles_of.get_mut(&s).unwrap();
                    *count -= 1;
                    let l = self.m.linger.get(&s).copied().flatten();
                    let mode = TeardownMode::resolve(CloseMode::Default, 0, l);
                    if *count == 0 {
                        self.m.mode.insert(s, mode);
                    }
                    if mode == TeardownMode::Abortive {
                        for x in &mut self.m.sends {
                            if x.2 == h || (*count == 0 && x.1 == s) {
                                x.3 = true;
                            }
                        }
                    }
                    self.m.closed[c].push(h);
                }
                self.e.cleanup_client(&self.clients[c]);
                self.clients[c] = self.e.open_client().unwrap();
                self.m.closed[c].clear(); // the new client never had them
            }
            Action::Linger(c, i, l) => {
                if let Some((h, s)) = self.pick(c, i) {
                    let (on, secs) = match l {
                        0 => (false, 0),
                        1 => (true, 0),
                        _ => (true, 1),
                    };
                    self.go(c, linger_req(h, on, secs)).expect_ok();
                    self.m.linger.insert(s, on.then_some(secs));
                }
            }
            Action::UseClosed(c, i) => {
                let closed = &self.m.closed[c];
                if !closed.is_empty() {
                    let h = closed[i % closed.len()];
                    let st = self.go(c, recv_req(h, 1)).status();
                    assert_eq!(
                        st,
                        NtStatus::STATUS_INVALID_HANDLE,
                        "rule 2: a closed handle names nothing"
                    );
                }
            }
        }
        self.check_invariants();
    }

    /// Invariants that hold after every step.
    fn check_invariants(&self) {
        self.p.assert_clean();
        assert_eq!(self.e.stats().contract_violations, 0);
        for s in &self.m.slots {
            assert!(s.completions() <= 1, "a request completed twice");
        }
        for x in &self.m.sends {
            assert!(x.0.completions() <= 1);
        }
        let calls = self.p.calls();
        for (sock, count) in &self.m.handles_of {
            let kinds: Vec<_> = calls.iter().filter(|c| c.sock == *sock).map(|c| c.kind).collect();
            let first_disc = kinds
                .iter()
                .position(|k| matches!(k, CallKind::Disconnect { .. }));
            let close = kinds.iter().position(|k| *k == CallKind::Close);
            if first_disc.is_some() || close.is_some() {
                assert_eq!(
                    *count, 0,
                    "disconnect/close of socket {sock} before its last handle closed"
                );
            }
            if let (Some(d), Some(c)) = (first_disc, close) {
                assert!(d < c, "disconnect after close on {sock}: {kinds:?}");
            }
            assert!(
                close.is_none() || first_disc.is_some(),
                "connected socket {sock} closed without disconnect"
            );
            if let Some(d) = first_disc {
                let abortive = kinds[d] == CallKind::Disconnect { abortive: true };
                match self.m.mode.get(sock) {
                    Some(TeardownMode::Abortive) => assert!(abortive, "abortive mode must reset ({sock})"),
                    Some(TeardownMode::Graceful) => {
                        assert!(!abortive, "graceful mode must FIN first ({sock})");
                    }
                    Some(TeardownMode::Linger(_)) => {
                        assert!(
                            !abortive || self.m.timers_fired_on.contains(sock),
                            "linger reset before expiry"
                        );
                    }
                    None => panic!("teardown of {sock} without a recorded mode"),
                }
            }
        }
        for (slot, sock, _, excused) in &self.m.sends {
            if let Some(o) = slot.outcome() {
                if o.status == NtStatus::STATUS_CANCELLED && !excused {
                    let m = self.m.mode.get(sock);
                    let lingered = self.m.timers_fired_on.contains(sock);
                    assert!(
                        matches!(m, Some(TeardownMode::Abortive)) || lingered,
                        "a send issued before a graceful close was cancelled (socket {sock}, mode {m:?})"
                    );
                }
            }
        }
    }

    /// Drives everything to the end: complete what pends, then unload; nothing may be left.
    fn finish(mut self) {
        for _ in 0..1000 {
            let pending = self.p.pending();
            if pending.is_empty() {
                break;
            }
            for (id, _, kind) in pending {
                if kind == CallKind::Close {
                    self.p.complete_close(id);
                } else {
                    self.p.complete(id, NtStatus::STATUS_SUCCESS, usize::MAX);
                }
            }
            self.check_invariants();
        }
        let idle = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let i2 = idle.clone();
        for s in self.m.mode.keys().copied().collect::<Vec<_>>() {
            self.m.timers_fired_on.push(s);
        }
        for c in 0..CLIENTS {
            for (_, s) in std::mem::take(&mut self.m.live[c]) {
                *self.m.handles_of.get_mut(&s).unwrap() -= 1;
                let l = self.m.linger.get(&s).copied().flatten();
                self.m
                    .mode
                    .entry(s)
                    .or_insert(TeardownMode::resolve(CloseMode::Default, 0, l));
                self.m.timers_fired_on.push(s);
            }
        }
        for x in &mut self.m.sends {
            x.3 = true; // unload may reset what is still queued
        }
        self.e.unload(Box::new(move || {
            i2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
        for _ in 0..1000 {
            let fired = self.p.fire_timers();
            let pending = self.p.pending();
            if pending.is_empty() && fired == 0 {
                break;
            }
            for (id, _, kind) in pending {
                if kind == CallKind::Close {
                    self.p.complete_close(id);
                } else {
                    self.p.complete(id, NtStatus::STATUS_SUCCESS, usize::MAX);
                }
            }
        }
        self.check_invariants();
        assert_eq!(
            idle.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "unload reports idle exactly once"
        );
        for s in &self.m.slots {
            assert_eq!(s.completions(), 1, "every request completes exactly once");
        }
        for x in &self.m.sends {
            assert_eq!(x.0.completions(), 1);
        }
        assert_eq!(self.e.stats().sockets_alive, 0);
        let freed = self.p.freed();
        assert_eq!(freed.len() as u64, self.p.created(), "every socket object freed");
        self.p.assert_clean();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

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

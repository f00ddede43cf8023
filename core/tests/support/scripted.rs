//! The scripted provider: operations pend until the test completes them (some kinds complete at
//! once, see `auto`), cancels complete at once with STATUS_CANCELLED (or are ignored, like Wine),
//! close cancels everything pending on its socket. It checks the engine's side of the contract.

use super::lock::{new_lock, TestRawLock};
use super::sync::{Arc, Mutex};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use wsksock_abi::NtStatus;
use wsksock_core::{
    AddrKind, Buffer, Completion, Family, OpOutput, OpValue, Owner, Provider, SockOpt, SocketParams,
    TimerCallback,
};

/// A data buffer.
#[derive(Debug)]
pub struct TBuf(pub Vec<u8>);

impl Buffer for TBuf {
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// What was called.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CallKind {
    Create,
    Bind,
    Listen,
    Accept,
    Connect,
    Send,
    Receive,
    SendTo,
    ReceiveFrom,
    Disconnect { abortive: bool },
    Close,
    SetOption,
    GetOption,
    GetAddress,
    Resolve,
    Cancel,
    WaitPeerClose,
}

/// One provider call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    pub sock: u64,
    pub kind: CallKind,
    pub op: u64,
}

/// How cancels behave.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CancelMode {
    /// Complete at once with STATUS_CANCELLED (Windows).
    Immediate,
    /// Do nothing (Wine 8).
    Ignore,
}

struct PendingOp {
    sock: u64,
    kind: CallKind,
    done: Completion<Scripted>,
    buf: Option<TBuf>,
}

#[derive(Default)]
struct SockInfo {
    closed: bool,
    close_completed: bool,
    in_call: u32,
}

struct State {
    next_id: u64,
    calls: Vec<Call>,
    pending: BTreeMap<u64, PendingOp>,
    socks: HashMap<u64, SockInfo>,
    violations: Vec<String>,
    /// Armed timers: delay (ms), cookie and callback.
    timers: BTreeMap<u64, (u64, u64, TimerCallback)>,
    /// Timers made and not armed (new, or cancelled): their callbacks.
    unarmed: HashMap<u64, TimerCallback>,
    /// Runs once at the start of the next `arm_timer`, before the timer is armed.
    start_timer_hook: Option<Box<dyn FnOnce() + Send>>,
    /// Allocations the engine asked about (`allocation_fails`), and the one that fails (1-based;
    /// 0: none).
    allocations: u64,
    fail_allocation: u64,
    /// The socket of every operation ever issued (a cancel reference stays valid after its
    /// operation completed, and a cancel through it is still a call on that socket).
    op_sock: HashMap<u64, u64>,
    auto: HashSet<CallKind>,
    cancel_mode: CancelMode,
    /// Whether `close` completes what is pending on its socket (WSK does; with `false` those
    /// operations stay pending for the test to complete, as when their completions run on other
    /// CPUs after the close's).
    close_completes_pending: bool,
    disconnect_not_implemented: bool,
    freed: Vec<u64>,
    created: u64,
    /// The owner of every socket created, in order.
    owners: Vec<Owner>,
    /// The flags of every send and receive, in order.
    data_flags: Vec<(CallKind, u32)>,
}

/// The scripted provider (cheap to clone; clones share state).
#[derive(Clone)]
pub struct Scripted(Arc<Mutex<State>>);

/// The provider socket: records when the engine frees it.
pub struct TSocket {
    pub id: u64,
    state: Scripted,
}

impl Drop for TSocket {
    fn drop(&mut self) {
        let mut s = self.state.0.lock().unwrap();
        let info = s.socks.get(&self.id).map(|i| (i.closed, i.close_completed));
        let pending = s.pending.values().any(|p| p.sock == self.id);
        match info {
            Some((true, true)) if !pending => {}
            other => s.violations.push(format!(
                "socket {} freed early: {other:?}, ops pending {pending}",
                self.id
            )),
        }
        s.freed.push(self.id);
    }
}

impl Default for Scripted {
    fn default() -> Self {
        Self::new()
    }
}

impl Scripted {
    pub fn new() -> Self {
        let auto = [
            CallKind::Create,
            CallKind::SetOption,
            CallKind::GetOption,
            CallKind::GetAddress,
            CallKind::Resolve,
            CallKind::Close,
        ]
        .into_iter()
        .collect();
        Scripted(Arc::new(Mutex::new(State {
            next_id: 1,
            calls: Vec::new(),
            pending: BTreeMap::new(),
            socks: HashMap::new(),
            violations: Vec::new(),
            timers: BTreeMap::new(),
            unarmed: HashMap::new(),
            start_timer_hook: None,
            allocations: 0,
            fail_allocation: 0,
            op_sock: HashMap::new(),
            auto,
            cancel_mode: CancelMode::Immediate,
            close_completes_pending: true,
            disconnect_not_implemented: false,
            freed: Vec::new(),
            created: 0,
            owners: Vec::new(),
            data_flags: Vec::new(),
        })))
    }

    /// Operations of `kind` complete with success as soon as they are issued.
    pub fn set_auto(&self, kind: CallKind, on: bool) {
        let mut s = self.0.lock().unwrap();
        if on {
            s.auto.insert(kind);
        } else {
            s.auto.remove(&kind);
        }
    }

    pub fn set_cancel_mode(&self, m: CancelMode) {
        self.0.lock().unwrap().cancel_mode = m;
    }

    /// A provider that completes nothing on its own: cancels are ignored, and a close pends and
    /// leaves what was pending on its socket pending too — the test completes each, in the order
    /// (or on the threads) it chooses.
    pub fn hold_completions(&self) {
        self.set_cancel_mode(CancelMode::Ignore);
        self.set_close_completes_pending(false);
        self.set_auto(CallKind::Close, false);
    }

    /// `false`: `close` leaves the operations pending on its socket for the test to complete.
    pub fn set_close_completes_pending(&self, on: bool) {
        self.0.lock().unwrap().close_completes_pending = on;
    }

    /// Runs `f` once, at the start of the next `arm_timer` (no engine lock is held there): what
    /// another thread does between the engine deciding on a timer and storing it armed.
    pub fn on_start_timer(&self, f: impl FnOnce() + Send + 'static) {
        self.0.lock().unwrap().start_timer_hook = Some(Box::new(f));
    }

    /// Delays (ms) of the timers armed now, oldest first.
    pub fn timer_delays(&self) -> Vec<u64> {
        self.0.lock().unwrap().timers.values().map(|t| t.0).collect()
    }

    /// Timers made and not armed (reserved by the engine, or cancelled).
    pub fn unarmed_timers(&self) -> usize {
        self.0.lock().unwrap().unarmed.len()
    }

    /// The `n`th allocation the engine makes from now on fails (1-based; 0: none), as a pool
    /// allocation would in the driver; a timer it makes counts as one.
    pub fn fail_allocation(&self, n: u64) {
        let mut s = self.0.lock().unwrap();
        s.allocations = 0;
        s.fail_allocation = n;
    }

    /// Allocations the engine made (or asked about) since the last `fail_allocation`.
    pub fn allocations(&self) -> u64 {
        self.0.lock().unwrap().allocations
    }

    /// Whether the front end's next allocation fails (a request's cancel state: it joins the
    /// engine's count).
    pub fn front_allocation_fails(&self) -> bool {
        self.next_allocation_fails()
    }

    /// Whether the next allocation fails (and counts it).
    fn next_allocation_fails(&self) -> bool {
        let mut s = self.0.lock().unwrap();
        s.allocations += 1;
        s.allocations == s.fail_allocation
    }

    /// Wine 8: disconnect fails synchronously with STATUS_NOT_IMPLEMENTED.
    pub fn set_disconnect_not_implemented(&self, on: bool) {
        self.0.lock().unwrap().disconnect_not_implemented = on;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().unwrap().calls.clone()
    }

    pub fn calls_on(&self, sock: u64) -> Vec<CallKind> {
        self.calls()
            .into_iter()
            .filter(|c| c.sock == sock)
            .map(|c| c.kind)
            .collect()
    }

    pub fn violations(&self) -> Vec<String> {
        self.0.lock().unwrap().violations.clone()
    }

    pub fn assert_clean(&self) {
        let v = self.violations();
        assert!(v.is_empty(), "contract violations: {v:#?}");
    }

    /// Pending operations (op id, socket, kind), oldest first.
    pub fn pending(&self) -> Vec<(u64, u64, CallKind)> {
        self.0
            .lock()
            .unwrap()
            .pending
            .iter()
            .map(|(id, p)| (*id, p.sock, p.kind))
            .collect()
    }

    pub fn pending_of(&self, kind: CallKind) -> Vec<u64> {
        self.pending()
            .into_iter()
            .filter(|p| p.2 == kind)
            .map(|p| p.0)
            .collect()
    }

    pub fn freed(&self) -> Vec<u64> {
        self.0.lock().unwrap().freed.clone()
    }

    /// Sockets created whose close has not completed.
    pub fn open_sockets(&self) -> usize {
        self.0
            .lock()
            .unwrap()
            .socks
            .values()
            .filter(|i| !i.close_completed)
            .count()
    }

    pub fn created(&self) -> u64 {
        self.0.lock().unwrap().created
    }

    pub fn timers(&self) -> usize {
        self.0.lock().unwrap().timers.len()
    }

    /// Completes pending op `id` with `status`, transferring `bytes` (data ops return their buffer).
    pub fn complete(&self, id: u64, status: NtStatus, bytes: usize) -> bool {
        let Some(p) = self.0.lock().unwrap().pending.remove(&id) else {
            return false;
        };
        let value = match (p.kind, status.is_success()) {
            (CallKind::Accept, true) => OpValue::Accepted {
                socket: self.new_socket(),
                local: "127.0.0.1:1".parse().unwrap(),
                remote: "127.0.0.1:2".parse().unwrap(),
            },
            (CallKind::ReceiveFrom, true) => OpValue::Address("127.0.0.1:3".parse().unwrap()),
            (CallKind::Create, true) => OpValue::Socket(self.new_socket()),
            // The peer's FIN.
            (CallKind::WaitPeerClose, true) => OpValue::PeerClosed(NtStatus::STATUS_SUCCESS),
            _ => OpValue::None,
        };
        let bytes = p.buf.as_ref().map_or(0, |b| bytes.min(b.0.len()));
        p.done.complete(OpOutput {
            status,
            bytes,
            buffer: p.buf,
            value,
        });
        true
    }

    /// Completes a pending WAIT_PEER_CLOSE: the connection ended `how` (success = FIN).
    pub fn complete_peer_close(&self, id: u64, how: NtStatus) -> bool {
        let Some(p) = self.0.lock().unwrap().pending.remove(&id) else {
            return false;
        };
        p.done.complete(OpOutput::value(OpValue::PeerClosed(how)));
        true
    }

    /// The owners sockets were created with, in order.
    pub fn owners(&self) -> Vec<Owner> {
        self.0.lock().unwrap().owners.clone()
    }

    /// The flags of every send and receive issued, in order.
    pub fn data_flags(&self) -> Vec<(CallKind, u32)> {
        self.0.lock().unwrap().data_flags.clone()
    }

    /// Completes the oldest pending op of `kind` with success and all its bytes.
    pub fn complete_first(&self, kind: CallKind) -> bool {
        let first = self.pending_of(kind).first().copied();
        first.is_some_and(|id| self.complete(id, NtStatus::STATUS_SUCCESS, usize::MAX))
    }

    /// Completes every pending op of `kind` with success.
    pub fn complete_all(&self, kind: CallKind) -> usize {
        let ids = self.pending_of(kind);
        for id in &ids {
            self.complete(*id, NtStatus::STATUS_SUCCESS, usize::MAX);
        }
        ids.len()
    }

    /// Runs every armed timer callback.
    pub fn fire_timers(&self) -> usize {
        let timers: Vec<_> = std::mem::take(&mut self.0.lock().unwrap().timers)
            .into_values()
            .collect();
        let n = timers.len();
        for (_, cookie, t) in timers {
            t(cookie);
        }
        n
    }

    fn new_socket(&self) -> TSocket {
        let mut s = self.0.lock().unwrap();
        let id = s.next_id;
        s.next_id += 1;
        s.created += 1;
        s.socks.insert(id, SockInfo::default());
        TSocket {
            id,
            state: self.clone(),
        }
    }

    /// Enters a call on `sock`: checks and logs it. Returns the op id.
    fn enter(&self, sock: u64, kind: CallKind) -> u64 {
        let mut s = self.0.lock().unwrap();
        let id = s.next_id;
        s.next_id += 1;
        s.calls.push(Call { sock, kind, op: id });
        s.op_sock.insert(id, sock);
        if sock != 0 {
            let info = s.socks.entry(sock).or_default();
            let closed = info.closed;
            let in_call = info.in_call;
            info.in_call += 1;
            if kind == CallKind::Close {
                info.closed = true;
            }
            if closed {
                s.violations
                    .push(format!("{kind:?} on socket {sock} after its close"));
            } else if kind == CallKind::Close && in_call > 0 {
                s.violations.push(format!(
                    "close of socket {sock} while {in_call} call(s) in progress"
                ));
            }
        }
        id
    }

    fn leave(&self, sock: u64) {
        if sock != 0 {
            let mut s = self.0.lock().unwrap();
            if let Some(i) = s.socks.get_mut(&sock) {
                i.in_call -= 1;
            }
        }
    }

    /// Registers a pending op (or completes it at once if auto); returns its cancel reference.
    fn op(&self, sock: u64, kind: CallKind, buf: Option<TBuf>, done: Completion<Self>) -> Option<u64> {
        let id = self.enter(sock, kind);
        let auto = self.0.lock().unwrap().auto.contains(&kind);
        let r = if auto {
            let value = match kind {
                CallKind::Create => OpValue::Socket(self.new_socket()),
                CallKind::GetOption => OpValue::Value(7),
                CallKind::GetAddress => OpValue::Address("127.0.0.1:4".parse().unwrap()),
                CallKind::Resolve => OpValue::Addresses(vec!["127.0.0.1:80".parse().unwrap()]),
                _ => OpValue::None,
            };
            let bytes = buf.as_ref().map_or(0, |b| b.0.len());
            done.complete(OpOutput {
                status: NtStatus::STATUS_SUCCESS,
                bytes,
                buffer: buf,
                value,
            });
            None
        } else {
            self.0.lock().unwrap().pending.insert(
                id,
                PendingOp {
                    sock,
                    kind,
                    done,
                    buf,
                },
            );
            Some(id)
        };
        self.leave(sock);
        r
    }
}

impl Provider for Scripted {
    type Socket = TSocket;
    type Buffer = TBuf;
    type OpRef = u64;
    type TimerRef = TTimer;
    type RawLock = TestRawLock;

    fn new_raw_lock(&self) -> TestRawLock {
        new_lock()
    }

    fn create_socket(&self, p: SocketParams, done: Completion<Self>) -> Option<u64> {
        self.0.lock().unwrap().owners.push(p.owner);
        self.op(0, CallKind::Create, None, done)
    }

    fn bind(&self, s: &TSocket, _a: SocketAddr, done: Completion<Self>) -> Option<u64> {
        self.op(s.id, CallKind::Bind, None, done)
    }

    fn listen(&self, s: &TSocket, _b: u32, done: Completion<Self>) -> Option<u64> {
        self.op(s.id, CallKind::Listen, None, done)
    }

    fn accept(&self, s: &TSocket, done: Completion<Self>) -> Option<u64> {
        self.op(s.id, CallKind::Accept, None, done)
    }

    fn connect(&self, s: &TSocket, _r: SocketAddr, done: Completion<Self>) -> Option<u64> {
        self.op(s.id, CallKind::Connect, None, done)
    }

    fn send(&self, s: &TSocket, buf: TBuf, f: u32, done: Completion<Self>) -> Option<u64> {
        self.0.lock().unwrap().data_flags.push((CallKind::Send, f));
        self.op(s.id, CallKind::Send, Some(buf), done)
    }

    fn receive(&self, s: &TSocket, buf: TBuf, f: u32, done: Completion<Self>) -> Option<u64> {
        self.0.lock().unwrap().data_flags.push((CallKind::Receive, f));
        self.op(s.id, CallKind::Receive, Some(buf), done)
    }

    fn wait_peer_close(&self, s: &TSocket, done: Completion<Self>) -> Option<u64> {
        self.op(s.id, CallKind::WaitPeerClose, None, done)
    }

    fn send_to(&self, s: &TSocket, buf: TBuf, _r: SocketAddr, done: Completion<Self>) -> Option<u64> {
        self.op(s.id, CallKind::SendTo, Some(buf), done)
    }

    fn receive_from(&self, s: &TSocket, buf: TBuf, done: Completion<Self>) -> Option<u64> {
        self.op(s.id, CallKind::ReceiveFrom, Some(buf), done)
    }

    fn disconnect(&self, s: &TSocket, abortive: bool, done: Completion<Self>) -> Option<u64> {
        if self.0.lock().unwrap().disconnect_not_implemented {
            self.enter(s.id, CallKind::Disconnect { abortive });
            done.complete(OpOutput::status(NtStatus::STATUS_NOT_IMPLEMENTED));
            self.leave(s.id);
            return None;
        }
        self.op(s.id, CallKind::Disconnect { abortive }, None, done)
    }

    fn close(&self, s: &TSocket, done: Completion<Self>) -> Option<u64> {
        let id = self.enter(s.id, CallKind::Close);
        // WskCloseSocket cancels and completes what is pending, then completes itself.
        let (victims, auto): (Vec<PendingOp>, bool) = {
            let mut st = self.0.lock().unwrap();
            let ids: Vec<u64> = st
                .pending
                .iter()
                .filter(|(_, p)| p.sock == s.id && st.close_completes_pending)
                .map(|(i, _)| *i)
                .collect();
            let v = ids.into_iter().filter_map(|i| st.pending.remove(&i)).collect();
            (v, st.auto.contains(&CallKind::Close))
        };
        for p in victims {
            p.done.complete(OpOutput {
                status: NtStatus::STATUS_CANCELLED,
                bytes: 0,
                buffer: p.buf,
                value: OpValue::None,
            });
        }
        let r = if auto {
            self.0
                .lock()
                .unwrap()
                .socks
                .entry(s.id)
                .or_default()
                .close_completed = true;
            done.complete(OpOutput::status(NtStatus::STATUS_SUCCESS));
            None
        } else {
            self.0.lock().unwrap().pending.insert(
                id,
                PendingOp {
                    sock: s.id,
                    kind: CallKind::Close,
                    done,
                    buf: None,
                },
            );
            Some(id)
        };
        self.leave(s.id);
        r
    }

    fn set_option(&self, s: &TSocket, _o: SockOpt, _v: u32, done: Completion<Self>) -> Option<u64> {
        self.op(s.id, CallKind::SetOption, None, done)
    }

    fn get_option(&self, s: &TSocket, _o: SockOpt, done: Completion<Self>) -> Option<u64> {
        self.op(s.id, CallKind::GetOption, None, done)
    }

    fn get_address(&self, s: &TSocket, _w: AddrKind, done: Completion<Self>) -> Option<u64> {
        self.op(s.id, CallKind::GetAddress, None, done)
    }

    fn resolve(&self, _n: &str, _f: Option<Family>, _p: u16, done: Completion<Self>) -> Option<u64> {
        self.op(0, CallKind::Resolve, None, done)
    }

    fn cancel(&self, op: &u64) {
        // A cancel is a call on the operation's socket like any other: it counts as in progress
        // (a close meanwhile is a violation) and must not come after the close.
        let (mode, sock) = {
            let mut s = self.0.lock().unwrap();
            let sock = s.op_sock.get(op).copied().unwrap_or(0);
            s.calls.push(Call {
                sock,
                kind: CallKind::Cancel,
                op: *op,
            });
            if sock != 0 {
                let info = s.socks.entry(sock).or_default();
                info.in_call += 1;
                if info.closed {
                    s.violations
                        .push(format!("cancel of op {op} on socket {sock} after its close"));
                }
            }
            (s.cancel_mode, sock)
        };
        if mode == CancelMode::Immediate {
            // Like a WSK cancel routine: completes the IRP inside IoCancelIrp.
            self.complete(*op, NtStatus::STATUS_CANCELLED, 0);
        }
        self.leave(sock);
    }

    fn new_timer(&self, callback: TimerCallback) -> Option<TTimer> {
        if self.next_allocation_fails() {
            return None;
        }
        let mut s = self.0.lock().unwrap();
        let id = s.next_id;
        s.next_id += 1;
        s.unarmed.insert(id, callback);
        Some(TTimer {
            id,
            provider: self.clone(),
        })
    }

    fn arm_timer(&self, t: &TTimer, ms: u64, cookie: u64) {
        let hook = self.0.lock().unwrap().start_timer_hook.take();
        if let Some(f) = hook {
            f();
        }
        let mut s = self.0.lock().unwrap();
        match s.unarmed.remove(&t.id) {
            Some(cb) => {
                s.timers.insert(t.id, (ms, cookie, cb));
            }
            None => s
                .violations
                .push(format!("timer {} armed while armed or spent", t.id)),
        }
    }

    fn cancel_timer(&self, t: &TTimer) -> bool {
        let mut s = self.0.lock().unwrap();
        if s.unarmed.contains_key(&t.id) {
            return true;
        }
        match s.timers.remove(&t.id) {
            Some((_, _, cb)) => {
                s.unarmed.insert(t.id, cb);
                true
            }
            // Fired: its callback ran (or runs).
            None => false,
        }
    }

    fn allocation_fails(&self) -> bool {
        self.next_allocation_fails()
    }
}

/// A timer of the scripted provider: dropping it forgets its callback if it is not armed.
pub struct TTimer {
    pub id: u64,
    provider: Scripted,
}

impl Drop for TTimer {
    fn drop(&mut self) {
        // The callback goes after the lock: dropping it may drop a socket, whose timer is dropped.
        let cb = self.provider.0.lock().unwrap().unarmed.remove(&self.id);
        drop(cb);
    }
}

impl Scripted {
    /// The close of a socket whose close was left pending (auto Close off).
    pub fn complete_close(&self, id: u64) -> bool {
        let sock = self.0.lock().unwrap().pending.get(&id).map(|p| p.sock);
        if let Some(sock) = sock {
            self.0
                .lock()
                .unwrap()
                .socks
                .entry(sock)
                .or_default()
                .close_completed = true;
        }
        self.complete(id, NtStatus::STATUS_SUCCESS, 0)
    }
}

//! The contract checker: Driver Verifier for the WSK rules of [`wsksock_core::provider`].
//!
//! A [`Checker`] is told about every socket, every call into a socket and every operation, and
//! records each broken rule as a [`Violation`] with a message naming the socket, the call and the
//! operation. It never stops the program: the offending call still gets a status, and the test
//! fails at [`Checker::assert_clean`]. The host provider has one built in
//! ([`crate::HostProvider::checker`]); [`crate::Verifier`] puts one around any provider.
//!
//! Rules (one [`ViolationKind`] each):
//! - no call on a socket while its close is in progress, and none after its close completed —
//!   `cancel` (`IoCancelIrp` on one of the socket's operations) included, since a WSK cancel
//!   routine reaches into the socket;
//! - no `close` while another call on the same socket is in progress (a completion that runs
//!   inside a call counts as inside it, as an IRP completed synchronously does), and no second
//!   `close`;
//! - every operation completes exactly once: a completion for an operation the checker never
//!   saw, or for one already completed, is recorded;
//! - a data operation gives its buffer back;
//! - nothing is left when the provider is torn down: no operation pending, no socket open;
//! - deregistration (`WskDeregister`) with sockets still open; any call after teardown;
//! - a call a socket of that kind does not have (e.g. `send` on a listening socket: there is no
//!   such entry in its WSK dispatch table);
//! - a completion or timer callback that panicked on one of the provider's own threads (a
//!   bugcheck in the driver; here the thread survives so the test can report it).
//!
//! # Lock order
//! The checker's mutex is a leaf: nothing else is locked and nothing is called while it is held.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt;

/// A provider call, for messages.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Call {
    /// `create_socket` (WskSocket).
    CreateSocket,
    /// `bind`.
    Bind,
    /// `listen`.
    Listen,
    /// `accept`.
    Accept,
    /// `connect`.
    Connect,
    /// `send`.
    Send,
    /// `receive`.
    Receive,
    /// `send_to`.
    SendTo,
    /// `receive_from`.
    ReceiveFrom,
    /// `disconnect`.
    Disconnect,
    /// `close` (WskCloseSocket).
    Close,
    /// `set_option`.
    SetOption,
    /// `get_option`.
    GetOption,
    /// `get_address`.
    GetAddress,
    /// `resolve` (WskGetAddressInfo).
    Resolve,
    /// `cancel` (IoCancelIrp): a call on the socket of the operation it names.
    Cancel,
    /// `wait_peer_close` (the disconnect event).
    WaitPeerClose,
}

impl Call {
    /// Every call, in trait order.
    pub const ALL: [Call; 17] = [
        Call::CreateSocket,
        Call::Bind,
        Call::Listen,
        Call::Accept,
        Call::Connect,
        Call::Send,
        Call::Receive,
        Call::SendTo,
        Call::ReceiveFrom,
        Call::Disconnect,
        Call::Close,
        Call::SetOption,
        Call::GetOption,
        Call::GetAddress,
        Call::Resolve,
        Call::Cancel,
        Call::WaitPeerClose,
    ];

    /// The trait method's name.
    pub fn name(self) -> &'static str {
        match self {
            Call::CreateSocket => "create_socket",
            Call::Bind => "bind",
            Call::Listen => "listen",
            Call::Accept => "accept",
            Call::Connect => "connect",
            Call::Send => "send",
            Call::Receive => "receive",
            Call::SendTo => "send_to",
            Call::ReceiveFrom => "receive_from",
            Call::Disconnect => "disconnect",
            Call::Close => "close",
            Call::SetOption => "set_option",
            Call::GetOption => "get_option",
            Call::GetAddress => "get_address",
            Call::Resolve => "resolve",
            Call::Cancel => "cancel",
            Call::WaitPeerClose => "wait_peer_close",
        }
    }

    /// Whether the operation carries a data buffer that must come back in its output.
    pub fn has_buffer(self) -> bool {
        matches!(
            self,
            Call::Send | Call::Receive | Call::SendTo | Call::ReceiveFrom
        )
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which rule a violation broke.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum ViolationKind {
    /// A call on a socket whose close was called and has not completed.
    CallWhileClosing,
    /// A call on a socket whose close completed.
    CallAfterClose,
    /// `close` while another call on the socket was in progress.
    CloseWhileCallInProgress,
    /// A second `close` of one socket.
    DoubleClose,
    /// A call naming a socket the checker never saw.
    UnknownSocket,
    /// A completion for an operation the checker never saw.
    UnknownCompletion,
    /// A second completion of one operation.
    DoubleCompletion,
    /// A data operation completed without giving its buffer back.
    BufferNotReturned,
    /// An operation still pending at teardown.
    LeakedOperation,
    /// A socket still open at teardown.
    LeakedSocket,
    /// Deregistration with sockets still open.
    DeregisterWithSocketsOpen,
    /// A call after the provider was torn down or deregistered.
    CallAfterTeardown,
    /// A call the socket's kind does not have.
    WrongSocketKind,
    /// A completion or timer callback panicked on a provider thread (the thread went on).
    CallbackPanicked,
}

/// One broken rule.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Violation {
    /// The rule.
    pub kind: ViolationKind,
    /// What happened, naming the socket, call and operation.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Usable.
    Open,
    /// `close` called, not completed.
    Closing,
    /// `close` completed.
    Closed,
}

struct SockTrack {
    label: String,
    phase: Phase,
    /// Calls on this socket that have entered and not returned.
    in_progress: Vec<Call>,
}

struct OpTrack {
    socket: Option<u64>,
    call: Call,
}

#[derive(Default)]
struct State {
    sockets: HashMap<u64, SockTrack>,
    ops: HashMap<u64, OpTrack>,
    next_socket: u64,
    next_op: u64,
    violations: Vec<Violation>,
    torn_down: bool,
    deregistered: bool,
}

impl State {
    fn record(&mut self, name: &str, kind: ViolationKind, message: String) {
        eprintln!("wsksock-emu checker [{name}]: {kind:?}: {message}");
        self.violations.push(Violation { kind, message });
    }
}

/// Records broken WSK rules. Shared (`Arc`) between a provider and the test.
pub struct Checker {
    name: String,
    state: Mutex<State>,
}

/// A call in progress on a socket; ends when dropped.
#[must_use = "the call is in progress until the guard is dropped"]
pub struct CallGuard<'a> {
    checker: &'a Checker,
    socket: u64,
    call: Call,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.checker.state.lock();
        let mut forget = false;
        if let Some(s) = st.sockets.get_mut(&self.socket) {
            if let Some(i) = s.in_progress.iter().rposition(|c| *c == self.call) {
                s.in_progress.swap_remove(i);
            }
            forget = s.phase == Phase::Closed && s.in_progress.is_empty();
        }
        if forget {
            st.sockets.remove(&self.socket);
        }
    }
}

impl Checker {
    /// A checker; `name` prefixes its messages (e.g. "host", "verifier").
    pub fn new(name: &str) -> Self {
        Checker {
            name: name.to_owned(),
            state: Mutex::new(State {
                next_socket: 1,
                next_op: 1,
                ..State::default()
            }),
        }
    }

    /// Records a violation directly.
    pub fn record(&self, kind: ViolationKind, message: String) {
        self.state.lock().record(&self.name, kind, message);
    }

    /// A new socket; returns its id. `label` describes it in messages (e.g. "stream/V4").
    pub fn socket_created(&self, label: &str) -> u64 {
        let mut st = self.state.lock();
        let id = st.next_socket;
        st.next_socket += 1;
        st.sockets.insert(
            id,
            SockTrack {
                label: label.to_owned(),
                phase: Phase::Open,
                in_progress: Vec::new(),
            },
        );
        id
    }

    /// A call that names no socket (create, resolve) begins: only checks for teardown.
    /// Returns false if the call must be refused (after teardown).
    pub fn enter_global(&self, call: Call) -> bool {
        let mut st = self.state.lock();
        if st.torn_down || st.deregistered {
            let msg = format!("{call} called after the provider was torn down or deregistered");
            st.record(&self.name, ViolationKind::CallAfterTeardown, msg);
            return false;
        }
        true
    }

    /// A call on `socket` begins. Records a violation if the socket is closing or closed (the
    /// call should then be refused: the return value is false), unknown, or if the provider was
    /// torn down. `close` must use [`Checker::enter_close`].
    pub fn enter(&self, socket: u64, call: Call) -> (CallGuard<'_>, bool) {
        let mut st = self.state.lock();
        let mut ok = true;
        if st.torn_down || st.deregistered {
            let msg = format!("{call} on socket #{socket} after the provider was torn down or deregistered");
            st.record(&self.name, ViolationKind::CallAfterTeardown, msg);
            ok = false;
        }
        let created = socket != 0 && socket < st.next_socket;
        let (violation, label) = match st.sockets.get_mut(&socket) {
            // Closed sockets are forgotten once nothing is in progress on them.
            None if created => (
                Some((ViolationKind::CallAfterClose, "after its close completed")),
                "closed".into(),
            ),
            None => (
                Some((ViolationKind::UnknownSocket, "never created")),
                "unknown".into(),
            ),
            Some(s) => {
                s.in_progress.push(call);
                let v = match s.phase {
                    // Open: nothing to report.
                    Phase::Open => None,
                    // Closing: the WSK rule "no call while close is in progress".
                    Phase::Closing => {
                        Some((ViolationKind::CallWhileClosing, "while its close is in progress"))
                    }
                    // Closed: the socket is freed memory in WSK.
                    Phase::Closed => Some((ViolationKind::CallAfterClose, "after its close completed")),
                };
                (v, s.label.clone())
            }
        };
        if let Some((kind, what)) = violation {
            let msg = format!("{call} on socket #{socket} ({label}) {what}");
            st.record(&self.name, kind, msg);
            ok = false;
        }
        (
            CallGuard {
                checker: self,
                socket,
                call,
            },
            ok,
        )
    }

    /// `close` of `socket` begins. Records a violation if another call on it is in progress or
    /// it is already closing or closed; returns false if the close must be refused (second close).
    pub fn enter_close(&self, socket: u64) -> (CallGuard<'_>, bool) {
        let mut st = self.state.lock();
        let mut ok = true;
        if st.torn_down || st.deregistered {
            let msg = format!("close of socket #{socket} after the provider was torn down or deregistered");
            st.record(&self.name, ViolationKind::CallAfterTeardown, msg);
            ok = false;
        }
        let mut found = Vec::new();
        let created = socket != 0 && socket < st.next_socket;
        match st.sockets.get_mut(&socket) {
            None if created => {
                ok = false;
                found.push((
                    ViolationKind::DoubleClose,
                    format!("second close of socket #{socket} (closed)"),
                ));
            }
            None => found.push((
                ViolationKind::UnknownSocket,
                format!("close of unknown socket #{socket}"),
            )),
            Some(s) => {
                if !s.in_progress.is_empty() {
                    let calls: Vec<&str> = s.in_progress.iter().map(|c| c.name()).collect();
                    found.push((
                        ViolationKind::CloseWhileCallInProgress,
                        format!(
                            "close of socket #{socket} ({}) while {} in progress on it",
                            s.label,
                            calls.join(", ")
                        ),
                    ));
                }
                match s.phase {
                    // Open: the normal case.
                    Phase::Open => s.phase = Phase::Closing,
                    // Closing or Closed: a second close.
                    Phase::Closing | Phase::Closed => {
                        ok = false;
                        found.push((
                            ViolationKind::DoubleClose,
                            format!("second close of socket #{socket} ({})", s.label),
                        ));
                    }
                }
                s.in_progress.push(Call::Close);
            }
        }
        for (kind, msg) in found {
            st.record(&self.name, kind, msg);
        }
        (
            CallGuard {
                checker: self,
                socket,
                call: Call::Close,
            },
            ok,
        )
    }

    /// The close of `socket` completed.
    pub fn close_completed(&self, socket: u64) {
        let mut st = self.state.lock();
        let forget = match st.sockets.get_mut(&socket) {
            Some(s) => {
                s.phase = Phase::Closed;
                s.in_progress.is_empty()
            }
            None => false,
        };
        if forget {
            // Memory stays bounded; a later call is still recognised (ids are never reused).
            st.sockets.remove(&socket);
        }
    }

    /// A socket kind was asked for a call it does not have.
    pub fn wrong_kind(&self, socket: u64, call: Call) {
        let mut st = self.state.lock();
        let label = st
            .sockets
            .get(&socket)
            .map(|s| s.label.clone())
            .unwrap_or_default();
        let msg = format!("{call} on socket #{socket} ({label}), whose WSK dispatch table has no such call");
        st.record(&self.name, ViolationKind::WrongSocketKind, msg);
    }

    /// An operation starts; returns its id.
    pub fn op_started(&self, socket: Option<u64>, call: Call) -> u64 {
        let mut st = self.state.lock();
        let id = st.next_op;
        st.next_op += 1;
        st.ops.insert(id, OpTrack { socket, call });
        id
    }

    /// Operation `op` completes. Records a violation if it is unknown or already completed,
    /// and returns false then.
    pub fn op_completed(&self, op: u64) -> bool {
        let mut st = self.state.lock();
        if st.ops.remove(&op).is_some() {
            return true;
        }
        let (kind, msg) = if op == 0 || op >= st.next_op {
            (
                ViolationKind::UnknownCompletion,
                format!("completion for unknown operation #{op}"),
            )
        } else {
            (
                ViolationKind::DoubleCompletion,
                format!("second completion of operation #{op}"),
            )
        };
        st.record(&self.name, kind, msg);
        false
    }

    /// A data operation completed without its buffer.
    pub fn buffer_not_returned(&self, op: u64, call: Call) {
        self.record(
            ViolationKind::BufferNotReturned,
            format!("{call} operation #{op} completed without giving its buffer back"),
        );
    }

    /// Calls on `socket` that have entered and not yet returned.
    pub fn calls_in_progress(&self, socket: u64) -> usize {
        self.state
            .lock()
            .sockets
            .get(&socket)
            .map_or(0, |s| s.in_progress.len())
    }

    /// Operations started and not completed.
    pub fn pending_ops(&self) -> usize {
        self.state.lock().ops.len()
    }

    /// Sockets created and not closed (close not completed).
    pub fn open_sockets(&self) -> usize {
        self.state
            .lock()
            .sockets
            .values()
            .filter(|s| s.phase != Phase::Closed)
            .count()
    }

    /// `WskDeregister`: records a violation per socket still open. Later calls are violations.
    pub fn deregister(&self) {
        let mut st = self.state.lock();
        let mut open: Vec<(u64, String)> = st
            .sockets
            .iter()
            .filter(|(_, s)| s.phase != Phase::Closed)
            .map(|(id, s)| (*id, s.label.clone()))
            .collect();
        open.sort_unstable();
        for (id, label) in open {
            let msg = format!("deregistration with socket #{id} ({label}) still open");
            st.record(&self.name, ViolationKind::DeregisterWithSocketsOpen, msg);
        }
        st.deregistered = true;
    }

    /// Teardown: records every operation still pending and every socket still open. Idempotent.
    pub fn teardown(&self) {
        let mut st = self.state.lock();
        if st.torn_down {
            return;
        }
        st.torn_down = true;
        let mut ops: Vec<(u64, Call, Option<u64>)> =
            st.ops.iter().map(|(id, o)| (*id, o.call, o.socket)).collect();
        ops.sort_unstable_by_key(|o| o.0);
        for (id, call, socket) in ops {
            let on = socket.map(|s| format!(" on socket #{s}")).unwrap_or_default();
            st.record(
                &self.name,
                ViolationKind::LeakedOperation,
                format!("{call} operation #{id}{on} still pending at teardown"),
            );
        }
        let mut open: Vec<(u64, String)> = st
            .sockets
            .iter()
            .filter(|(_, s)| s.phase != Phase::Closed)
            .map(|(id, s)| (*id, s.label.clone()))
            .collect();
        open.sort_unstable();
        for (id, label) in open {
            st.record(
                &self.name,
                ViolationKind::LeakedSocket,
                format!("socket #{id} ({label}) still open at teardown"),
            );
        }
    }

    /// Every violation recorded so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.state.lock().violations.clone()
    }

    /// Removes and returns the violations recorded so far (for tests that provoke them).
    pub fn take_violations(&self) -> Vec<Violation> {
        core::mem::take(&mut self.state.lock().violations)
    }

    /// Whether no violation was recorded.
    pub fn is_clean(&self) -> bool {
        self.state.lock().violations.is_empty()
    }

    /// Panics, listing every violation, if any was recorded.
    #[track_caller]
    pub fn assert_clean(&self) {
        let v = self.violations();
        if !v.is_empty() {
            let list: Vec<String> = v.iter().map(|v| format!("  - {v}")).collect();
            panic!(
                "{} WSK contract violation(s) recorded by checker '{}':\n{}",
                v.len(),
                self.name,
                list.join("\n")
            );
        }
    }
}

impl fmt::Debug for Checker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct("Checker")
            .field("name", &self.name)
            .field("sockets", &st.sockets.len())
            .field("pending_ops", &st.ops.len())
            .field("violations", &st.violations.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_is_recorded_once() {
        let c = Checker::new("t");
        let s = c.socket_created("stream/V4");
        {
            let (_send, ok) = c.enter(s, Call::Send);
            assert!(ok);
            let (_close, ok) = c.enter_close(s);
            assert!(ok, "the first close goes ahead even when it breaks a rule");
        }
        assert_eq!(
            c.take_violations()[0].kind,
            ViolationKind::CloseWhileCallInProgress
        );
        let (g, ok) = c.enter(s, Call::Receive);
        assert!(!ok);
        drop(g);
        c.close_completed(s);
        let (g, ok) = c.enter(s, Call::Receive);
        assert!(!ok);
        drop(g);
        let kinds: Vec<ViolationKind> = c.take_violations().iter().map(|v| v.kind).collect();
        assert_eq!(
            kinds,
            [ViolationKind::CallWhileClosing, ViolationKind::CallAfterClose]
        );

        let op = c.op_started(Some(s), Call::Receive);
        assert!(c.op_completed(op));
        assert!(!c.op_completed(op));
        assert!(!c.op_completed(999));
        let kinds: Vec<ViolationKind> = c.take_violations().iter().map(|v| v.kind).collect();
        assert_eq!(
            kinds,
            [ViolationKind::DoubleCompletion, ViolationKind::UnknownCompletion]
        );

        let s2 = c.socket_created("listen/V6");
        let _op = c.op_started(Some(s2), Call::Accept);
        c.deregister();
        c.teardown();
        let kinds: Vec<ViolationKind> = c.take_violations().iter().map(|v| v.kind).collect();
        assert_eq!(
            kinds,
            [
                ViolationKind::DeregisterWithSocketsOpen,
                ViolationKind::LeakedOperation,
                ViolationKind::LeakedSocket
            ]
        );
        assert!(!c.enter_global(Call::Resolve));
        assert!(c.violations()[0].message.contains("torn down"));
    }

    #[test]
    #[should_panic(expected = "1 WSK contract violation")]
    fn assert_clean_panics_with_the_list() {
        let c = Checker::new("t");
        c.record(ViolationKind::UnknownSocket, "x".into());
        c.assert_clean();
    }
}

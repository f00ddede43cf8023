//! Sequences of requests: an arbitrary list of [`Action`]s run by two clients against the engine,
//! naming the handles earlier actions created (so the fuzzer reaches every state of a socket),
//! connecting to the reading peer, to listening sockets of the sequence, or to a closed port.
//! Closes come in every mode, with and without the wait flag; clients are cleaned up mid-way.
//! Along the way: a handle this client closed is refused with STATUS_INVALID_HANDLE. At the end
//! the clients go away and [`crate::settle`] checks that nothing is left.

use crate::harness;
use arbitrary::Arbitrary;
use std::net::SocketAddr;
use std::time::Duration;
use wsksock_abi::addr::{AF_INET, AF_INET6};
use wsksock_abi::msg::{self, AddressWhich, Message, ShutdownHow, SocketKind, SocketOption};
use wsksock_abi::{Handle, NtStatus, Op};
use wsksock_tools::channel::{Channel, Output, Pending};
use wsksock_tools::{Client, CloseMode};
use zerocopy::IntoBytes;

/// Where a CONNECT goes.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Target {
    /// The reading peer.
    Sink,
    /// A listening socket of this sequence (its address from GET_ADDRESS).
    Listener(u8),
    /// A port nobody listens on.
    Refused,
}

/// One step.
#[derive(Arbitrary, Debug, Clone)]
pub enum Action {
    /// SOCKET.
    Socket { client: bool, kind: u8, v6: bool },
    /// BIND to loopback, any port.
    Bind { h: u8 },
    /// LISTEN.
    Listen { h: u8, backlog: u8 },
    /// ACCEPT (pends).
    Accept { h: u8 },
    /// CONNECT (pends).
    Connect { h: u8, to: Target },
    /// SEND of `len` bytes (pends).
    Send { h: u8, len: u16 },
    /// RECEIVE (pends), maybe WAITALL.
    Receive { h: u8, len: u16, waitall: bool },
    /// SEND_TO the reading peer's address (datagram sockets).
    SendTo { h: u8, len: u16 },
    /// RECEIVE_FROM (pends).
    ReceiveFrom { h: u8, len: u16 },
    /// SHUTDOWN.
    Shutdown { h: u8, abort: bool },
    /// SET_OPTION.
    SetOption {
        h: u8,
        option: u8,
        value: u32,
        value2: u8,
    },
    /// GET_OPTION.
    GetOption { h: u8, option: u8 },
    /// GET_ADDRESS.
    GetAddress { h: u8, peer: bool },
    /// DUPLICATE into this client or the other.
    Duplicate { h: u8, other: bool },
    /// CLOSE.
    Close { h: u8, mode: u8, secs: u8, wait: bool },
    /// CANCEL.
    Cancel { h: u8 },
    /// CancelIoEx on a pending request.
    CancelRequest { i: u8 },
    /// STATISTICS.
    Statistics { h: u8 },
    /// A request naming a handle this client closed.
    Stale { h: u8 },
    /// A raw request of operation `op` with a live handle patched in at `at`.
    Raw { op: u8, h: u8, at: u8, bytes: Vec<u8> },
    /// IRP_MJ_CLEANUP of a client (a new one takes its place).
    Cleanup { client: bool },
    /// Let completions happen.
    Pause,
}

struct Live {
    client: usize,
    handle: Handle,
    listen: Option<SocketAddr>,
}

/// Runs `actions`, then cleans everything up and settles.
pub fn run(actions: &[Action]) {
    let h = harness();
    let mut clients: Vec<Client> = (0..2)
        .map(|_| Client::new(h.device.open().expect("open")))
        .collect();
    let mut ids: Vec<u64> = clients
        .iter()
        .map(|c| c.client_info().map_or(0, |i| i.client_id))
        .collect();
    let mut live: Vec<Live> = Vec::new();
    let mut closed: Vec<(usize, Handle)> = Vec::new();
    let mut pendings: Vec<Pending> = Vec::new();
    let refused = h.refused;
    let pick = |live: &Vec<Live>, h: u8| -> Option<usize> {
        (!live.is_empty()).then(|| usize::from(h) % live.len())
    };
    for a in actions.iter().take(64) {
        match a.clone() {
            Action::Socket { client, kind, v6 } => {
                let ci = usize::from(client);
                let kind = match kind % 3 {
                    0 => SocketKind::Stream,
                    1 => SocketKind::Datagram,
                    _ => SocketKind::Listen,
                };
                if let Ok(handle) = clients[ci].socket(if v6 { AF_INET6 } else { AF_INET }, kind) {
                    live.push(Live {
                        client: ci,
                        handle,
                        listen: None,
                    });
                }
            }
            Action::Bind { h: i } => {
                if let Some(i) = pick(&live, i) {
                    let l = &live[i];
                    let c = &clients[l.client];
                    // The family must match the socket's: try v4, then v6.
                    let v4: SocketAddr = "127.0.0.1:0".parse().expect("literal");
                    let v6: SocketAddr = "[::1]:0".parse().expect("literal");
                    if let Err(e) = c.bind(l.handle, v4) {
                        if e.status == NtStatus::STATUS_INVALID_ADDRESS {
                            let _ = c.bind(l.handle, v6);
                        }
                    }
                    if let Ok(addr) = c.address(l.handle, AddressWhich::Local) {
                        live[i].listen = Some(addr);
                    }
                }
            }
            Action::Listen { h: i, backlog } => {
                if let Some(i) = pick(&live, i) {
                    let _ = clients[live[i].client].listen(live[i].handle, u32::from(backlog));
                }
            }
            Action::Accept { h: i } => {
                if let Some(i) = pick(&live, i) {
                    pendings.push(clients[live[i].client].accept(live[i].handle));
                }
            }
            Action::Connect { h: i, to } => {
                if let Some(i) = pick(&live, i) {
                    let to = match to {
                        Target::Sink => h.sink,
                        Target::Refused => refused,
                        Target::Listener(j) => {
                            // Not the socket's own address: a socket connected to itself is its
                            // own peer that never reads, and its graceful close (SO_DONTLINGER)
                            // then waits until unload, by design (see docs/RELIABILITY.md).
                            let own = live[i].listen;
                            let listeners: Vec<SocketAddr> = live
                                .iter()
                                .filter_map(|l| l.listen)
                                .filter(|a| Some(*a) != own)
                                .collect();
                            if listeners.is_empty() {
                                h.sink
                            } else {
                                listeners[usize::from(j) % listeners.len()]
                            }
                        }
                    };
                    pendings.push(clients[live[i].client].connect(live[i].handle, to));
                }
            }
            Action::Send { h: i, len } => {
                if let Some(i) = pick(&live, i) {
                    let data = vec![0xA5; usize::from(len)];
                    pendings.push(clients[live[i].client].send(live[i].handle, data));
                }
            }
            Action::Receive { h: i, len, waitall } => {
                if let Some(i) = pick(&live, i) {
                    let mut r = msg::DataRequest::new_zeroed_with_header();
                    r.handle = live[i].handle;
                    r.flags = if waitall { msg::DATA_FLAG_WAITALL } else { 0 };
                    let out = Output::Data(vec![0; usize::from(len % 8192)]);
                    pendings.push(clients[live[i].client].submit(Op::Receive, r.as_bytes().to_vec(), out));
                }
            }
            Action::SendTo { h: i, len } => {
                if let Some(i) = pick(&live, i) {
                    let to = live.iter().find_map(|l| l.listen).unwrap_or(h.sink);
                    let data = vec![0x3C; usize::from(len % 2048)];
                    pendings.push(clients[live[i].client].send_to(live[i].handle, data, to));
                }
            }
            Action::ReceiveFrom { h: i, len } => {
                if let Some(i) = pick(&live, i) {
                    pendings
                        .push(clients[live[i].client].receive_from(live[i].handle, usize::from(len % 2048)));
                }
            }
            Action::Shutdown { h: i, abort } => {
                if let Some(i) = pick(&live, i) {
                    let how = if abort {
                        ShutdownHow::Abort
                    } else {
                        ShutdownHow::Send
                    };
                    pendings.push(clients[live[i].client].shutdown(live[i].handle, how));
                }
            }
            Action::SetOption {
                h: i,
                option,
                value,
                value2,
            } => {
                if let Some(i) = pick(&live, i) {
                    let (opt, value, value2) = option_of(option, value, value2);
                    let _ = clients[live[i].client].set_option(live[i].handle, opt, value, value2);
                }
            }
            Action::GetOption { h: i, option } => {
                if let Some(i) = pick(&live, i) {
                    let (opt, _, _) = option_of(option, 0, 0);
                    let _ = clients[live[i].client].get_option(live[i].handle, opt);
                }
            }
            Action::GetAddress { h: i, peer } => {
                if let Some(i) = pick(&live, i) {
                    let which = if peer {
                        AddressWhich::Peer
                    } else {
                        AddressWhich::Local
                    };
                    let _ = clients[live[i].client].address(live[i].handle, which);
                }
            }
            Action::Duplicate { h: i, other } => {
                if let Some(i) = pick(&live, i) {
                    let from = live[i].client;
                    let to = if other { 1 - from } else { from };
                    let target = if other { ids[to] } else { 0 };
                    if other {
                        // The target's consent first; refused or not, DUPLICATE says.
                        let _ = clients[to].allow_duplicate(ids[from], 1);
                    }
                    if let Ok(handle) = clients[from].duplicate(live[i].handle, target) {
                        live.push(Live {
                            client: to,
                            handle,
                            listen: live[i].listen,
                        });
                    }
                }
            }
            Action::Close {
                h: i,
                mode,
                secs,
                wait,
            } => {
                if let Some(i) = pick(&live, i) {
                    let l = live.swap_remove(i);
                    let mode = match mode % 4 {
                        0 => CloseMode::Default,
                        1 => CloseMode::Graceful,
                        2 => CloseMode::Abortive,
                        _ => CloseMode::Linger,
                    };
                    let secs = if mode == CloseMode::Linger {
                        1 + u32::from(secs % 2)
                    } else {
                        0
                    };
                    let p = clients[l.client].close_pending(l.handle, mode, secs, wait);
                    if !wait {
                        let c = p
                            .wait_timeout(Duration::from_secs(10))
                            .expect("CLOSE without wait completes at once");
                        assert_eq!(c.status, NtStatus::STATUS_SUCCESS, "CLOSE of a live handle");
                    }
                    pendings.push(p);
                    closed.push((l.client, l.handle));
                }
            }
            Action::Cancel { h: i } => {
                if let Some(i) = pick(&live, i) {
                    let r = clients[live[i].client].cancel(live[i].handle);
                    assert!(r.is_ok(), "CANCEL of a live handle: {r:?}");
                }
            }
            Action::CancelRequest { i } => {
                if !pendings.is_empty() {
                    pendings[usize::from(i) % pendings.len()].cancel();
                }
            }
            Action::Statistics { h: i } => {
                if let Some(i) = pick(&live, i) {
                    let r = clients[live[i].client].statistics(live[i].handle);
                    assert!(r.is_ok(), "STATISTICS of a live handle: {r:?}");
                }
            }
            Action::Stale { h: i } => {
                if !closed.is_empty() {
                    let (ci, handle) = closed[usize::from(i) % closed.len()];
                    // Only if no live handle of that client has the same name (a reused slot has
                    // a new generation, so this never happens, but stay exact).
                    if !live.iter().any(|l| l.client == ci && l.handle == handle) {
                        let r = clients[ci].cancel(handle).map_err(|e| e.status);
                        assert_eq!(r, Err(NtStatus::STATUS_INVALID_HANDLE), "stale handle {handle:?}");
                    }
                }
            }
            Action::Raw {
                op,
                h: i,
                at,
                mut bytes,
            } => {
                let op = Op::ALL[usize::from(op) % Op::ALL.len()];
                if op == Op::Resolve {
                    continue;
                }
                let ci = match pick(&live, i) {
                    Some(i) => {
                        let hb = live[i].handle.as_bytes().to_vec();
                        let at = usize::from(at);
                        if at + 8 <= bytes.len() {
                            bytes[at..at + 8].copy_from_slice(&hb);
                        }
                        live[i].client
                    }
                    None => 0,
                };
                let chan = clients[ci].channel().clone();
                pendings.push(chan.submit(op.code(), bytes, Output::Data(vec![0; 256])));
            }
            Action::Cleanup { client } => {
                let ci = usize::from(client);
                clients[ci] = Client::new(h.device.open().expect("open"));
                ids[ci] = clients[ci].client_info().map_or(0, |i| i.client_id);
                live.retain(|l| l.client != ci);
                closed.retain(|c| c.0 != ci);
            }
            Action::Pause => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    drop(clients);
    crate::settle(&pendings);
}

fn option_of(option: u8, value: u32, value2: u8) -> (SocketOption, u32, u32) {
    match option % 6 {
        0 => (SocketOption::Linger, value % 2, u32::from(value2 % 3)),
        1 => (SocketOption::KeepAlive, value % 2, 0),
        2 => (SocketOption::NoDelay, value % 2, 0),
        3 => (SocketOption::ReceiveBuffer, value % (1 << 20), 0),
        4 => (SocketOption::SendBuffer, value % (1 << 20), 0),
        _ => (SocketOption::Ipv6Only, value % 2, 0),
    }
}

//! Request deadlines, SO_RCVTIMEO / SO_SNDTIMEO, WAIT_PEER_CLOSE, the owner of new sockets and
//! per-call flags — over the scripted provider, whose timers fire when the test says (no timed
//! assertion: a deadline "passes" when the test fires the timer).
#![allow(clippy::disallowed_methods)] // not the engine: core/clippy.toml is for src/

mod support;

use support::*;
use wsksock_abi::addr::AF_INET;
use wsksock_abi::msg::*;
use wsksock_abi::{Handle, NtStatus, Op, SockAddr};
use wsksock_core::Owner;

fn data_req(op: Op, h: Handle, len: usize, flags: u32, timeout_ms: u32) -> TReq {
    let mut m = DataRequest::new_zeroed_with_header();
    m.handle = h;
    m.flags = flags;
    m.timeout_ms = timeout_ms;
    TReq::new(op, bytes(&m)).with_data(vec![0; len])
}

fn timeout_option(h: Handle, option: SocketOption, ms: u32) -> TReq {
    let mut m = OptionRequest::new_zeroed_with_header();
    m.handle = h;
    m.option = option as u32;
    m.value = ms;
    TReq::new(Op::SetOption, bytes(&m))
}

fn stats(f: &Fixture, h: Handle) -> StatisticsReply {
    reply_of(&f.go(handle_req(Op::Statistics, h)).expect_ok())
}

fn accept_req(h: Handle, timeout_ms: u32) -> TReq {
    let mut m = AcceptRequest::new_zeroed_with_header();
    m.handle = h;
    m.timeout_ms = timeout_ms;
    TReq::new(Op::Accept, bytes(&m))
}

// ---- deadlines ------------------------------------------------------------------------------

#[test]
fn a_receive_past_its_deadline_is_cancelled_and_ends_io_timeout() {
    let f = Fixture::connected();
    let r = f.go(data_req(Op::Receive, f.handle, 16, 0, 250));
    assert!(!r.is_done());
    assert_eq!(f.provider.timer_delays(), vec![250], "one timer, of the deadline");
    assert_eq!(f.provider.fire_timers(), 1);
    // The scripted provider completes a cancelled receive at once (as WSK does).
    assert_eq!(r.status(), NtStatus::STATUS_IO_TIMEOUT);
    assert_eq!(stats(&f, f.handle).deadlines_expired, 1);
    // The socket goes on: the next receive is an ordinary one.
    let next = f.go(recv_req(f.handle, 4));
    assert!(f.provider.complete_first(CallKind::Receive));
    assert_eq!(next.status(), NtStatus::STATUS_SUCCESS);
    f.provider.assert_clean();
    f.unload_clean();
}

#[test]
fn data_that_arrives_after_the_deadline_is_returned_not_lost() {
    let f = Fixture::connected();
    // A provider that ignores the cancel (Wine): the receive stays pending past its deadline.
    f.provider.set_cancel_mode(support::scripted::CancelMode::Ignore);
    let r = f.go(data_req(Op::Receive, f.handle, 16, 0, 100));
    assert_eq!(f.provider.fire_timers(), 1);
    assert!(!r.is_done(), "the provider ignored the cancel");
    let id = f.provider.pending_of(CallKind::Receive)[0];
    assert!(f.provider.complete(id, NtStatus::STATUS_SUCCESS, 5));
    let o = r.expect_ok();
    assert_eq!(o.info, 5, "the data is the request's, deadline or not");
    assert_eq!(stats(&f, f.handle).deadlines_expired, 1, "the deadline did pass");
    f.unload_clean();
}

#[test]
fn a_completion_before_the_deadline_cancels_its_timer() {
    let f = Fixture::connected();
    let r = f.go(data_req(Op::Receive, f.handle, 16, DATA_FLAG_WAITALL, 1_000));
    assert_eq!(f.provider.timers(), 1);
    assert!(f.provider.complete_first(CallKind::Receive));
    assert_eq!(r.expect_ok().info, 16);
    assert_eq!(f.provider.timers(), 0, "the timer was cancelled");
    assert_eq!(stats(&f, f.handle).deadlines_expired, 0);
    f.unload_clean();
}

#[test]
fn a_cancel_before_the_deadline_reports_cancelled_not_a_timeout() {
    let f = Fixture::connected();
    let r = f.go(data_req(Op::Send, f.handle, 8, 0, 500));
    let n: CancelReply = reply_of(&f.go(handle_req(Op::Cancel, f.handle)).expect_ok());
    assert_eq!(n.cancelled, 1);
    assert_eq!(r.status(), NtStatus::STATUS_CANCELLED);
    assert_eq!(f.provider.timers(), 0);
    assert_eq!(stats(&f, f.handle).deadlines_expired, 0);
    f.unload_clean();
}

#[test]
fn a_close_completes_a_request_with_a_deadline_cancelled_and_frees_the_socket() {
    let f = Fixture::connected();
    let r = f.go(data_req(Op::Receive, f.handle, 16, 0, 60_000));
    f.go(close_req(f.handle, CloseMode::Abortive, 0, false))
        .expect_ok();
    assert_eq!(r.status(), NtStatus::STATUS_CANCELLED);
    f.unload_clean();
    assert_eq!(f.provider.timers(), 0, "no deadline timer outlives its socket");
    assert!(f.freed());
}

#[test]
fn so_rcvtimeo_is_the_default_of_receives_and_infinite_overrides_it() {
    let f = Fixture::connected();
    f.go(timeout_option(f.handle, SocketOption::ReceiveTimeout, 300))
        .expect_ok();
    // Kept by the engine: nothing reached WskControlSocket.
    assert!(!f.provider.calls_on(f.sock).contains(&CallKind::SetOption));
    let mut get = OptionRequest::new_zeroed_with_header();
    get.handle = f.handle;
    get.option = SocketOption::ReceiveTimeout as u32;
    let got: OptionReply = reply_of(&f.go(TReq::new(Op::GetOption, bytes(&get))).expect_ok());
    assert_eq!(got.value, 300);
    let _a = f.go(recv_req(f.handle, 4));
    assert_eq!(f.provider.timer_delays(), vec![300]);
    let _b = f.go(data_req(Op::Receive, f.handle, 4, 0, TIMEOUT_INFINITE));
    let _c = f.go(data_req(Op::Receive, f.handle, 4, 0, 40));
    let _d = f.go(send_req(f.handle, b"x"));
    assert_eq!(
        f.provider.timer_delays(),
        vec![300, 40],
        "INFINITE: none; its own: 40; a send does not take SO_RCVTIMEO"
    );
    f.unload_clean();
}

#[test]
fn so_sndtimeo_is_the_default_of_sends_and_zero_turns_it_off() {
    let f = Fixture::connected();
    f.go(timeout_option(f.handle, SocketOption::SendTimeout, 700))
        .expect_ok();
    let _a = f.go(send_req(f.handle, b"abc"));
    let _b = f.go(recv_req(f.handle, 4));
    assert_eq!(f.provider.timer_delays(), vec![700]);
    f.go(timeout_option(f.handle, SocketOption::SendTimeout, 0))
        .expect_ok();
    let _c = f.go(send_req(f.handle, b"abc"));
    assert_eq!(f.provider.timers(), 1, "SO_SNDTIMEO 0: no deadline");
    f.unload_clean();
}

#[test]
fn connect_and_accept_deadlines_end_io_timeout() {
    let (engine, provider) = engine();
    let client = engine.open_client().unwrap();
    let handle = go(&engine, &client, socket_req(AF_INET, SocketKind::Stream)).handle();
    let bind = go(&engine, &client, addr_req(Op::Bind, handle, "0.0.0.0:0"));
    provider.complete_all(CallKind::Bind);
    bind.expect_ok();
    let mut req = AddressedRequest::new_zeroed_with_header();
    req.handle = handle;
    req.addr = SockAddr::from("127.0.0.1:9".parse::<std::net::SocketAddr>().unwrap());
    req.timeout_ms = 120;
    let connect = go(&engine, &client, TReq::new(Op::Connect, bytes(&req)));
    let listener = listening(&engine, &provider, &client);
    let accept = go(&engine, &client, accept_req(listener, 80));
    assert_eq!(provider.timer_delays(), vec![120, 80]);
    assert_eq!(provider.fire_timers(), 2);
    assert_eq!(connect.status(), NtStatus::STATUS_IO_TIMEOUT);
    assert_eq!(accept.status(), NtStatus::STATUS_IO_TIMEOUT);
    unload_clean(&engine, &provider);
    provider.assert_clean();
}

#[test]
fn a_resolve_deadline_ends_io_timeout_and_unload_waits_for_nothing_more() {
    let (engine, provider) = engine();
    provider.set_auto(CallKind::Resolve, false);
    let client = engine.open_client().unwrap();
    let mut req = ResolveRequest::new_zeroed_with_header();
    req.node[..9].copy_from_slice(b"localhost");
    req.timeout_ms = 90;
    let late = go(&engine, &client, TReq::new(Op::Resolve, bytes(&req)));
    assert_eq!(provider.timer_delays(), vec![90]);
    assert_eq!(provider.fire_timers(), 1);
    assert_eq!(late.status(), NtStatus::STATUS_IO_TIMEOUT);
    assert_eq!(engine.stats().census.deadlines_expired, 1);
    // A resolve that answers in time cancels its timer.
    let ok = go(&engine, &client, TReq::new(Op::Resolve, bytes(&req)));
    assert!(provider.complete_first(CallKind::Resolve));
    assert_eq!(
        ok.status(),
        NtStatus::STATUS_NOT_FOUND,
        "the scripted resolve finds nothing"
    );
    assert_eq!(provider.timers(), 0);
    unload_clean(&engine, &provider);
}

// ---- WAIT_PEER_CLOSE ------------------------------------------------------------------------

fn peer_close(f: &Fixture) -> support::treq::Slot {
    f.go(handle_req(Op::WaitPeerClose, f.handle))
}

#[test]
fn wait_peer_close_says_fin_reset_or_failure() {
    let f = Fixture::connected();
    for (how, event) in [
        (NtStatus::STATUS_SUCCESS, PeerClose::Fin),
        (NtStatus::STATUS_CONNECTION_RESET, PeerClose::Reset),
        (NtStatus::STATUS_IO_TIMEOUT, PeerClose::Failed),
    ] {
        let w = peer_close(&f);
        assert!(!w.is_done());
        let id = f.provider.pending_of(CallKind::WaitPeerClose)[0];
        assert!(f.provider.complete_peer_close(id, how));
        let r: PeerCloseReply = reply_of(&w.expect_ok());
        assert_eq!(r.event, event as u32, "{how:?}");
        assert_eq!(NtStatus(r.status), how);
    }
    f.unload_clean();
}

#[test]
fn closing_the_handle_completes_a_peer_close_wait_cancelled() {
    let f = Fixture::connected();
    let w = peer_close(&f);
    f.go(close_req(f.handle, CloseMode::Graceful, 0, false))
        .expect_ok();
    assert_eq!(w.status(), NtStatus::STATUS_CANCELLED);
    f.unload_clean();
}

#[test]
fn peer_close_wait_can_be_cancelled_without_closing() {
    let f = Fixture::connected();
    let w = peer_close(&f);
    w.cancel();
    assert_eq!(w.status(), NtStatus::STATUS_CANCELLED);
    // The socket still works.
    let s = f.go(send_req(f.handle, b"x"));
    assert!(f.provider.complete_first(CallKind::Send));
    assert_eq!(s.status(), NtStatus::STATUS_SUCCESS);
    f.unload_clean();
}

// ---- owner, flags, census ---------------------------------------------------------------------

#[test]
fn user_clients_sockets_belong_to_their_process_kernel_clients_to_the_system() {
    let (e, p) = engine();
    let c = e.open_client().unwrap();
    go(&e, &c, socket_req(AF_INET, SocketKind::Stream).user()).expect_ok();
    go(&e, &c, socket_req(AF_INET, SocketKind::Listen)).expect_ok();
    assert_eq!(
        p.owners(),
        vec![Owner::Process(support::treq::TEST_PROCESS), Owner::System]
    );
    unload_clean(&e, &p);
}

#[test]
fn nodelay_and_waitall_reach_the_provider() {
    let f = Fixture::connected();
    let _s = f.go(data_req(Op::Send, f.handle, 4, DATA_FLAG_NODELAY, 0));
    let _r = f.go(data_req(Op::Receive, f.handle, 4, DATA_FLAG_WAITALL, 0));
    assert_eq!(
        f.provider.data_flags(),
        vec![
            (CallKind::Send, DATA_FLAG_NODELAY),
            (CallKind::Receive, DATA_FLAG_WAITALL)
        ]
    );
    f.unload_clean();
}

#[test]
fn statistics_count_sockets_by_kind_and_state() {
    let f = Fixture::connected();
    let _l = listening(&f.engine, &f.provider, &f.client);
    let dgram = f.go(socket_req(AF_INET, SocketKind::Datagram)).handle();
    let _ = dgram;
    let g = stats(&f, Handle::NULL);
    assert_eq!(
        (
            g.open_stream,
            g.connected,
            g.open_listen,
            g.open_datagram,
            g.teardowns
        ),
        (1, 1, 1, 1, 0)
    );
    // A graceful close with a send pending leaves a teardown in progress.
    let _s = f.go(send_req(f.handle, b"x"));
    f.go(close_req(f.handle, CloseMode::Graceful, 0, false))
        .expect_ok();
    let g = stats(&f, Handle::NULL);
    assert_eq!((g.open_stream, g.connected, g.teardowns), (0, 0, 1));
    f.unload_clean();
}

#[test]
fn a_version_1_statistics_request_gets_the_version_1_reply() {
    let f = Fixture::connected();
    let mut req = HandleRequest::new_zeroed_with_header();
    req.header.version = 1;
    let out = f
        .go(TReq::new(Op::Statistics, bytes(&req)).output(96))
        .expect_ok();
    assert_eq!(out.info, 96);
    let got: StatisticsReply = {
        let mut full = out.reply.clone();
        full.resize(core::mem::size_of::<StatisticsReply>(), 0);
        reply_of(&Outcome { reply: full, ..out })
    };
    assert_eq!((got.header.version, got.header.size), (1, 96));
    assert_eq!(got.sockets_alive, 1);
    // And acc_req version-1 ACCEPT (the 16-byte request) still works.
    let listener = listening(&f.engine, &f.provider, &f.client);
    let mut acc_req = HandleRequest::new_zeroed_with_header();
    acc_req.header.version = 1;
    acc_req.handle = listener;
    let acc = f.go(TReq::new(Op::Accept, bytes(&acc_req)));
    assert!(f.provider.complete_first(CallKind::Accept));
    let reply = acc.expect_ok();
    assert_eq!(reply.reply[4], 1, "the reply is headed version 1");
    f.unload_clean();
}

#ifndef WSKSOCK_H
#define WSKSOCK_H

/* Generated from the wsksock-abi crate by abi/tests/header.rs: do not edit.
 * Regenerate: WSKSOCK_BLESS=1 cargo test -p wsksock-abi --test header */

#include <stdint.h>

/*
 Windows `AF_UNSPEC`.
 */
#define WSKSOCK_AF_UNSPEC 0

/*
 Windows `AF_INET`.
 */
#define WSKSOCK_AF_INET 2

/*
 Windows `AF_INET6`.
 */
#define WSKSOCK_AF_INET6 23

/*
 The vendor device type of `\Device\WskSock` (>= 0x8000).
 */
#define WSKSOCK_DEVICE_TYPE 35420

/*
 The ABI version this crate describes (module docs and docs/ABI.md, "Versions").
 */
#define WSKSOCK_ABI_VERSION 4

/*
 The oldest ABI version the driver still accepts (module docs: "Versions").
 */
#define WSKSOCK_ABI_VERSION_MIN 1

/*
 Entries in [`ResolveReply::addrs`].
 */
#define WSKSOCK_RESOLVE_MAX_ADDRS 8

/*
 The most clients one client allows at a time (ALLOW_DUPLICATE with a non-zero count); one
 more: STATUS_INSUFFICIENT_RESOURCES.
 */
#define WSKSOCK_MAX_DUPLICATE_ALLOWANCES 8

/*
 CLOSE flag: complete the CLOSE only when the socket's teardown finished (last handle only).
 */
#define WSKSOCK_CLOSE_FLAG_WAIT_FOR_TEARDOWN 1

/*
 Receive flag: complete only when the buffer is full, the peer closed, or the deadline passed
 (`WSK_FLAG_WAITALL`).
 */
#define WSKSOCK_DATA_FLAG_WAITALL 256

/*
 Send flag (version 2): send at once, without waiting to coalesce (`WSK_FLAG_NODELAY`).
 */
#define WSKSOCK_DATA_FLAG_NODELAY 512

/*
 `timeout_ms`: no deadline of its own — a data request takes its socket's SO_RCVTIMEO /
 SO_SNDTIMEO, the others have none.
 */
#define WSKSOCK_TIMEOUT_DEFAULT 0

/*
 `timeout_ms`: no deadline, whatever the socket's default.
 */
#define WSKSOCK_TIMEOUT_INFINITE 4294967295

/*
 The longest deadline, and the longest SO_RCVTIMEO / SO_SNDTIMEO, in milliseconds (about 24.8
 days); longer values other than [`TIMEOUT_INFINITE`] get STATUS_INVALID_PARAMETER.
 */
#define WSKSOCK_TIMEOUT_MAX_MS 2147483647

/*
 The longest keepalive idle time and interval, in seconds (Linux's and Windows' limit).
 */
#define WSKSOCK_KEEPALIVE_MAX_SECONDS 32767

/*
 The most keepalive probes (Linux's limit).
 */
#define WSKSOCK_KEEPALIVE_MAX_PROBES 127

/*
 Socket kinds of SOCKET.
 */
enum WSKSOCK_SOCKET_KIND
#if __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // __STDC_VERSION__ >= 202311L
 {
  /*
   A connection-oriented (TCP) socket.
   */
  WSKSOCK_SOCKET_KIND_STREAM = 1,
  /*
   A datagram (UDP) socket.
   */
  WSKSOCK_SOCKET_KIND_DATAGRAM = 2,
  /*
   A listening socket (TCP).
   */
  WSKSOCK_SOCKET_KIND_LISTEN = 3,
};
#if __STDC_VERSION__ >= 202311L
typedef enum WSKSOCK_SOCKET_KIND WSKSOCK_SOCKET_KIND;
#else
typedef uint32_t WSKSOCK_SOCKET_KIND;
#endif // __STDC_VERSION__ >= 202311L

/*
 How CLOSE tears the socket down.
 */
enum WSKSOCK_CLOSE_MODE
#if __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // __STDC_VERSION__ >= 202311L
 {
  /*
   Follow the socket's linger option (graceful unless SO_LINGER says otherwise).
   */
  WSKSOCK_CLOSE_MODE_DEFAULT = 0,
  /*
   Graceful: pending sends finish, then FIN.
   */
  WSKSOCK_CLOSE_MODE_GRACEFUL = 1,
  /*
   Abortive: everything cancelled, then RST.
   */
  WSKSOCK_CLOSE_MODE_ABORTIVE = 2,
  /*
   Graceful within `linger_seconds`, else abortive.
   */
  WSKSOCK_CLOSE_MODE_LINGER = 3,
};
#if __STDC_VERSION__ >= 202311L
typedef enum WSKSOCK_CLOSE_MODE WSKSOCK_CLOSE_MODE;
#else
typedef uint32_t WSKSOCK_CLOSE_MODE;
#endif // __STDC_VERSION__ >= 202311L

/*
 SHUTDOWN variants.
 */
enum WSKSOCK_SHUTDOWN_HOW
#if __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // __STDC_VERSION__ >= 202311L
 {
  /*
   Graceful disconnect of the sending side (FIN after queued data).
   */
  WSKSOCK_SHUTDOWN_HOW_SEND = 1,
  /*
   Abortive disconnect (RST).
   */
  WSKSOCK_SHUTDOWN_HOW_ABORT = 2,
};
#if __STDC_VERSION__ >= 202311L
typedef enum WSKSOCK_SHUTDOWN_HOW WSKSOCK_SHUTDOWN_HOW;
#else
typedef uint32_t WSKSOCK_SHUTDOWN_HOW;
#endif // __STDC_VERSION__ >= 202311L

/*
 Options of SET_OPTION and GET_OPTION.
 */
enum WSKSOCK_SOCKET_OPTION
#if __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // __STDC_VERSION__ >= 202311L
 {
  /*
   SO_LINGER: `value` on/off, `value2` seconds. Kept by the driver, applied at close.
   */
  WSKSOCK_SOCKET_OPTION_LINGER = 1,
  /*
   SO_KEEPALIVE (0/1).
   */
  WSKSOCK_SOCKET_OPTION_KEEP_ALIVE = 2,
  /*
   TCP_NODELAY (0/1).
   */
  WSKSOCK_SOCKET_OPTION_NO_DELAY = 3,
  /*
   SO_RCVBUF in bytes.
   */
  WSKSOCK_SOCKET_OPTION_RECEIVE_BUFFER = 4,
  /*
   SO_SNDBUF in bytes.
   */
  WSKSOCK_SOCKET_OPTION_SEND_BUFFER = 5,
  /*
   IPV6_V6ONLY (0/1).
   */
  WSKSOCK_SOCKET_OPTION_IPV6_ONLY = 6,
  /*
   Version 2. SO_RCVTIMEO: the deadline in milliseconds of RECEIVE, RECEIVE_FROM and
   RECEIVE_KERNEL requests that give none (0: none; at most [`TIMEOUT_MAX_MS`]). Kept by the
   driver.
   */
  WSKSOCK_SOCKET_OPTION_RECEIVE_TIMEOUT = 7,
  /*
   Version 2. SO_SNDTIMEO: the same for SEND, SEND_TO and SEND_KERNEL.
   */
  WSKSOCK_SOCKET_OPTION_SEND_TIMEOUT = 8,
  /*
   Version 2. TCP_KEEPIDLE: seconds of silence before the first keepalive probe
   (1..=[`KEEPALIVE_MAX_SECONDS`]; stream sockets).
   */
  WSKSOCK_SOCKET_OPTION_KEEP_ALIVE_IDLE = 9,
  /*
   Version 2. TCP_KEEPINTVL: seconds between probes (1..=[`KEEPALIVE_MAX_SECONDS`]).
   */
  WSKSOCK_SOCKET_OPTION_KEEP_ALIVE_INTERVAL = 10,
  /*
   Version 2. TCP_KEEPCNT: unanswered probes before the connection is dropped
   (1..=[`KEEPALIVE_MAX_PROBES`]).
   */
  WSKSOCK_SOCKET_OPTION_KEEP_ALIVE_COUNT = 11,
};
#if __STDC_VERSION__ >= 202311L
typedef enum WSKSOCK_SOCKET_OPTION WSKSOCK_SOCKET_OPTION;
#else
typedef uint32_t WSKSOCK_SOCKET_OPTION;
#endif // __STDC_VERSION__ >= 202311L

/*
 GET_ADDRESS selector.
 */
enum WSKSOCK_ADDRESS_WHICH
#if __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // __STDC_VERSION__ >= 202311L
 {
  /*
   The local address.
   */
  WSKSOCK_ADDRESS_WHICH_LOCAL = 0,
  /*
   The peer address.
   */
  WSKSOCK_ADDRESS_WHICH_PEER = 1,
};
#if __STDC_VERSION__ >= 202311L
typedef enum WSKSOCK_ADDRESS_WHICH WSKSOCK_ADDRESS_WHICH;
#else
typedef uint32_t WSKSOCK_ADDRESS_WHICH;
#endif // __STDC_VERSION__ >= 202311L

/*
 The disconnect a teardown performed (CLOSE reply).
 */
enum WSKSOCK_DISCONNECT
#if __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // __STDC_VERSION__ >= 202311L
 {
  /*
   None: never connected, already shut down, the disconnect failed (e.g. Wine's
   STATUS_NOT_IMPLEMENTED stub), or the teardown has not run yet.
   */
  WSKSOCK_DISCONNECT_NONE = 0,
  /*
   Graceful (FIN).
   */
  WSKSOCK_DISCONNECT_GRACEFUL = 1,
  /*
   Abortive (RST).
   */
  WSKSOCK_DISCONNECT_ABORTIVE = 2,
};
#if __STDC_VERSION__ >= 202311L
typedef enum WSKSOCK_DISCONNECT WSKSOCK_DISCONNECT;
#else
typedef uint32_t WSKSOCK_DISCONNECT;
#endif // __STDC_VERSION__ >= 202311L

/*
 How a connection ended, as WAIT_PEER_CLOSE reports it (version 2).
 */
enum WSKSOCK_PEER_CLOSE
#if __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // __STDC_VERSION__ >= 202311L
 {
  /*
   The peer half-closed: FIN (data sent before it can still be received).
   */
  WSKSOCK_PEER_CLOSE_FIN = 1,
  /*
   The peer reset the connection: RST.
   */
  WSKSOCK_PEER_CLOSE_RESET = 2,
  /*
   The connection failed (keepalive found the peer dead, the connect failed, it was aborted
   here); `status` says how.
   */
  WSKSOCK_PEER_CLOSE_FAILED = 3,
};
#if __STDC_VERSION__ >= 202311L
typedef enum WSKSOCK_PEER_CLOSE WSKSOCK_PEER_CLOSE;
#else
typedef uint32_t WSKSOCK_PEER_CLOSE;
#endif // __STDC_VERSION__ >= 202311L

/*
 First bytes of every request and reply.
 */
typedef struct WSKSOCK_HEADER {
  /*
   Size of the whole struct in bytes.
   */
  uint32_t size;
  /*
   [`ABI_VERSION`].
   */
  uint16_t version;
  /*
   Must be zero.
   */
  uint16_t reserved;
} WSKSOCK_HEADER;

/*
 A client's name for one of its sockets.

 # Invariants
 A live handle never has generation 0, so [`Handle::NULL`] never names a socket. When a slot is
 freed its generation is bumped, so a closed handle stays invalid even after the slot is reused.
 */
typedef struct WSKSOCK_HANDLE {
  /*
   Slot in the client's handle table.
   */
  uint32_t index;
  /*
   Generation of the slot when the handle was issued (never 0 for a live handle).
   */
  uint32_t generation;
} WSKSOCK_HANDLE;
/*
 The handle that names nothing (used for "global" in STATISTICS).
 */
#define WSKSOCK_HANDLE_NULL (WSKSOCK_HANDLE){ .index = 0, .generation = 0 }

/*
 A socket address (28 bytes).
 */
typedef struct WSKSOCK_SOCK_ADDR {
  /*
   [`AF_INET`] or [`AF_INET6`] ([`AF_UNSPEC`] only where a request says it is optional).
   */
  uint16_t family;
  /*
   Port, host byte order.
   */
  uint16_t port;
  /*
   IPv6 flow info (0 for IPv4).
   */
  uint32_t flowinfo;
  /*
   Address bytes in network order: 4 for IPv4 (rest zero), 16 for IPv6.
   */
  uint8_t addr[16];
  /*
   IPv6 scope id (0 for IPv4).
   */
  uint32_t scope_id;
} WSKSOCK_SOCK_ADDR;

/*
 SOCKET request.
 */
typedef struct WSKSOCK_SOCKET_REQUEST {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   [`crate::addr::AF_INET`] or [`crate::addr::AF_INET6`].
   */
  uint16_t family;
  /*
   [`SocketKind`].
   */
  uint16_t kind;
  /*
   Protocol (0: the kind's default, TCP or UDP).
   */
  uint32_t protocol;
} WSKSOCK_SOCKET_REQUEST;

/*
 Reply to SOCKET and DUPLICATE.
 */
typedef struct WSKSOCK_HANDLE_REPLY {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   The new handle.
   */
  struct WSKSOCK_HANDLE handle;
} WSKSOCK_HANDLE_REPLY;

/*
 Request naming one handle: ACCEPT, CANCEL, STATISTICS (null handle: global).
 */
typedef struct WSKSOCK_HANDLE_REQUEST {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   The socket.
   */
  struct WSKSOCK_HANDLE handle;
} WSKSOCK_HANDLE_REQUEST;

/*
 ACCEPT request (version 1: [`HandleRequest`], the first 16 bytes).
 */
typedef struct WSKSOCK_ACCEPT_REQUEST {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   A listening socket.
   */
  struct WSKSOCK_HANDLE handle;
  /*
   Version 2: deadline in milliseconds ([`TIMEOUT_DEFAULT`]: none; 1..=[`TIMEOUT_MAX_MS`];
   [`TIMEOUT_INFINITE`]: none).
   */
  uint32_t timeout_ms;
  /*
   Version 2: must be zero.
   */
  uint32_t reserved;
} WSKSOCK_ACCEPT_REQUEST;

/*
 BIND and CONNECT request.
 */
typedef struct WSKSOCK_ADDRESSED_REQUEST {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   The socket.
   */
  struct WSKSOCK_HANDLE handle;
  /*
   Local address (BIND) or remote address (CONNECT).
   */
  struct WSKSOCK_SOCK_ADDR addr;
  /*
   Version 2 (a reserved field in version 1). CONNECT: deadline in milliseconds
   ([`TIMEOUT_DEFAULT`], 1..=[`TIMEOUT_MAX_MS`], or [`TIMEOUT_INFINITE`]). BIND: zero.
   */
  uint32_t timeout_ms;
} WSKSOCK_ADDRESSED_REQUEST;

/*
 LISTEN request.
 */
typedef struct WSKSOCK_LISTEN_REQUEST {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   A bound listening or stream socket.
   */
  struct WSKSOCK_HANDLE handle;
  /*
   Backlog hint (0: the provider's default).
   */
  uint32_t backlog;
  /*
   Must be zero.
   */
  uint32_t reserved;
} WSKSOCK_LISTEN_REQUEST;

/*
 Reply to ACCEPT.
 */
typedef struct WSKSOCK_ACCEPT_REPLY {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   Handle of the accepted connection.
   */
  struct WSKSOCK_HANDLE handle;
  /*
   Its local address.
   */
  struct WSKSOCK_SOCK_ADDR local;
  /*
   Its peer.
   */
  struct WSKSOCK_SOCK_ADDR remote;
} WSKSOCK_ACCEPT_REPLY;

/*
 SEND, RECEIVE, SEND_KERNEL, RECEIVE_KERNEL request.
 */
typedef struct WSKSOCK_DATA_REQUEST {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   The socket.
   */
  struct WSKSOCK_HANDLE handle;
  /*
   Receives: [`DATA_FLAG_WAITALL`]. Sends: [`DATA_FLAG_NODELAY`] (version 2).
   */
  uint32_t flags;
  /*
   Version 2 (a reserved field in version 1): deadline in milliseconds ([`TIMEOUT_DEFAULT`]:
   the socket's SO_RCVTIMEO / SO_SNDTIMEO; 1..=[`TIMEOUT_MAX_MS`]; [`TIMEOUT_INFINITE`]: none).
   */
  uint32_t timeout_ms;
  /*
   *_KERNEL codes: address of a non-paged kernel buffer; 0 for the direct-I/O codes.
   */
  uint64_t buffer;
  /*
   *_KERNEL codes: its length; 0 for the direct-I/O codes (the output buffer is the data).
   */
  uint64_t length;
} WSKSOCK_DATA_REQUEST;

/*
 SEND_TO and RECEIVE_FROM request (RECEIVE_FROM ignores `addr`, which must be zeroed).
 Version 1: the first 48 bytes.
 */
typedef struct WSKSOCK_DATAGRAM_REQUEST {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   A datagram socket.
   */
  struct WSKSOCK_HANDLE handle;
  /*
   Must be zero.
   */
  uint32_t flags;
  /*
   Destination (SEND_TO).
   */
  struct WSKSOCK_SOCK_ADDR addr;
  /*
   Version 2: deadline in milliseconds, as [`DataRequest::timeout_ms`].
   */
  uint32_t timeout_ms;
  /*
   Version 2: must be zero.
   */
  uint32_t reserved;
} WSKSOCK_DATAGRAM_REQUEST;

/*
 Header of the RECEIVE_FROM output buffer; the payload follows at [`RECEIVE_FROM_DATA_OFFSET`].
 */
typedef struct WSKSOCK_RECEIVE_FROM_REPLY {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   Payload bytes received.
   */
  uint32_t bytes;
  /*
   Sender.
   */
  struct WSKSOCK_SOCK_ADDR remote;
} WSKSOCK_RECEIVE_FROM_REPLY;

/*
 SHUTDOWN request.
 */
typedef struct WSKSOCK_SHUTDOWN_REQUEST {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   A connected stream socket.
   */
  struct WSKSOCK_HANDLE handle;
  /*
   [`ShutdownHow`].
   */
  uint32_t how;
  /*
   Must be zero.
   */
  uint32_t reserved;
} WSKSOCK_SHUTDOWN_REQUEST;

/*
 SET_OPTION and GET_OPTION request.
 */
typedef struct WSKSOCK_OPTION_REQUEST {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   The socket.
   */
  struct WSKSOCK_HANDLE handle;
  /*
   [`SocketOption`].
   */
  uint32_t option;
  /*
   SET: the value (LINGER: on/off; timeouts: milliseconds, 0 = none; keepalive idle and
   interval: seconds; keepalive count: probes; the others: the value). GET: zero.
   */
  uint32_t value;
  /*
   SET LINGER: timeout in seconds. Otherwise zero.
   */
  uint32_t value2;
  /*
   Must be zero.
   */
  uint32_t reserved;
} WSKSOCK_OPTION_REQUEST;

/*
 Reply to GET_OPTION.
 */
typedef struct WSKSOCK_OPTION_REPLY {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   The value (LINGER: on/off).
   */
  uint32_t value;
  /*
   LINGER: timeout in seconds.
   */
  uint32_t value2;
} WSKSOCK_OPTION_REPLY;

/*
 GET_ADDRESS request.
 */
typedef struct WSKSOCK_GET_ADDRESS_REQUEST {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   The socket.
   */
  struct WSKSOCK_HANDLE handle;
  /*
   [`AddressWhich`].
   */
  uint32_t which;
  /*
   Must be zero.
   */
  uint32_t reserved;
} WSKSOCK_GET_ADDRESS_REQUEST;

/*
 Reply to GET_ADDRESS.
 */
typedef struct WSKSOCK_ADDRESS_REPLY {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   The address.
   */
  struct WSKSOCK_SOCK_ADDR addr;
} WSKSOCK_ADDRESS_REPLY;

/*
 DUPLICATE request.
 */
typedef struct WSKSOCK_DUPLICATE_REQUEST {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   The socket.
   */
  struct WSKSOCK_HANDLE handle;
  /*
   Client to receive the new handle (its id from CLIENT_INFO); 0: the caller. Another
   client must have allowed the caller (ALLOW_DUPLICATE): STATUS_ACCESS_DENIED otherwise.
   */
  uint64_t target_client;
} WSKSOCK_DUPLICATE_REQUEST;

/*
 ALLOW_DUPLICATE request (version 4): the caller consents to `count` DUPLICATEs into its own
 handle table from the client `from_client`, each using up one; replaces what it allowed that
 client before (0 withdraws it).
 */
typedef struct WSKSOCK_ALLOW_DUPLICATE_REQUEST {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   The client allowed (its id from its CLIENT_INFO): another live client.
   */
  uint64_t from_client;
  /*
   How many handles it may add, at most the client's handle limit (CLIENT_INFO
   `max_handles`); 0: none any more.
   */
  uint32_t count;
  /*
   Must be zero.
   */
  uint32_t reserved;
} WSKSOCK_ALLOW_DUPLICATE_REQUEST;

/*
 CLOSE request.
 */
typedef struct WSKSOCK_CLOSE_REQUEST {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   The handle to close.
   */
  struct WSKSOCK_HANDLE handle;
  /*
   [`CloseMode`].
   */
  uint32_t mode;
  /*
   [`CloseMode::Linger`]: timeout in seconds (> 0). Otherwise zero.
   */
  uint32_t linger_seconds;
  /*
   [`CLOSE_FLAG_WAIT_FOR_TEARDOWN`] or zero.
   */
  uint32_t flags;
  /*
   Must be zero.
   */
  uint32_t reserved;
} WSKSOCK_CLOSE_REQUEST;

/*
 Reply to CLOSE.
 */
typedef struct WSKSOCK_CLOSE_REPLY {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   1 if this was the socket's last handle (the teardown started), else 0.
   */
  uint32_t last_reference;
  /*
   Operations issued through this handle that the close cancelled.
   */
  uint32_t cancelled;
  /*
   With [`CLOSE_FLAG_WAIT_FOR_TEARDOWN`] on the last handle: how the teardown ended (the
   provider close status); otherwise STATUS_PENDING.
   */
  uint32_t teardown_status;
  /*
   With the wait flag on the last handle: the [`Disconnect`] that was performed.
   */
  uint32_t disconnect;
} WSKSOCK_CLOSE_REPLY;

/*
 Reply to CANCEL.
 */
typedef struct WSKSOCK_CANCEL_REPLY {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   Operations asked to cancel.
   */
  uint32_t cancelled;
  /*
   Zero.
   */
  uint32_t reserved;
} WSKSOCK_CANCEL_REPLY;

/*
 Reply to STATISTICS.
 */
typedef struct WSKSOCK_STATISTICS_REPLY {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   0: global figures; 1: one socket's.
   */
  uint32_t scope;
  /*
   Handles open (to this socket, or in all clients).
   */
  uint32_t handles;
  /*
   Sockets alive now (global) or 1.
   */
  uint64_t sockets_alive;
  /*
   Sockets ever created (global) or 1.
   */
  uint64_t sockets_created;
  /*
   Payload bytes sent.
   */
  uint64_t bytes_sent;
  /*
   Payload bytes received.
   */
  uint64_t bytes_received;
  /*
   Provider operations started.
   */
  uint64_t ops_started;
  /*
   Provider operations completed (any status).
   */
  uint64_t ops_completed;
  /*
   Provider operations completed with STATUS_CANCELLED.
   */
  uint64_t ops_cancelled;
  /*
   Provider operations pending now.
   */
  uint64_t ops_pending;
  /*
   Requests dispatched (global only).
   */
  uint64_t requests;
  /*
   Requests completed with an error status (global only).
   */
  uint64_t requests_failed;
  /*
   Version 2: open sockets (a handle open) that are stream sockets (global), or 1 if this
   one is.
   */
  uint32_t open_stream;
  /*
   Version 2: open datagram sockets.
   */
  uint32_t open_datagram;
  /*
   Version 2: open listening sockets.
   */
  uint32_t open_listen;
  /*
   Version 2: open stream sockets that are connected (a CONNECT or ACCEPT succeeded, no
   SHUTDOWN since).
   */
  uint32_t connected;
  /*
   Version 2: sockets whose last handle closed and whose teardown has not finished.
   */
  uint32_t teardowns;
  /*
   Version 2: zero.
   */
  uint32_t reserved;
  /*
   Version 2: deadlines that passed while their request was pending (the request then
   ended with STATUS_IO_TIMEOUT — or with its result, if the operation completed anyway).
   */
  uint64_t deadlines_expired;
} WSKSOCK_STATISTICS_REPLY;

/*
 RESOLVE request (version 1: the first 272 bytes).
 */
typedef struct WSKSOCK_RESOLVE_REQUEST {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   Family wanted ([`crate::addr::AF_UNSPEC`] for any).
   */
  uint16_t family;
  /*
   Must be zero.
   */
  uint16_t reserved;
  /*
   Port to put in the results (host order).
   */
  uint16_t port;
  /*
   Must be zero.
   */
  uint16_t reserved2;
  /*
   Host name or address literal, NUL-terminated ASCII.
   */
  uint8_t node[256];
  /*
   Version 2: deadline in milliseconds ([`TIMEOUT_DEFAULT`] or [`TIMEOUT_INFINITE`]: none;
   1..=[`TIMEOUT_MAX_MS`]).
   */
  uint32_t timeout_ms;
  /*
   Version 2: must be zero.
   */
  uint32_t reserved3;
} WSKSOCK_RESOLVE_REQUEST;

/*
 Reply to RESOLVE.
 */
typedef struct WSKSOCK_RESOLVE_REPLY {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   Number of valid entries in `addrs`.
   */
  uint32_t count;
  /*
   Zero.
   */
  uint32_t reserved;
  /*
   The first [`RESOLVE_MAX_ADDRS`] addresses.
   */
  struct WSKSOCK_SOCK_ADDR addrs[8];
} WSKSOCK_RESOLVE_REPLY;

/*
 CLIENT_INFO request.
 */
typedef struct WSKSOCK_CLIENT_INFO_REQUEST {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
} WSKSOCK_CLIENT_INFO_REQUEST;

/*
 Reply to CLIENT_INFO.
 */
typedef struct WSKSOCK_CLIENT_INFO_REPLY {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   This client's id (the `target_client` of DUPLICATE).
   */
  uint64_t client_id;
  /*
   [`ABI_VERSION`] of the driver.
   */
  uint32_t abi_version;
  /*
   Pending operations allowed per socket.
   */
  uint32_t max_pending_per_socket;
  /*
   Pending operations allowed per client.
   */
  uint32_t max_pending_per_client;
  /*
   Handles allowed per client.
   */
  uint32_t max_handles;
} WSKSOCK_CLIENT_INFO_REPLY;

/*
 Reply to WAIT_PEER_CLOSE (version 2).
 */
typedef struct WSKSOCK_PEER_CLOSE_REPLY {
  /*
   Header.
   */
  struct WSKSOCK_HEADER header;
  /*
   [`PeerClose`]: how the connection ended.
   */
  uint32_t event;
  /*
   [`PeerClose::Failed`]: the failure (e.g. STATUS_IO_TIMEOUT when keepalive found the peer
   dead); [`PeerClose::Reset`]: STATUS_CONNECTION_RESET; [`PeerClose::Fin`]: STATUS_SUCCESS.
   */
  uint32_t status;
} WSKSOCK_PEER_CLOSE_REPLY;

#endif  /* WSKSOCK_H */


/* Control codes: CTL_CODE(WSKSOCK_DEVICE_TYPE, function, method, access); access: FILE_ANY_ACCESS (0),
 * FILE_READ_ACCESS (1: the handle needs FILE_READ_DATA), FILE_WRITE_ACCESS (2: FILE_WRITE_DATA). */
#define WSKSOCK_IOCTL_SOCKET 0x8A5CA000u
#define WSKSOCK_IOCTL_BIND 0x8A5CA004u
#define WSKSOCK_IOCTL_LISTEN 0x8A5CA008u
#define WSKSOCK_IOCTL_ACCEPT 0x8A5CA00Cu
#define WSKSOCK_IOCTL_CONNECT 0x8A5CA010u
#define WSKSOCK_IOCTL_SEND 0x8A5CA015u
#define WSKSOCK_IOCTL_RECEIVE 0x8A5C601Au
#define WSKSOCK_IOCTL_SEND_TO 0x8A5CA01Du
#define WSKSOCK_IOCTL_RECEIVE_FROM 0x8A5C6022u
#define WSKSOCK_IOCTL_SHUTDOWN 0x8A5CA024u
#define WSKSOCK_IOCTL_SET_OPTION 0x8A5CA028u
#define WSKSOCK_IOCTL_GET_OPTION 0x8A5C602Cu
#define WSKSOCK_IOCTL_GET_ADDRESS 0x8A5C6030u
#define WSKSOCK_IOCTL_DUPLICATE 0x8A5CA034u
#define WSKSOCK_IOCTL_CLOSE 0x8A5CA038u
#define WSKSOCK_IOCTL_CANCEL 0x8A5CA03Cu
#define WSKSOCK_IOCTL_STATISTICS 0x8A5C6040u
#define WSKSOCK_IOCTL_RESOLVE 0x8A5C6044u
#define WSKSOCK_IOCTL_CLIENT_INFO 0x8A5C2048u
#define WSKSOCK_IOCTL_WAIT_PEER_CLOSE 0x8A5C604Cu
#define WSKSOCK_IOCTL_ALLOW_DUPLICATE 0x8A5CA050u
#define WSKSOCK_IOCTL_SEND_KERNEL 0x8A5CA083u
#define WSKSOCK_IOCTL_RECEIVE_KERNEL 0x8A5C6087u

/* Structs whose ABI version 1 form is shorter (a prefix; 0: not in version 1, see the
 * struct for the version that added it). */
#define WSKSOCK_ACCEPT_REQUEST_SIZE_V1 16
#define WSKSOCK_DATAGRAM_REQUEST_SIZE_V1 48
#define WSKSOCK_ALLOW_DUPLICATE_REQUEST_SIZE_V1 0
#define WSKSOCK_STATISTICS_REPLY_SIZE_V1 96
#define WSKSOCK_RESOLVE_REQUEST_SIZE_V1 272
#define WSKSOCK_PEER_CLOSE_REPLY_SIZE_V1 0

/* Payload offset in the RECEIVE_FROM output buffer. */
#define WSKSOCK_RECEIVE_FROM_DATA_OFFSET 40

/* Device names. */
#define WSKSOCK_DEVICE_NAME L"\\Device\\WskSock"
#define WSKSOCK_USER_PATH "\\\\.\\WskSock"

/* NTSTATUS values the driver returns (as in ntstatus.h). */
#ifndef STATUS_SUCCESS
#define STATUS_SUCCESS ((int32_t)0x00000000u)
#endif
#ifndef STATUS_PENDING
#define STATUS_PENDING ((int32_t)0x00000103u)
#endif
#ifndef STATUS_TIMEOUT
#define STATUS_TIMEOUT ((int32_t)0x00000102u)
#endif
#ifndef STATUS_UNSUCCESSFUL
#define STATUS_UNSUCCESSFUL ((int32_t)0xC0000001u)
#endif
#ifndef STATUS_NOT_IMPLEMENTED
#define STATUS_NOT_IMPLEMENTED ((int32_t)0xC0000002u)
#endif
#ifndef STATUS_INVALID_HANDLE
#define STATUS_INVALID_HANDLE ((int32_t)0xC0000008u)
#endif
#ifndef STATUS_INVALID_PARAMETER
#define STATUS_INVALID_PARAMETER ((int32_t)0xC000000Du)
#endif
#ifndef STATUS_INVALID_DEVICE_REQUEST
#define STATUS_INVALID_DEVICE_REQUEST ((int32_t)0xC0000010u)
#endif
#ifndef STATUS_ACCESS_DENIED
#define STATUS_ACCESS_DENIED ((int32_t)0xC0000022u)
#endif
#ifndef STATUS_BUFFER_TOO_SMALL
#define STATUS_BUFFER_TOO_SMALL ((int32_t)0xC0000023u)
#endif
#ifndef STATUS_DELETE_PENDING
#define STATUS_DELETE_PENDING ((int32_t)0xC0000056u)
#endif
#ifndef STATUS_REVISION_MISMATCH
#define STATUS_REVISION_MISMATCH ((int32_t)0xC0000059u)
#endif
#ifndef STATUS_INSUFFICIENT_RESOURCES
#define STATUS_INSUFFICIENT_RESOURCES ((int32_t)0xC000009Au)
#endif
#ifndef STATUS_DEVICE_NOT_READY
#define STATUS_DEVICE_NOT_READY ((int32_t)0xC00000A3u)
#endif
#ifndef STATUS_FILE_FORCED_CLOSED
#define STATUS_FILE_FORCED_CLOSED ((int32_t)0xC00000B6u)
#endif
#ifndef STATUS_NOT_SUPPORTED
#define STATUS_NOT_SUPPORTED ((int32_t)0xC00000BBu)
#endif
#ifndef STATUS_CANCELLED
#define STATUS_CANCELLED ((int32_t)0xC0000120u)
#endif
#ifndef STATUS_INVALID_ADDRESS
#define STATUS_INVALID_ADDRESS ((int32_t)0xC0000141u)
#endif
#ifndef STATUS_INVALID_DEVICE_STATE
#define STATUS_INVALID_DEVICE_STATE ((int32_t)0xC0000184u)
#endif
#ifndef STATUS_INVALID_BUFFER_SIZE
#define STATUS_INVALID_BUFFER_SIZE ((int32_t)0xC0000206u)
#endif
#ifndef STATUS_INVALID_USER_BUFFER
#define STATUS_INVALID_USER_BUFFER ((int32_t)0xC00000E8u)
#endif
#ifndef STATUS_ADDRESS_ALREADY_EXISTS
#define STATUS_ADDRESS_ALREADY_EXISTS ((int32_t)0xC000020Au)
#endif
#ifndef STATUS_CONNECTION_DISCONNECTED
#define STATUS_CONNECTION_DISCONNECTED ((int32_t)0xC000020Cu)
#endif
#ifndef STATUS_CONNECTION_RESET
#define STATUS_CONNECTION_RESET ((int32_t)0xC000020Du)
#endif
#ifndef STATUS_CONNECTION_REFUSED
#define STATUS_CONNECTION_REFUSED ((int32_t)0xC0000236u)
#endif
#ifndef STATUS_GRACEFUL_DISCONNECT
#define STATUS_GRACEFUL_DISCONNECT ((int32_t)0xC0000237u)
#endif
#ifndef STATUS_NETWORK_UNREACHABLE
#define STATUS_NETWORK_UNREACHABLE ((int32_t)0xC000023Cu)
#endif
#ifndef STATUS_HOST_UNREACHABLE
#define STATUS_HOST_UNREACHABLE ((int32_t)0xC000023Du)
#endif
#ifndef STATUS_CONNECTION_ABORTED
#define STATUS_CONNECTION_ABORTED ((int32_t)0xC0000241u)
#endif
#ifndef STATUS_NOT_FOUND
#define STATUS_NOT_FOUND ((int32_t)0xC0000225u)
#endif
#ifndef STATUS_ADDRESS_ALREADY_ASSOCIATED
#define STATUS_ADDRESS_ALREADY_ASSOCIATED ((int32_t)0xC0000328u)
#endif
#ifndef STATUS_IO_TIMEOUT
#define STATUS_IO_TIMEOUT ((int32_t)0xC00000B5u)
#endif

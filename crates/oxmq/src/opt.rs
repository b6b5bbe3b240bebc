//! Socket option numbers, exactly as in libzmq's `zmq.h`.
//!
//! [`crate::Socket::set_sockopt`] and [`crate::Socket::sockopt`] take these numbers; the typed
//! setters on [`crate::Socket`] are the idiomatic way to reach the same options. An option that
//! oxmq does not implement yet is refused with `EINVAL`, never silently ignored.

/// I/O thread affinity of new connections: a bit mask of the context's I/O threads
/// (`u64`; 0: any thread).
pub const AFFINITY: i32 = 4;
/// The socket's routing id (formerly `ZMQ_IDENTITY`), 1 to 255 bytes.
pub const ROUTING_ID: i32 = 5;
/// Deprecated alias of [`ROUTING_ID`].
pub const IDENTITY: i32 = ROUTING_ID;
/// Adds a subscription (SUB, XSUB).
pub const SUBSCRIBE: i32 = 6;
/// Removes a subscription (SUB, XSUB).
pub const UNSUBSCRIBE: i32 = 7;
/// Kernel send buffer size.
pub const SNDBUF: i32 = 11;
/// Kernel receive buffer size.
pub const RCVBUF: i32 = 12;
/// Whether more frames of the current message follow (read only).
pub const RCVMORE: i32 = 13;
/// The readiness file descriptor (read only).
pub const FD: i32 = 14;
/// `POLLIN` / `POLLOUT` readiness of the socket (read only).
pub const EVENTS: i32 = 15;
/// The socket type (read only).
pub const TYPE: i32 = 16;
/// How long pending messages are kept after close, in ms (-1: forever).
pub const LINGER: i32 = 17;
/// Initial reconnection interval, in ms.
pub const RECONNECT_IVL: i32 = 18;
/// Maximum length of the queue of pending connections.
pub const BACKLOG: i32 = 19;
/// Maximum reconnection interval, in ms (0: no back-off).
pub const RECONNECT_IVL_MAX: i32 = 21;
/// Largest inbound frame accepted, in bytes (-1: no limit).
pub const MAXMSGSIZE: i32 = 22;
/// High-water mark of outbound messages per peer.
pub const SNDHWM: i32 = 23;
/// High-water mark of inbound messages per peer.
pub const RCVHWM: i32 = 24;
/// Receive time-out, in ms (-1: forever).
pub const RCVTIMEO: i32 = 27;
/// Send time-out, in ms (-1: forever).
pub const SNDTIMEO: i32 = 28;
/// The endpoint last bound or connected, with any wildcard resolved (read only).
pub const LAST_ENDPOINT: i32 = 32;
/// ROUTER: fail with `EHOSTUNREACH` / `EAGAIN` instead of dropping unroutable messages.
pub const ROUTER_MANDATORY: i32 = 33;
/// Queue messages only to completed connections.
pub const IMMEDIATE: i32 = 39;
/// XPUB: pass every subscription to the application, not only new ones.
pub const XPUB_VERBOSE: i32 = 40;
/// Enable IPv6 on the socket.
pub const IPV6: i32 = 42;
/// The routing id to give the peer of the next `connect`.
pub const CONNECT_ROUTING_ID: i32 = 61;
/// ROUTER: a new peer with a routing id already in use takes it over.
pub const ROUTER_HANDOVER: i32 = 56;
/// ROUTER, DEALER, REQ: send an empty message to each new peer on connect.
pub const PROBE_ROUTER: i32 = 51;
/// REQ: prefix requests with a request id and match replies to it.
pub const REQ_CORRELATE: i32 = 52;
/// REQ: allow sending a new request without waiting for the reply.
pub const REQ_RELAXED: i32 = 53;
/// XPUB: pass every subscription and unsubscription to the application.
pub const XPUB_VERBOSER: i32 = 78;
/// XPUB: block (EAGAIN) instead of dropping when a subscriber is at its HWM.
pub const XPUB_NODROP: i32 = 69;
/// XPUB: subscriptions are managed by the application.
pub const XPUB_MANUAL: i32 = 71;
/// XPUB: a message sent to each new subscriber on connect.
pub const XPUB_WELCOME_MSG: i32 = 72;
/// XPUB (manual mode): send the last value of a topic to a new subscriber.
pub const XPUB_MANUAL_LAST_VALUE: i32 = 98;
/// XPUB/XSUB: only the first frame of a message can be a subscription.
pub const ONLY_FIRST_SUBSCRIBE: i32 = 108;
/// PUB, XPUB, SUB, XSUB: deliver messages that do *not* match the subscriptions.
pub const INVERT_MATCHING: i32 = 74;
/// PUB, XPUB, SUB, XSUB: the number of distinct topics subscribed (read only).
pub const TOPICS_COUNT: i32 = 116;
/// Maximum time for the ZMTP handshake, in ms (0: none).
pub const HANDSHAKE_IVL: i32 = 66;
/// Interval between ZMTP heartbeats (PING), in ms (0: no heartbeats).
pub const HEARTBEAT_IVL: i32 = 75;
/// Time-to-live announced in PINGs, in ms (sent in deciseconds).
pub const HEARTBEAT_TTL: i32 = 76;
/// How long to wait for traffic after a PING before dropping the peer, in ms (-1: the interval).
pub const HEARTBEAT_TIMEOUT: i32 = 77;
/// TCP keep-alive: -1 the OS default, 0 off, 1 on.
pub const TCP_KEEPALIVE: i32 = 34;
/// TCP keep-alive probes before the connection is dropped (-1: OS default).
pub const TCP_KEEPALIVE_CNT: i32 = 35;
/// Seconds of idleness before keep-alive probes start (-1: OS default).
pub const TCP_KEEPALIVE_IDLE: i32 = 36;
/// Seconds between keep-alive probes (-1: OS default).
pub const TCP_KEEPALIVE_INTVL: i32 = 37;
/// The IP type-of-service byte of outgoing packets.
pub const TOS: i32 = 57;
/// How long, in ms, a connect may take before it is retried (0: the OS's limit).
pub const CONNECT_TIMEOUT: i32 = 79;
/// Maximum time in ms unacknowledged data may stay in flight before the connection is
/// dropped (Linux TCP_USER_TIMEOUT; 0: the OS default).
pub const TCP_MAXRT: i32 = 80;
/// Bind the socket's connections to a network interface (SO_BINDTODEVICE; needs privileges).
pub const BINDTODEVICE: i32 = 92;
/// STREAM: deliver an empty message with the routing id when a peer connects or leaves
/// (write-only, as in libzmq).
pub const STREAM_NOTIFY: i32 = 73;
/// Context options (`zmq_ctx_set` / `zmq_ctx_get`), for [`crate::Context::set`] and
/// [`crate::Context::get`].
pub mod ctx {
    /// Number of I/O threads (default 1); before the first socket.
    pub const IO_THREADS: i32 = 1;
    /// Largest number of live sockets (default 1023); more fail with `EMFILE`.
    pub const MAX_SOCKETS: i32 = 2;
    /// The largest MAX_SOCKETS accepted (read only).
    pub const SOCKET_LIMIT: i32 = 3;
    /// Scheduling priority of the I/O threads (write only; shares SOCKET_LIMIT's number).
    pub const THREAD_PRIORITY: i32 = 3;
    /// Scheduling policy of the I/O threads (`SCHED_*`; default -1: unchanged).
    pub const THREAD_SCHED_POLICY: i32 = 4;
    /// Largest message a socket of this context accepts from the network (default `INT_MAX`).
    pub const MAX_MSGSZ: i32 = 5;
    /// Size of libzmq's `zmq_msg_t`: 64 (read only).
    pub const MSG_T_SIZE: i32 = 6;
    /// Adds a CPU to the I/O threads' affinity set.
    pub const THREAD_AFFINITY_CPU_ADD: i32 = 7;
    /// Removes a CPU from the I/O threads' affinity set.
    pub const THREAD_AFFINITY_CPU_REMOVE: i32 = 8;
    /// A prefix for the I/O threads' names (an int with `set`; text with
    /// [`crate::Context::set_thread_name_prefix`]).
    pub const THREAD_NAME_PREFIX: i32 = 9;
    /// ZMQ_IPV6 for sockets created afterwards.
    pub const IPV6: i32 = 42;
    /// 0: sockets created afterwards have LINGER 0, so termination does not wait (default 1).
    pub const BLOCKY: i32 = 70;
}

/// Deprecated: 1 restricts the socket to IPv4 (the inverse of [`IPV6`]).
pub const IPV4ONLY: i32 = 31;
/// Deprecated alias of [`IMMEDIATE`].
pub const DELAY_ATTACH_ON_CONNECT: i32 = IMMEDIATE;
/// Deprecated alias of [`ROUTER_MANDATORY`].
pub const FAIL_UNROUTABLE: i32 = ROUTER_MANDATORY;
/// Deprecated alias of [`ROUTER_MANDATORY`].
pub const ROUTER_BEHAVIOR: i32 = ROUTER_MANDATORY;
/// Deprecated alias of [`CONNECT_ROUTING_ID`].
pub const CONNECT_RID: i32 = CONNECT_ROUTING_ID;
/// Deprecated: accept tcp connections only from this address (repeatable; empty clears).
pub const TCP_ACCEPT_FILTER: i32 = 38;
/// Deprecated: accept ipc connections only from this process id (repeatable; none clears).
pub const IPC_FILTER_PID: i32 = 58;
/// Deprecated: accept ipc connections only from this user id (repeatable; none clears).
pub const IPC_FILTER_UID: i32 = 59;
/// Deprecated: accept ipc connections only from this group id (repeatable; none clears).
pub const IPC_FILTER_GID: i32 = 60;
/// Deprecated: ROUTER speaks raw TCP, as a STREAM socket does.
pub const ROUTER_RAW: i32 = 41;
/// Keep only the last message in each queue (PUSH, PULL, PUB, SUB, DEALER; single-frame
/// messages only).
pub const CONFLATE: i32 = 54;
/// Use this already bound and listening descriptor for the next tcp or ipc `bind`.
pub const USE_FD: i32 = 89;
/// Application metadata sent in the handshake, as `X-name:value` (repeatable).
pub const METADATA: i32 = 95;
/// Bytes read from the network at once (draft in libzmq 4.3).
pub const IN_BATCH_SIZE: i32 = 101;
/// Bytes encoded for one write to the network (draft in libzmq 4.3).
pub const OUT_BATCH_SIZE: i32 = 102;
/// When to stop reconnecting: a mask of the `RECONNECT_STOP_*` flags (draft in libzmq 4.3).
pub const RECONNECT_STOP: i32 = 109;
/// [`RECONNECT_STOP`]: stop when the peer refuses the connection (ECONNREFUSED).
pub const RECONNECT_STOP_CONN_REFUSED: i32 = 0x1;
/// [`RECONNECT_STOP`]: stop when a handshake fails.
pub const RECONNECT_STOP_HANDSHAKE_FAILED: i32 = 0x2;
/// [`RECONNECT_STOP`]: stop after `disconnect` (libzmq may otherwise still reconnect; oxmq never
/// does, so this flag changes nothing).
pub const RECONNECT_STOP_AFTER_DISCONNECT: i32 = 0x4;
/// DEALER, ROUTER: a message sent to each new peer first (draft in libzmq 4.3).
pub const HELLO_MSG: i32 = 110;
/// ROUTER: a message received from a peer when it disconnects (draft in libzmq 4.3).
pub const DISCONNECT_MSG: i32 = 111;
/// DEALER: a message received when a connection made by `connect` drops (draft in libzmq 4.3).
pub const HICCUP_MSG: i32 = 114;
/// XSUB: forward every unsubscribe, not only the last one of a topic (draft in libzmq 4.3).
pub const XSUB_VERBOSE_UNSUBSCRIBE: i32 = 115;

/// The socket's security mechanism (read only): [`NULL`], [`PLAIN`] or [`CURVE`].
pub const MECHANISM: i32 = 43;
/// PLAIN: be the server side (`int`, 0 or 1); 1 selects PLAIN, 0 selects NULL.
pub const PLAIN_SERVER: i32 = 44;
/// PLAIN: the client's username (at most 255 bytes); selects PLAIN as a client, empty selects
/// NULL.
pub const PLAIN_USERNAME: i32 = 45;
/// PLAIN: the client's password (at most 255 bytes); as [`PLAIN_USERNAME`].
pub const PLAIN_PASSWORD: i32 = 46;
/// CURVE: be the server side (`int`, 0 or 1); 1 selects CURVE, 0 selects NULL.
pub const CURVE_SERVER: i32 = 47;
/// CURVE: the socket's long-term public key (32 bytes, or 40 characters of Z85).
pub const CURVE_PUBLICKEY: i32 = 48;
/// CURVE: the socket's long-term secret key (32 bytes, or 40 characters of Z85).
pub const CURVE_SECRETKEY: i32 = 49;
/// CURVE: the server's public key, which makes this socket a CURVE client (32 bytes, or 40
/// characters of Z85).
pub const CURVE_SERVERKEY: i32 = 50;
/// The ZAP domain sent with each authentication request (at most 255 bytes). A NULL server
/// asks ZAP only when it is set.
pub const ZAP_DOMAIN: i32 = 55;
/// Refuse peers when no ZAP handler is bound, instead of accepting them (`int`, 0 or 1).
pub const ZAP_ENFORCE_DOMAIN: i32 = 93;

/// [`MECHANISM`] value: no security.
pub const NULL: i32 = 0;
/// [`MECHANISM`] value: PLAIN (RFC 24).
pub const PLAIN: i32 = 1;
/// [`MECHANISM`] value: CURVE (RFC 25, 26).
pub const CURVE: i32 = 2;

/// Whether the socket is thread-safe (read only; 0: no classic socket is).
pub const THREAD_SAFE: i32 = 81;
/// Multicast data rate, kbit/s (read only here: libzmq's default, 100; no pgm transport).
pub const RATE: i32 = 8;
/// Multicast recovery interval, ms (read only here: libzmq's default, 10000).
pub const RECOVERY_IVL: i32 = 9;
/// Multicast hops (read only here: libzmq's default, 1).
pub const MULTICAST_HOPS: i32 = 25;
/// Largest multicast transport data unit, bytes (read only here: libzmq's default, 1500).
pub const MULTICAST_MAXTPDU: i32 = 84;
/// Windows loopback fast path (read only: 0).
pub const LOOPBACK_FASTPATH: i32 = 94;
/// Multicast loopback (read only here: libzmq's default, 1).
pub const MULTICAST_LOOP: i32 = 96;

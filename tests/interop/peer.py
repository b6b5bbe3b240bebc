#!/usr/bin/env python3
"""A pyzmq (libzmq 4.3.5) peer for oxmq's interop tests.

The Rust tests in crates/oxmq/tests/interop.rs launch this script as a subprocess, one process per
peer, and talk to it through lines:

  stdout, written by the peer            stdin, read by the peer (only where a scenario says so)
  READY <endpoint>   socket bound/connected  GO   the other side is ready (PUB/SUB slow joiner)
  ID <hex>           ROUTER saw a new peer
  GOT <frames>       a message the peer received (SUB/XSUB scenarios)
  SUBMSG <frames>    a subscription message an XPUB received
  UNREACHABLE        ROUTER_MANDATORY refused an unknown routing id, as it must
  DISCONNECTS <n>    with --heartbeat: how often the connection dropped (must be 0)
  EVENT <NAME> <n>   with --monitor (and in expect_fail): a monitor event as it happened, e.g.
                     EVENT HANDSHAKE_FAILED_AUTH 400; NAME is zmq_socket_monitor's ZMQ_EVENT_x
                     without the prefix, n its value in decimal (an fd for ACCEPTED/CONNECTED,
                     the ZAP status for HANDSHAKE_FAILED_AUTH, a ZMQ_PROTOCOL_ERROR_* code for
                     HANDSHAKE_FAILED_PROTOCOL, an errno for HANDSHAKE_FAILED_NO_DETAIL)
  ZAP <mech> <domain> <address> <routing-id> <credentials>
                     with --zap: one ZAP request libzmq made, written as it arrived: mech is
                     NULL, PLAIN or CURVE; domain, address (tcp: the peer's IP without port;
                     ipc: "localhost:uid:gid:pid" of the peer process) and routing-id (hex; the
                     authenticating socket's OWN ZMQ_ROUTING_ID, not the peer's) are "-" when
                     empty; credentials are the credential frames as <frames> (PLAIN:
                     username,password; CURVE: the client's 32-byte public key; NULL: none),
                     "-" when there are none
  READY flood        flood: all --count connections are open
  CLOSED <n>         flood, at the end: how many of them the other side had closed
  OK                 scenario passed (exit status 0)
  FAIL <reason>      scenario failed (exit status 1)

<frames> is the message's frames, each written as "x" followed by its bytes in hex, joined by ",":
the message [b"A.1", b""] is "xa412e31,x".

Every blocking call is bounded (RCVTIMEO/SNDTIMEO/poll, --io-timeout ms), and a watchdog thread
ends the whole process with status 124 after --timeout seconds, whatever it is doing.

Lines from background threads (EVENT, ZAP) are whole lines, never interleaved with others.

Usage: peer.py SCENARIO --type TYPE (--bind EP | --connect EP) [options]

Scenarios (the other side's role in brackets):
  echo    PAIR REP DEALER ROUTER: send every message back as it came, until one whose last frame is
          END (echoed too).                                                       [client]
  client  PAIR REQ DEALER ROUTER: send the standard message set (see standard_messages) and expect
          each one back unchanged. ROUTER first checks that ROUTER_MANDATORY refuses an unknown id,
          then prefixes --peer-id, retrying until the peer is routable. --delim prefixes an empty
          frame (DEALER talking to REP).                                           [echo]
  source  PUSH PAIR DEALER: send --count messages payload(i, --size), then END.    [sink]
  sink    PULL PAIR DEALER: receive --count messages, check each is payload(i, --size) for
          i = --offset, --offset + --step, ..., then END.
                                                                                  [source]
  pub     PUB XPUB: publish [sync] every 20 ms until GO arrives on stdin, then TOPIC_SET.
                                                                                  [SUB/XSUB]
  sub     SUB XSUB: subscribe to each --subscribe, print GOT for every message until END.
                                                                                  [PUB/XPUB]
  xpub    XPUB: wait for a subscription message \\x01T, publish T.1, other.1, T.END, then wait
          for the unsubscription \\x00T.                                          [SUB/XSUB]
  xsub    XSUB: send \\x01T (T = first --subscribe, default "topic"), receive until T.END checking
          that nothing else arrives, send \\x00T.                                  [XPUB]
  props   DEALER: send "hello", receive one message and print PROP <name> <hex> (or
          PROP <name> none) for each --property as zmq_msg_gets reads it, e.g. User-Id or a
          ZAP metadata name on the ZAP-authenticating side.              [DEALER, or props]
  expect_fail  any type: a peer that must NOT get through the handshake. Bind/connect, then
          wait (--io-timeout) for a HANDSHAKE_FAILED_* or DISCONNECTED monitor event; OK once
          one arrived (it is printed as EVENT, as are all events: expect_fail implies
          --monitor), FAIL if HANDSHAKE_SUCCEEDED arrives first or a message is received.
                                                 [a peer with the wrong key/password, or none]
  flood   no --type, --connect tcp://HOST:PORT only: open --count raw TCP connections that
          each send --flood-greeting and then nothing, never reading. Print READY flood once
          all are open, hold them until stdin has a line END or is closed, print CLOSED <n>,
          close them. A flood of half-open handshakes.              [any bound peer]

Security options, applied before bind/connect, work with every scenario:
  --plain-server                 ZMQ_PLAIN_SERVER
  --plain-username U, --plain-password P
                                 ZMQ_PLAIN_USERNAME / ZMQ_PLAIN_PASSWORD (a PLAIN client)
  --curve-server                 ZMQ_CURVE_SERVER; needs --curve-secret
  --curve-secret Z85, --curve-public Z85
                                 this socket's CURVE key pair as 40-character Z85; the public
                                 key is derived from the secret when omitted. A client
                                 (--curve-serverkey) without --curve-secret uses a fresh pair.
  --curve-serverkey Z85          ZMQ_CURVE_SERVERKEY: the server's public key (a CURVE client)
  --zap-domain D                 ZMQ_ZAP_DOMAIN
  --zap SPEC                     run a ZAP handler (a REP socket on inproc://zeromq.zap.01 in
                                 this process's context, bound before the socket binds or
                                 connects) that prints a ZAP line for every request and replies
                                 as SPEC says. SPEC is comma-separated rules, tried in order;
                                 the first that matches decides the status, 400 if none does:
                                   allow           200 for every request
                                   deny            400 for every request
                                   status:NNN      NNN for every request (200/300/400/500)
                                   plain:USER:PASS 200 if the PLAIN credentials are USER, PASS
                                   curve:Z85KEY    200 if the CURVE client's public key is this
                                 and modifiers for a 200 reply:
                                   userid:NAME     its User-Id (default: the PLAIN username,
                                                   else "anonymous")
                                   meta:NAME=VALUE a metadata property (repeatable)
                                 The reply is RFC 27's: "1.0", request id, status code, status
                                 text (OK, Temporary error, Authentication failure, Internal
                                 error), user id and metadata (both empty unless 200).
  --monitor                      print monitor events as EVENT lines as they happen
"""

import argparse
import os
import socket
import struct
import sys
import threading
import time

import zmq
from zmq.utils import z85
from zmq.utils.monitor import recv_monitor_message

TYPES = {
    name: getattr(zmq, name)
    for name in (
        "PAIR", "PUB", "SUB", "REQ", "REP", "DEALER", "ROUTER", "PULL", "PUSH", "XPUB", "XSUB",
    )
}

# What a `pub` peer publishes after GO. A subscriber to "A.", "B", "sync" and "END" gets
# EXPECTED_FOR_SUBSCRIBER (plus any late [sync] messages, which it ignores).
TOPIC_SET = [
    [b"A.1"],
    [b"C.1"],
    [b"B"],
    [b"A.multi", b"", b"part"],
    [b"A"],
    [b""],
    [b"Bx"],
    [b"A.2"],
    [b"END"],
]
SUBSCRIBER_TOPICS = [b"A.", b"B", b"sync", b"END"]


def standard_messages(size):
    """The messages a `client` sends; crates/oxmq/tests/common/mod.rs has the same list."""
    msgs = [
        [b"hello"],
        [b"", b"a", b"", b""],
        [b""],
        [b"multi", b"part", b"message"],
        [bytes(range(256))],
        [bytes([i % 256]) * (i * 7 % 300) for i in range(300)],
    ]
    if size is not None:
        msgs.append([payload(0, size)])
    msgs.extend([b"msg-%d" % i] for i in range(10))
    msgs.append([b"END"])
    return msgs


def payload(i, size):
    """Message number i: b"%08d" % i, or `size` bytes where byte j is (i + j) % 251."""
    if size is None:
        return b"%08d" % i
    start = i % 251
    reps = (start + size) // 251 + 1
    return (bytes(range(251)) * reps)[start:start + size]


class Fail(Exception):
    """The scenario failed; the message says why."""


SAY_LOCK = threading.Lock()


def say(*words):
    """Prints one whole line; the monitor and ZAP threads print too."""
    with SAY_LOCK:
        sys.stdout.write(" ".join(words) + "\n")
        sys.stdout.flush()


def frames_text(frames):
    return ",".join("x" + bytes(f).hex() for f in frames)


def show(frames):
    """Short printable form of a message for FAIL reasons."""
    parts = []
    for f in frames:
        f = bytes(f)
        parts.append(repr(f) if len(f) <= 40 else "<%d bytes %r...>" % (len(f), f[:16]))
    return "[" + ", ".join(parts) + "]"


def recv(sock, what):
    try:
        return sock.recv_multipart()
    except zmq.Again:
        raise Fail("timed out waiting for %s" % what) from None


def send(sock, frames, what):
    try:
        sock.send_multipart(frames)
    except zmq.Again:
        raise Fail("timed out sending %s" % what) from None


# Scenarios. Each takes (sock, args) and returns normally on success or raises Fail.

def scenario_echo(sock, args):
    seen = set()
    n = 0
    while True:
        frames = recv(sock, "message %d to echo" % n)
        if args.type == "ROUTER" and frames[0] not in seen:
            seen.add(frames[0])
            say("ID", bytes(frames[0]).hex())
        send(sock, frames, "echo of message %d" % n)
        n += 1
        if frames[-1] == b"END":
            return


def scenario_client(sock, args):
    prefix = []
    if args.type == "ROUTER":
        if not args.peer_id:
            raise Fail("a ROUTER client needs --peer-id")
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        try:
            sock.send_multipart([b"nobody-has-this-id", b"x"])
            raise Fail("ROUTER_MANDATORY accepted a message for an unknown routing id")
        except zmq.ZMQError as e:
            if e.errno != zmq.EHOSTUNREACH:
                raise Fail("ROUTER_MANDATORY: expected EHOSTUNREACH, got %s" % e) from None
        say("UNREACHABLE")
        prefix = [args.peer_id.encode()]
        wait_routable(sock, prefix[0], args)
    if args.delim:
        prefix = prefix + [b""]
    for i, msg in enumerate(standard_messages(args.size)):
        send(sock, prefix + msg, "message %d" % i)
        reply = recv(sock, "reply to message %d" % i)
        if reply != prefix + msg:
            raise Fail("message %d: sent %s, got back %s" % (i, show(prefix + msg), show(reply)))


def wait_routable(sock, peer_id, args):
    """Send a ping to peer_id until ROUTER_MANDATORY stops refusing it, then expect it echoed."""
    deadline = time.monotonic() + args.io_timeout / 1000
    while True:
        try:
            sock.send_multipart([peer_id, b"ping"])
            break
        except zmq.ZMQError as e:
            if e.errno != zmq.EHOSTUNREACH:
                raise
            if time.monotonic() > deadline:
                raise Fail("peer %r never became routable" % peer_id) from None
            time.sleep(0.01)
    reply = recv(sock, "echo of ping")
    if reply != [peer_id, b"ping"]:
        raise Fail("ping: got back %s" % show(reply))


def scenario_source(sock, args):
    for i in range(args.count):
        send(sock, [payload(i, args.size)], "message %d" % i)
    send(sock, [b"END"], "END")


def scenario_sink(sock, args):
    for k in range(args.count):
        i = args.offset + k * args.step
        frames = recv(sock, "message %d (%d of %d)" % (i, k, args.count))
        want = payload(i, args.size)
        if frames != [want]:
            raise Fail("message %d: expected %s, got %s" % (i, show([want]), show(frames)))
    frames = recv(sock, "END")
    if frames != [b"END"]:
        raise Fail("expected END after %d messages, got %s" % (args.count, show(frames)))


def scenario_pub(sock, args):
    poller = zmq.Poller()
    poller.register(sys.stdin.fileno(), zmq.POLLIN)
    deadline = time.monotonic() + args.io_timeout / 1000
    while True:
        send(sock, [b"sync"], "sync")
        if poller.poll(20):
            line = sys.stdin.readline().strip()
            if line == "GO":
                break
            raise Fail("expected GO on stdin, got %r" % line)
        if time.monotonic() > deadline:
            raise Fail("no subscriber said GO")
    for msg in TOPIC_SET:
        send(sock, msg, "topic message")


def scenario_sub(sock, args):
    # Subscriptions were made before bind/connect (see make_socket).
    while True:
        frames = recv(sock, "a published message")
        say("GOT", frames_text(frames))
        if frames == [b"END"]:
            return


def scenario_xpub(sock, args):
    frames = recv(sock, "a subscription message")
    say("SUBMSG", frames_text(frames))
    if len(frames) != 1 or not frames[0].startswith(b"\x01"):
        raise Fail("expected a subscription message \\x01topic, got %s" % show(frames))
    topic = bytes(frames[0][1:])
    for msg in ([topic + b".1"], [b"other.1"], [topic + b".END"]):
        send(sock, msg, "topic message")
    frames = recv(sock, "the unsubscription message")
    say("SUBMSG", frames_text(frames))
    if frames != [b"\x00" + topic]:
        raise Fail("expected %s, got %s" % (show([b"\x00" + topic]), show(frames)))


def scenario_xsub(sock, args):
    topic = args.subscribe[0].encode() if args.subscribe else b"topic"
    send(sock, [b"\x01" + topic], "subscription")
    while True:
        frames = recv(sock, "a published message")
        say("GOT", frames_text(frames))
        if len(frames) != 1 or not frames[0].startswith(topic):
            raise Fail("XSUB subscribed to %r received %s" % (topic, show(frames)))
        if frames[0] == topic + b".END":
            break
    send(sock, [b"\x00" + topic], "unsubscription")


def scenario_props(sock, args):
    send(sock, [b"hello"], "hello")
    frame = sock.recv(copy=False)
    for name in args.property or []:
        try:
            value = frame.get(name)
        except zmq.ZMQError:
            say("PROP", name, "none")
            continue
        if isinstance(value, str):
            value = value.encode()
        say("PROP", name, bytes(value).hex())


def scenario_expect_fail(sock, args):
    # The Monitor prints every event as it comes, the failure too (expect_fail implies --monitor).
    deadline = time.monotonic() + args.io_timeout / 1000
    seen = 0
    while True:
        if sock.poll(20, zmq.POLLIN):
            frames = sock.recv_multipart(zmq.NOBLOCK)
            raise Fail("received %s from a peer that should not get through" % show(frames))
        events = args.events.snapshot()
        for name, _value in events[seen:]:
            if name == "HANDSHAKE_SUCCEEDED":
                raise Fail("the handshake succeeded")
            if name.startswith("HANDSHAKE_FAILED_") or name == "DISCONNECTED":
                return
        seen = len(events)
        if time.monotonic() > deadline:
            raise Fail("no handshake failure within %d ms" % args.io_timeout)


def flood_greeting(kind):
    """The bytes each flood connection sends: the 10-byte signature or a whole 64-byte greeting."""
    signature = b"\xff" + b"\x00" * 8 + b"\x7f"
    if kind == "signature":
        return signature
    # version 3.0, mechanism (20 bytes, NUL-padded), as-server 0, 31 bytes filler
    return signature + b"\x03\x00" + kind.encode().ljust(20, b"\x00") + b"\x00" + b"\x00" * 31


def tcp_host_port(endpoint):
    if not endpoint.startswith("tcp://"):
        raise Fail("flood needs --connect tcp://HOST:PORT, not %r" % endpoint)
    host, _, port = endpoint[len("tcp://"):].rpartition(":")
    return host.strip("[]"), int(port)


def scenario_flood(args):
    """Not a zmq scenario: raw TCP connections that stall in the handshake (see the docstring)."""
    address = tcp_host_port(args.connect)
    greeting = flood_greeting(args.flood_greeting)
    conns = []
    try:
        for i in range(args.count):
            try:
                c = socket.create_connection(address, timeout=args.io_timeout / 1000)
                conns.append(c)
                c.sendall(greeting)
            except OSError as e:
                raise Fail("flood connection %d: %s" % (i, e)) from None
        say("READY", "flood")
        # Held until the test says so; the watchdog bounds this like everything else.
        for line in sys.stdin:
            if line.strip() == "END":
                break
        say("CLOSED", str(sum(1 for c in conns if peer_closed(c))))
    finally:
        for c in conns:
            c.close()


def peer_closed(conn):
    """Whether the other side closed conn (reads, without blocking, whatever it sent)."""
    conn.setblocking(False)
    try:
        while True:
            if not conn.recv(65536):
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


SCENARIOS = {
    "echo": (scenario_echo, {"PAIR", "REP", "DEALER", "ROUTER"}),
    "client": (scenario_client, {"PAIR", "REQ", "DEALER", "ROUTER"}),
    "source": (scenario_source, {"PUSH", "PAIR", "DEALER"}),
    "sink": (scenario_sink, {"PULL", "PAIR", "DEALER"}),
    "pub": (scenario_pub, {"PUB", "XPUB"}),
    "sub": (scenario_sub, {"SUB", "XSUB"}),
    "xpub": (scenario_xpub, {"XPUB"}),
    "xsub": (scenario_xsub, {"XSUB"}),
    "props": (scenario_props, {"DEALER"}),
    "expect_fail": (scenario_expect_fail, set(TYPES)),
    "flood": (scenario_flood, None),
}


def make_socket(ctx, args):
    sock = ctx.socket(TYPES[args.type])
    sock.rcvtimeo = args.io_timeout
    sock.sndtimeo = args.io_timeout
    sock.linger = args.io_timeout
    sock.reconnect_ivl = 50
    if args.routing_id:
        sock.setsockopt(zmq.ROUTING_ID, args.routing_id.encode())
    if args.ipv6:
        sock.ipv6 = 1
    if args.maxmsgsize is not None:
        sock.maxmsgsize = args.maxmsgsize
    if args.heartbeat is not None:
        sock.heartbeat_ivl = args.heartbeat
        # A generous timeout: a loaded CI machine must not turn a late PONG into a failure.
        sock.heartbeat_timeout = 10 * args.heartbeat
        sock.heartbeat_ttl = 10 * args.heartbeat
    if args.hwm is not None:
        sock.sndhwm = args.hwm
        sock.rcvhwm = args.hwm
    if args.plain_server:
        sock.plain_server = 1
    if args.plain_username is not None:
        sock.plain_username = args.plain_username.encode()
    if args.plain_password is not None:
        sock.plain_password = args.plain_password.encode()
    if args.curve_server or args.curve_serverkey:
        secret, public = args.curve_secret, args.curve_public
        if secret is None:
            public, secret = zmq.curve_keypair()  # only a client gets here (see parse_args)
        elif public is None:
            public = zmq.curve_public(secret)
        sock.curve_secretkey = secret
        sock.curve_publickey = public
        if args.curve_server:
            sock.curve_server = 1
        else:
            sock.curve_serverkey = args.curve_serverkey
    if args.zap_domain is not None:
        sock.zap_domain = args.zap_domain.encode()
    if args.type == "SUB":
        for topic in args.subscribe or [t.decode() for t in SUBSCRIBER_TOPICS]:
            sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
    elif args.type == "XSUB" and args.scenario == "sub":
        for topic in args.subscribe or [t.decode() for t in SUBSCRIBER_TOPICS]:
            sock.send(b"\x01" + topic.encode())
    return sock


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--type", choices=sorted(TYPES), help="socket type (all but flood)")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--bind", help="endpoint to bind, e.g. tcp://127.0.0.1:*")
    where.add_argument("--connect", help="endpoint to connect to")
    ap.add_argument("--count", type=int, default=10, help="messages for source/sink")
    ap.add_argument("--offset", type=int, default=0, help="sink: number of the first message")
    ap.add_argument("--step", type=int, default=1, help="sink: expect every STEP-th message")
    ap.add_argument("--size", type=int, help="message size for source/sink/client (default: "
                    "short numbered messages)")
    ap.add_argument("--routing-id", help="ROUTING_ID of this socket")
    ap.add_argument("--peer-id", help="routing id a ROUTER client sends to")
    ap.add_argument("--subscribe", action="append", help="topic for sub/xsub (repeatable)")
    ap.add_argument("--property", action="append", help="props: a property to print (repeatable)")
    ap.add_argument("--delim", action="store_true", help="client: prefix an empty frame")
    ap.add_argument("--maxmsgsize", type=int)
    ap.add_argument("--hwm", type=int, help="SNDHWM and RCVHWM")
    ap.add_argument("--ipv6", action="store_true")
    ap.add_argument("--heartbeat", type=int, metavar="MS",
                    help="HEARTBEAT_IVL (timeout and TTL 10x) and fail if the connection drops")
    ap.add_argument("--io-timeout", type=int, default=10000, help="ms for any one blocking call")
    ap.add_argument("--timeout", type=float, default=30, help="s before the watchdog kills us")
    ap.add_argument("--plain-server", action="store_true", help="ZMQ_PLAIN_SERVER")
    ap.add_argument("--plain-username", metavar="U", help="ZMQ_PLAIN_USERNAME")
    ap.add_argument("--plain-password", metavar="P", help="ZMQ_PLAIN_PASSWORD")
    ap.add_argument("--curve-server", action="store_true", help="ZMQ_CURVE_SERVER")
    ap.add_argument("--curve-secret", metavar="Z85", type=z85_key, help="ZMQ_CURVE_SECRETKEY")
    ap.add_argument("--curve-public", metavar="Z85", type=z85_key,
                    help="ZMQ_CURVE_PUBLICKEY (default: derived from --curve-secret)")
    ap.add_argument("--curve-serverkey", metavar="Z85", type=z85_key, help="ZMQ_CURVE_SERVERKEY")
    ap.add_argument("--zap-domain", metavar="D", help="ZMQ_ZAP_DOMAIN")
    ap.add_argument("--zap", metavar="SPEC", type=zap_rules,
                    help="run a ZAP handler replying as SPEC says (see above)")
    ap.add_argument("--monitor", action="store_true", help="print monitor events as EVENT lines")
    ap.add_argument("--flood-greeting", default="signature",
                    choices=["signature", "NULL", "PLAIN", "CURVE"],
                    help="flood: send the 10-byte signature or a whole greeting naming this "
                    "mechanism (default: signature)")
    args = ap.parse_args(argv)
    types = SCENARIOS[args.scenario][1]
    if types is None:
        if args.connect is None:
            ap.error("scenario %s needs --connect tcp://HOST:PORT" % args.scenario)
    elif args.type is None:
        ap.error("scenario %s needs --type" % args.scenario)
    elif args.type not in types:
        ap.error("scenario %s does not support %s" % (args.scenario, args.type))
    if args.curve_server and args.curve_secret is None:
        ap.error("--curve-server needs --curve-secret")
    if args.curve_server and args.curve_serverkey:
        ap.error("--curve-server and --curve-serverkey: a socket is a CURVE server or a client")
    if args.curve_public and not args.curve_secret:
        ap.error("--curve-public needs --curve-secret")
    return args


def z85_key(text):
    """A CURVE key on the command line: 40 Z85 characters (32 bytes); returned as bytes."""
    try:
        if len(text) == 40 and len(z85.decode(text.encode())) == 32:
            return text.encode()
    except (ValueError, KeyError, TypeError):
        pass
    raise argparse.ArgumentTypeError("not a 40-character Z85 key: %r" % text)


def event_name(number):
    try:
        return zmq.Event(number).name
    except ValueError:
        return "EVENT_%d" % number


class Monitor:
    """Collects a socket's monitor events in a background thread, and with `show` prints each
    one as an EVENT line as it arrives. Started before bind/connect, so it sees them all."""

    def __init__(self, sock, show):
        self.sock = sock
        self.show = show
        self.pipe = sock.get_monitor_socket(zmq.EVENT_ALL)
        self.events = []  # (name, value), in order
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _take(self):
        ev = recv_monitor_message(self.pipe)
        name = event_name(ev["event"])
        if self.show:
            say("EVENT", name, str(ev["value"]))  # printed before it is recorded: see expect_fail
        with self.lock:
            self.events.append((name, ev["value"]))

    def _run(self):
        while not self.stopping.is_set():
            if self.pipe.poll(20):
                self._take()

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def count(self, name):
        return sum(1 for n, _ in self.snapshot() if n == name)

    def stop(self):
        """Stops the thread, takes the events already queued, and closes the monitor."""
        self.stopping.set()
        self.thread.join()
        while self.pipe.poll(0):
            self._take()
        self.sock.disable_monitor()
        self.pipe.close(linger=0)


ZAP_STATUS_TEXT = {
    b"200": b"OK",
    b"300": b"Temporary error",
    b"400": b"Authentication failure",
    b"500": b"Internal error",
}


def zap_rules(spec):
    try:
        return ZapRules(spec)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class ZapRules:
    """The --zap SPEC (see the docstring), parsed; a ValueError says what is wrong with it."""

    def __init__(self, spec):
        self.rules = []  # (kind, value) for allow, deny, status, plain, curve
        self.user_id = None
        self.metadata = b""
        for rule in spec.split(","):
            kind, _, value = rule.partition(":")
            if rule in ("allow", "deny"):
                self.rules.append((rule, None))
            elif kind == "status" and value.encode() in ZAP_STATUS_TEXT:
                self.rules.append((kind, value.encode()))
            elif kind == "plain" and ":" in value:
                user, _, password = value.partition(":")
                self.rules.append((kind, [user.encode(), password.encode()]))
            elif kind == "curve":
                self.rules.append((kind, z85.decode(z85_key(value))))
            elif kind == "userid":
                self.user_id = value.encode()
            elif kind == "meta" and "=" in value:
                name, _, val = value.partition("=")
                name, val = name.encode(), val.encode()
                if not 0 < len(name) < 256:
                    raise ValueError("metadata name must be 1 to 255 bytes: %r" % name)
                self.metadata += bytes([len(name)]) + name + struct.pack(">I", len(val)) + val
            else:
                raise ValueError("bad ZAP rule %r" % rule)

    def status(self, mechanism, credentials):
        for kind, value in self.rules:
            if kind == "allow":
                return b"200"
            if kind == "deny":
                return b"400"
            if kind == "status":
                return value
            if kind == "plain" and mechanism == b"PLAIN" and credentials == value:
                return b"200"
            if kind == "curve" and mechanism == b"CURVE" and credentials == [value]:
                return b"200"
        return b"400"

    def reply(self, request_id, mechanism, credentials):
        status = self.status(mechanism, credentials)
        user_id, metadata = b"", b""
        if status == b"200":
            user_id = self.user_id
            if user_id is None:
                user_id = credentials[0] if mechanism == b"PLAIN" else b"anonymous"
            metadata = self.metadata
        return [b"1.0", request_id, status, ZAP_STATUS_TEXT[status], user_id, metadata]


def text_or_dash(b):
    return b.decode("utf-8", "backslashreplace") if b else "-"


class ZapHandler:
    """A hand-written ZAP handler (RFC 27) on the context's inproc://zeromq.zap.01, logging
    every request as a ZAP line and replying as the rules say, in a background thread."""

    def __init__(self, ctx, rules, io_timeout):
        self.rules = rules
        self.rep = ctx.socket(zmq.REP)
        self.rep.linger = 0
        self.rep.sndtimeo = io_timeout
        self.rep.bind("inproc://zeromq.zap.01")
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while not self.stopping.is_set():
                if self.rep.poll(20):
                    self.rep.send_multipart(self._answer(self.rep.recv_multipart()))
        except Exception as e:  # noqa: BLE001 - a broken handler must not pass for a refusal
            say("FAIL ZAP handler %s: %s" % (type(e).__name__, e))
            os._exit(1)

    def _answer(self, frames):
        if len(frames) < 6:
            say("ZAP", "malformed", frames_text(frames))
            return [b"1.0", frames[1] if len(frames) > 1 else b"", b"500",
                    ZAP_STATUS_TEXT[b"500"], b"", b""]
        _version, request_id, domain, address, routing_id, mechanism = frames[:6]
        credentials = frames[6:]
        say("ZAP", text_or_dash(mechanism), text_or_dash(domain), text_or_dash(address),
            routing_id.hex() or "-", frames_text(credentials) or "-")
        return self.rules.reply(request_id, mechanism, credentials)

    def stop(self):
        self.stopping.set()
        self.thread.join()
        self.rep.close(linger=0)


def watchdog(seconds):
    def fire():
        say("FAIL watchdog: still running after %g s" % seconds)
        os._exit(124)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()


def main(argv):
    args = parse_args(argv)
    watchdog(args.timeout)
    if args.scenario == "flood":
        try:
            scenario_flood(args)
        except Fail as e:
            say("FAIL", str(e))
            return 1
        say("OK")
        return 0
    ctx = zmq.Context()
    try:
        zap = ZapHandler(ctx, args.zap, args.io_timeout) if args.zap else None
        sock = make_socket(ctx, args)
        show = args.monitor or args.scenario == "expect_fail"
        monitor = Monitor(sock, show) if show or args.heartbeat is not None else None
        args.events = monitor
        if args.bind:
            sock.bind(args.bind)
            say("READY", sock.getsockopt(zmq.LAST_ENDPOINT).decode())
        else:
            sock.connect(args.connect)
            say("READY", args.connect)
        SCENARIOS[args.scenario][0](sock, args)
        if monitor is not None:
            # Only drops while the scenario ran: the peer closing once it is done is no drop.
            drops = monitor.count("DISCONNECTED")
            monitor.stop()
            if args.heartbeat is not None:
                say("DISCONNECTS", str(drops))
                if drops:
                    raise Fail("the connection dropped %d time(s) with heartbeats on" % drops)
        # Close with linger so that what we sent last reaches the peer before we say OK. A pure
        # receiver has nothing to deliver; a SUB may hold subscriptions re-queued for a publisher
        # that went away, which would hold up its close for the whole linger.
        receiver = args.scenario in ("sub", "sink", "expect_fail")
        sock.close(linger=0 if receiver else args.io_timeout)
        if zap is not None:
            zap.stop()
        ctx.term()
    except Fail as e:
        say("FAIL", str(e))
        return 1
    except Exception as e:  # noqa: BLE001 - anything else is a failure too, reported as such
        say("FAIL %s: %s" % (type(e).__name__, e))
        return 1
    say("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

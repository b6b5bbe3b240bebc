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
  OK                 scenario passed (exit status 0)
  FAIL <reason>      scenario failed (exit status 1)

<frames> is the message's frames, each written as "x" followed by its bytes in hex, joined by ",":
the message [b"A.1", b""] is "xa412e31,x".

Every blocking call is bounded (RCVTIMEO/SNDTIMEO/poll, --io-timeout ms), and a watchdog thread
ends the whole process with status 124 after --timeout seconds, whatever it is doing.

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
          PROP <name> none) for each --property as zmq_msg_gets reads it.          [DEALER]
"""

import argparse
import os
import sys
import threading
import time

import zmq

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


def say(*words):
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
    ap.add_argument("--type", required=True, choices=sorted(TYPES))
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
    args = ap.parse_args(argv)
    if args.type not in SCENARIOS[args.scenario][1]:
        ap.error("scenario %s does not support %s" % (args.scenario, args.type))
    return args


def count_events(monitor):
    n = 0
    while monitor.poll(0):
        monitor.recv_multipart()
        n += 1
    return n


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
    ctx = zmq.Context()
    try:
        sock = make_socket(ctx, args)
        monitor = None
        if args.heartbeat is not None:
            monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        if args.bind:
            sock.bind(args.bind)
            say("READY", sock.getsockopt(zmq.LAST_ENDPOINT).decode())
        else:
            sock.connect(args.connect)
            say("READY", args.connect)
        SCENARIOS[args.scenario][0](sock, args)
        if monitor is not None:
            drops = count_events(monitor)
            say("DISCONNECTS", str(drops))
            if drops:
                raise Fail("the connection dropped %d time(s) with heartbeats on" % drops)
            sock.disable_monitor()
            monitor.close(linger=0)
        # Close with linger so that what we sent last reaches the peer before we say OK. A pure
        # receiver has nothing to deliver; a SUB may hold subscriptions re-queued for a publisher
        # that went away, which would hold up its close for the whole linger.
        receiver = args.scenario in ("sub", "sink")
        sock.close(linger=0 if receiver else args.io_timeout)
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

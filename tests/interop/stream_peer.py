"""A libzmq (pyzmq) STREAM peer for crates/oxmq/tests/stream.rs.

    stream_peer.py server 'tcp://127.0.0.1:*'   bind, print READY <endpoint>, then: wait for a
                                                 peer's connect notification, expect "ping",
                                                 answer "pong", close the peer (empty body)
    stream_peer.py client <endpoint>            connect, send "hello" at once (queued before the
                                                 connection is up), expect "world" back, then
                                                 the disconnect notification when the other
                                                 side closes

Data may arrive split or merged across reads, so each expectation collects bytes until it has
the whole string. Prints GOT lines while it runs and OK or FAIL <reason> at the end; every
receive is bounded by RCVTIMEO, and a watchdog ends the process after 30 s.
"""

import sys
import threading
import os

import zmq


def watchdog():
    timer = threading.Timer(30.0, lambda: os._exit(3))
    timer.daemon = True
    timer.start()


def say(line):
    print(line, flush=True)


def recv(sock):
    parts = sock.recv_multipart()
    say("GOT " + " ".join(p.hex() or "-" for p in parts))
    if len(parts) != 2:
        raise AssertionError("expected two frames, got %r" % parts)
    return parts


def expect_data(sock, rid, want):
    got = b""
    while len(got) < len(want):
        peer, data = recv(sock)
        if peer != rid:
            raise AssertionError("data from %r, expected %r" % (peer, rid))
        if not data:
            raise AssertionError("peer left before sending %r (got %r)" % (want, got))
        got += data
    if got != want:
        raise AssertionError("expected %r, got %r" % (want, got))


def expect_notification(sock, rid=None):
    peer, data = recv(sock)
    if data:
        raise AssertionError("expected a notification, got data %r" % data)
    if rid is not None and peer != rid:
        raise AssertionError("notification for %r, expected %r" % (peer, rid))
    return peer


def server(sock, endpoint):
    sock.bind(endpoint)
    say("READY " + sock.getsockopt(zmq.LAST_ENDPOINT).decode())
    rid = expect_notification(sock)
    expect_data(sock, rid, b"ping")
    sock.send_multipart([rid, b"pong"])
    sock.send_multipart([rid, b""])


def client(sock, endpoint):
    sock.connect(endpoint)
    rid = sock.getsockopt(zmq.ROUTING_ID)
    sock.send_multipart([rid, b"hello"])
    say("READY " + endpoint)
    expect_notification(sock, rid)
    expect_data(sock, rid, b"world")
    expect_notification(sock, rid)


def main():
    watchdog()
    role, endpoint = sys.argv[1], sys.argv[2]
    ctx = zmq.Context()
    sock = ctx.socket(zmq.STREAM)
    sock.rcvtimeo = 10000
    sock.sndtimeo = 10000
    sock.linger = 1000
    try:
        {"server": server, "client": client}[role](sock, endpoint)
    except Exception as e:  # reported to the Rust side, which fails the test
        say("FAIL %s" % e)
        sys.exit(1)
    say("OK")
    sock.close()
    ctx.term()


if __name__ == "__main__":
    main()

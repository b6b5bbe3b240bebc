#!/usr/bin/env python3
"""Runs peer.py against itself: libzmq on both sides of every scenario pair the Rust interop tests use.

This proves the harness, not oxmq: if a pairing passes here and fails in crates/oxmq/tests/interop.rs,
the difference is oxmq's. Each pair runs twice, once with each side binding. Prints one line per
case and a closing "N passed, N failed" line; exits non-zero if any case failed.

The security cases (PLAIN, CURVE, ZAP) also pin down what libzmq does, for oxmq to match: the
lines each side must (or, prefixed "!", must not) print, e.g. which side sees which monitor event
when a password or key is wrong. The flood cases hold half-open handshakes to a bound peer while a
real client is served.

Usage: selftest.py [-k SUBSTRING]
"""

import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "peer.py")
BIG = 16 * 1024 * 1024

# (name, left args, right args); the left side is the one the Rust tests play with oxmq.
CASES = [
    ("pair-echo", ["client", "--type", "PAIR"], ["echo", "--type", "PAIR"]),
    ("req-rep", ["client", "--type", "REQ"], ["echo", "--type", "REP"]),
    ("req-router", ["client", "--type", "REQ"], ["echo", "--type", "ROUTER"]),
    ("dealer-rep", ["client", "--type", "DEALER", "--delim"], ["echo", "--type", "REP"]),
    ("dealer-dealer", ["client", "--type", "DEALER"], ["echo", "--type", "DEALER"]),
    ("dealer-router", ["client", "--type", "DEALER", "--routing-id", "dealer-1"],
     ["echo", "--type", "ROUTER"]),
    ("router-router", ["client", "--type", "ROUTER", "--routing-id", "left", "--peer-id", "right"],
     ["echo", "--type", "ROUTER", "--routing-id", "right"]),
    ("router-dealer", ["client", "--type", "ROUTER", "--peer-id", "dealer-2"],
     ["echo", "--type", "DEALER", "--routing-id", "dealer-2"]),
    ("pair-16MiB", ["client", "--type", "PAIR", "--size", str(BIG)], ["echo", "--type", "PAIR"]),
    ("push-pull-100k", ["source", "--type", "PUSH", "--count", "100000"],
     ["sink", "--type", "PULL", "--count", "100000"]),
    ("push-pull-16MiB", ["source", "--type", "PUSH", "--count", "2", "--size", str(BIG)],
     ["sink", "--type", "PULL", "--count", "2", "--size", str(BIG)]),
    ("pub-sub", ["pub", "--type", "PUB"], ["sub", "--type", "SUB"]),
    ("pub-xsub", ["pub", "--type", "PUB"], ["sub", "--type", "XSUB"]),
    ("xpub-sub", ["pub", "--type", "XPUB"], ["sub", "--type", "SUB"]),
    ("xpub-xsub", ["xpub", "--type", "XPUB"], ["xsub", "--type", "XSUB"]),
    ("xpub-sub-topic", ["xpub", "--type", "XPUB"], ["xsub", "--type", "XSUB",
                                                    "--subscribe", "weather"]),
]

# CURVE key pairs (libzmq's tests' keys), Z85.
SERVER_SECRET = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
SERVER_PUBLIC = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
CLIENT_SECRET = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"
CLIENT_PUBLIC = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
CLIENT_PUBLIC_HEX = "bb88471d65e2659b30c55a5321cebb5aab2b70a398645c26dca2b2fcb43fc518"
PLAIN_OK = ["--plain-username", "admin", "--plain-password", "secret"]
PLAIN_BAD = ["--plain-username", "admin", "--plain-password", "wrong"]
PLAIN_SERVER = ["--plain-server", "--zap", "plain:admin:secret"]
CURVE_CLIENT = ["--curve-serverkey", SERVER_PUBLIC, "--curve-secret", CLIENT_SECRET]
CURVE_SERVER = ["--curve-server", "--curve-secret", SERVER_SECRET]
SUCCEEDED = "EVENT HANDSHAKE_SUCCEEDED 0"
ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC = 0x11000001
# A peer that closes the connection in the handshake without an ERROR command: the other side
# sees HANDSHAKE_FAILED_NO_DETAIL with an errno (EPIPE, ECONNRESET...).
SILENT_CLOSE = "EVENT HANDSHAKE_FAILED_NO_DETAIL "

# (name, left args, right args, {"left": lines, "right": lines}): lines each side must print
# (by prefix), or with a leading "!" must not.
SECURITY_CASES = [
    ("plain", ["client", "--type", "REQ", "--monitor"] + PLAIN_OK,
     ["echo", "--type", "REP", "--monitor"] + PLAIN_SERVER,
     {"left": [SUCCEEDED],
      "right": ["ZAP PLAIN - 127.0.0.1 - x61646d696e,x736563726574", SUCCEEDED]}),
    # libzmq 4.3.5's PLAIN server and client both spell ERROR as "\x5eRROR" (a C "\x05ERROR"
    # whose hex escape eats the E), so both sides see HANDSHAKE_FAILED_AUTH 400 here; its PLAIN
    # client answers a correct "\x05ERROR" with HANDSHAKE_FAILED_PROTOCOL (unexpected command).
    ("plain-wrong-password", ["expect_fail", "--type", "DEALER"] + PLAIN_BAD,
     ["expect_fail", "--type", "ROUTER"] + PLAIN_SERVER,
     {"left": ["EVENT HANDSHAKE_FAILED_AUTH 400", "!" + SUCCEEDED],
      "right": ["ZAP PLAIN - 127.0.0.1 - x61646d696e,x77726f6e67",
                "EVENT HANDSHAKE_FAILED_AUTH 400"]}),
    # libzmq 4.3.5's PLAIN server without a ZAP handler refuses everyone (EFAULT), silently.
    ("plain-no-zap-handler", ["expect_fail", "--type", "DEALER"] + PLAIN_OK,
     ["expect_fail", "--type", "DEALER", "--plain-server"],
     {"left": [SILENT_CLOSE], "right": ["EVENT HANDSHAKE_FAILED_NO_DETAIL 14"]}),
    # The ZAP request's routing id frame is the authenticating socket's own ZMQ_ROUTING_ID.
    ("curve", ["client", "--type", "DEALER", "--routing-id", "cli", "--monitor"] + CURVE_CLIENT,
     ["echo", "--type", "DEALER", "--routing-id", "srv", "--monitor", "--zap",
      "curve:" + CLIENT_PUBLIC] + CURVE_SERVER,
     {"left": [SUCCEEDED],
      "right": ["ZAP CURVE - 127.0.0.1 737276 x" + CLIENT_PUBLIC_HEX, SUCCEEDED]}),
    # libzmq's CURVE server without a ZAP handler lets every client in.
    ("curve-no-zap-handler", ["client", "--type", "DEALER", "--monitor"] + CURVE_CLIENT,
     ["echo", "--type", "DEALER", "--monitor"] + CURVE_SERVER,
     {"left": [SUCCEEDED], "right": [SUCCEEDED]}),
    ("curve-wrong-serverkey", ["expect_fail", "--type", "DEALER", "--curve-serverkey",
                               CLIENT_PUBLIC],
     ["expect_fail", "--type", "DEALER", "--zap", "allow"] + CURVE_SERVER,
     {"left": [SILENT_CLOSE],
      "right": ["EVENT HANDSHAKE_FAILED_PROTOCOL %d" % ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC,
                "!ZAP "]}),
    ("curve-unknown-client", ["expect_fail", "--type", "DEALER"] + CURVE_CLIENT,
     ["expect_fail", "--type", "DEALER", "--zap", "curve:" + SERVER_PUBLIC] + CURVE_SERVER,
     {"left": ["EVENT HANDSHAKE_FAILED_AUTH 400"],
      "right": ["ZAP CURVE - 127.0.0.1 - x" + CLIENT_PUBLIC_HEX,
                "EVENT HANDSHAKE_FAILED_AUTH 400"]}),
    # 300 (temporary): no ERROR command, the server just closes. 500: ERROR "500".
    ("zap-300", ["expect_fail", "--type", "DEALER"] + PLAIN_OK,
     ["expect_fail", "--type", "DEALER", "--plain-server", "--zap", "status:300"],
     {"left": [SILENT_CLOSE], "right": ["ZAP PLAIN ", "EVENT HANDSHAKE_FAILED_AUTH 300"]}),
    ("zap-500", ["expect_fail", "--type", "DEALER"] + CURVE_CLIENT,
     ["expect_fail", "--type", "DEALER", "--zap", "status:500"] + CURVE_SERVER,
     {"left": ["EVENT HANDSHAKE_FAILED_AUTH 500"],
      "right": ["ZAP CURVE ", "EVENT HANDSHAKE_FAILED_AUTH 500"]}),
    # NULL asks ZAP only with a ZAP domain; the request has no credential frames.
    ("zap-null-domain", ["expect_fail", "--type", "DEALER"],
     ["expect_fail", "--type", "DEALER", "--zap", "deny", "--zap-domain", "global"],
     {"left": ["EVENT HANDSHAKE_FAILED_AUTH 400"],
      "right": ["ZAP NULL global 127.0.0.1 - -", "EVENT HANDSHAKE_FAILED_AUTH 400"]}),
    ("zap-null-no-domain", ["client", "--type", "DEALER", "--monitor"],
     ["echo", "--type", "DEALER", "--zap", "deny", "--monitor"],
     {"left": [SUCCEEDED], "right": [SUCCEEDED, "!ZAP "]}),
    # User-Id and ZAP metadata reach the authenticating side's messages, not the client's.
    ("zap-props", ["props", "--type", "DEALER", "--property", "User-Id", "--property", "X-Foo"]
     + PLAIN_OK,
     ["props", "--type", "DEALER", "--plain-server", "--zap",
      "plain:admin:secret,userid:boss,meta:X-Foo=bar,meta:Hello=world",
      "--property", "User-Id", "--property", "X-Foo", "--property", "Hello"],
     {"left": ["PROP User-Id none", "PROP X-Foo none"],
      "right": ["PROP User-Id 626f7373", "PROP X-Foo 626172", "PROP Hello 776f726c64"]}),
    ("zap-props-default-user-id", ["props", "--type", "DEALER"] + PLAIN_OK,
     ["props", "--type", "DEALER", "--property", "User-Id"] + PLAIN_SERVER,
     {"right": ["PROP User-Id 61646d696e"]}),
    ("zap-props-curve-user-id", ["props", "--type", "DEALER"] + CURVE_CLIENT,
     ["props", "--type", "DEALER", "--property", "User-Id", "--zap", "allow"] + CURVE_SERVER,
     {"right": ["PROP User-Id 616e6f6e796d6f7573"]}),  # "anonymous"
]

# (name, server args, flood greeting, client args): the server binds, --count raw connections
# stall in the handshake, and a real client must still be served.
FLOOD_CASES = [
    ("flood-signature", ["echo", "--type", "REP"], "signature", ["client", "--type", "REQ"]),
    ("flood-curve", ["echo", "--type", "REP", "--zap", "allow"] + CURVE_SERVER, "CURVE",
     ["client", "--type", "REQ"] + CURVE_CLIENT),
]
FLOOD_COUNT = 100

EXPECTED_SUB = ["x412e31", "x42", "x412e6d756c7469,x,x70617274", "x4278", "x412e32", "x454e44"]


class Proc:
    def __init__(self, args):
        self.p = subprocess.Popen([sys.executable, PEER] + args, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)
            self.cond.notify_all()

    def wait_line(self, prefix, timeout=15):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if line is not None and line.startswith(prefix):
                        return line
                if None in self.lines or time.monotonic() > deadline:
                    raise RuntimeError("no %r line; output: %r" % (prefix, self.lines))
                self.cond.wait(0.1)

    def finish(self, timeout=40):
        try:
            code = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise RuntimeError("did not exit; output: %r" % self.lines)
        time.sleep(0.05)
        if code != 0 or "OK" not in self.lines:
            raise RuntimeError("exit %d; output: %r" % (code, self.lines))
        return self.lines


def check_lines(side, lines, wanted):
    for want in wanted:
        absent = want.startswith("!")
        prefix = want[1:] if absent else want
        present = any(l is not None and l.startswith(prefix) for l in lines)
        if present == absent:
            raise RuntimeError("%s side %s a %r line; output: %r"
                               % (side, "printed" if absent else "did not print", prefix, lines))


def run(name, left, right, left_binds, expect=None):
    binder, connector = (left, right) if left_binds else (right, left)
    b = Proc(binder + ["--bind", "tcp://127.0.0.1:*"])
    try:
        ep = b.wait_line("READY ").split(" ", 1)[1]
        c = Proc(connector + ["--connect", ep])
        try:
            pub = b if binder[0] == "pub" else c if connector[0] == "pub" else None
            sub = b if binder[0] == "sub" else c if connector[0] == "sub" else None
            if pub and sub:
                sub.wait_line("GOT x73796e63")  # "sync"
                pub.p.stdin.write("GO\n")
                pub.p.stdin.flush()
            lines_c = c.finish()
        finally:
            c.p.kill()
        lines_b = b.finish()
    finally:
        b.p.kill()
    if sub is not None:
        got = [l[4:] for l in (lines_b if sub is b else lines_c) if l and l.startswith("GOT ")]
        got = [g for g in got if g != "x73796e63"]
        if got != EXPECTED_SUB:
            raise RuntimeError("subscriber got %r, expected %r" % (got, EXPECTED_SUB))
    lines_l, lines_r = (lines_b, lines_c) if left_binds else (lines_c, lines_b)
    check_lines("left", lines_l, (expect or {}).get("left", []))
    check_lines("right", lines_r, (expect or {}).get("right", []))


def run_flood(server, greeting, client):
    s = Proc(server + ["--bind", "tcp://127.0.0.1:*"])
    try:
        ep = s.wait_line("READY ").split(" ", 1)[1]
        f = Proc(["flood", "--connect", ep, "--count", str(FLOOD_COUNT),
                  "--flood-greeting", greeting])
        try:
            f.wait_line("READY flood")
            c = Proc(client + ["--connect", ep])
            try:
                c.finish()
            finally:
                c.p.kill()
            f.p.stdin.write("END\n")
            f.p.stdin.flush()
            lines_f = f.finish()
        finally:
            f.p.kill()
        s.finish()
    finally:
        s.p.kill()
    # The echo peer exits after the client's END, closing the flood's connections with it, so
    # CLOSED says nothing here; that the client was served while they were held is the point.
    check_lines("flood", lines_f, ["CLOSED "])


def main():
    only = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "-k" else ""
    passed = failed = 0
    jobs = []
    for name, left, right, *expect in CASES + SECURITY_CASES:
        for left_binds in (True, False):
            label = "%s (%s binds)" % (name, "left" if left_binds else "right")
            jobs.append((label, run, (name, left, right, left_binds) + tuple(expect)))
    for name, server, greeting, client in FLOOD_CASES:
        jobs.append((name, run_flood, (server, greeting, client)))
    for label, fn, fn_args in jobs:
        if only not in label:
            continue
        t0 = time.monotonic()
        try:
            fn(*fn_args)
            passed += 1
            print("ok   %-40s %.2fs" % (label, time.monotonic() - t0), flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print("FAIL %-40s %s" % (label, e), flush=True)
    print("selftest: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

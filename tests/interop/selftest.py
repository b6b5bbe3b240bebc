#!/usr/bin/env python3
"""Runs peer.py against itself: libzmq on both sides of every scenario pair the Rust interop tests use.

This proves the harness, not oxmq: if a pairing passes here and fails in crates/oxmq/tests/interop.rs,
the difference is oxmq's. Each pair runs twice, once with each side binding. Prints one line per
case and a closing "N passed, N failed" line; exits non-zero if any case failed.

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


def run(name, left, right, left_binds):
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


def main():
    only = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "-k" else ""
    passed = failed = 0
    for name, left, right in CASES:
        if only not in name:
            continue
        for left_binds in (True, False):
            label = "%s (%s binds)" % (name, "left" if left_binds else "right")
            t0 = time.monotonic()
            try:
                run(name, left, right, left_binds)
                passed += 1
                print("ok   %-40s %.2fs" % (label, time.monotonic() - t0), flush=True)
            except Exception as e:  # noqa: BLE001
                failed += 1
                print("FAIL %-40s %s" % (label, e), flush=True)
    print("selftest: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

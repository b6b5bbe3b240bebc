#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Compare oxmq's zmq.h with the libzmq zmq.h installed on this system.

Checks, with and without ZMQ_BUILD_DRAFT_API:
  * every macro the reference header defines is defined by ours, with the
    same value (numbers are evaluated, so `ZMQ_XREQ ZMQ_DEALER` and
    `ZMQ_XREQ 5` agree);
  * no macro the reference keeps behind ZMQ_BUILD_DRAFT_API is visible in
    ours without it;
  * every function the reference declares is declared by ours, with a
    compatible type (the reference's prototypes are compiled after ours; C
    rejects a conflicting redeclaration);
  * zmq_msg_t, zmq_fd_t, zmq_pollitem_t and zmq_poller_event_t have the same
    size, alignment and member offsets.

The reference is /usr/include/zmq.h (Debian's libzmq3-dev), or the path in
the REFERENCE_ZMQ_H environment variable. Without it, the check is skipped.
Differences that are facts of the release gap between the reference (4.3.4
on Debian 12) and the interface oxmq declares (4.3.5) are listed as expected
and do not fail the check. Prints every mismatch; exits 1 if there is any.

Usage: python3 crates/oxmq-ffi/tests/check_header.py [CC]
"""

import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OURS = os.path.normpath(os.path.join(HERE, "..", "include", "zmq.h"))
REFERENCE = os.environ.get("REFERENCE_ZMQ_H", "/usr/include/zmq.h")
CC = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CC", "cc")

# Values that changed between libzmq 4.3.4 and 4.3.5: macro -> (4.3.4, 4.3.5).
EXPECTED_434_TO_435 = {
    "ZMQ_VERSION_PATCH": (4, 5),
    "ZMQ_VERSION": (40304, 40305),
    # 4.3.4 shipped 0x3, which overlaps the other two bits; 4.3.5 fixed it.
    "ZMQ_RECONNECT_STOP_AFTER_DISCONNECT": (3, 4),
}

MODES = (("stable", []), ("draft", ["-DZMQ_BUILD_DRAFT_API"]))


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def macro_names(path):
    """Names #defined anywhere in the header, and which are function-like."""
    text = open(path, encoding="utf-8", errors="replace").read()
    names, funclike = [], set()
    for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(\w+)(\()?", text, re.M):
        if m.group(1) not in names:
            names.append(m.group(1))
        if m.group(2):
            funclike.add(m.group(1))
    return names, funclike


def expand(header, names, funclike, flags, tmp):
    """Expansion of each name after including header: None if undefined."""
    src = [f'#include "{header}"']
    for i, name in enumerate(names):
        use = f"{name}(1, 2, 3)" if name in funclike else name
        src += [f"#ifdef {name}", f"@@{i}@@ {use} @@end@@", "#else",
                f"@@{i}@@ @@undef@@", "#endif"]
    path = os.path.join(tmp, "expand.c")
    with open(path, "w") as f:
        f.write("\n".join(src) + "\n")
    res = run([CC, "-E", "-P"] + flags + [path])
    if res.returncode != 0:
        sys.exit(f"preprocessing {header} failed:\n{res.stderr}")
    out = {}
    for m in re.finditer(r"@@(\d+)@@(.*?)@@(end|undef)@@", res.stdout, re.S):
        name = names[int(m.group(1))]
        out[name] = None if m.group(3) == "undef" else " ".join(m.group(2).split())
    return out


INT_EXPR = re.compile(r"^[\s0-9a-fA-FxX()+\-*|&~<>uUlL]*$")


def value(text):
    """A comparable value: an int for integer expressions, else the text."""
    if text is None or text == "":
        return text
    if INT_EXPR.match(text) and re.search(r"\d", text):
        py = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", text)
        try:
            return int(eval(py, {"__builtins__": {}}, {}))
        except Exception:  # noqa: BLE001 -- fall back to the text
            pass
    return text


def own_declarations(header, flags, tmp):
    """The header's own top-level statements, its #includes left out."""
    text = open(header, encoding="utf-8", errors="replace").read()
    text = re.sub(r"^[ \t]*#[ \t]*include\b.*$", "", text, flags=re.M)
    path = os.path.join(tmp, "own.h")
    with open(path, "w") as f:
        f.write(text)
    # Type names such as uint32_t or sigset_t simply stay as words here.
    res = run([CC, "-E", "-P", "-x", "c"] + flags + [path])
    if res.returncode != 0:
        sys.exit(f"preprocessing {header} without includes failed:\n{res.stderr}")
    stmts, depth, cur = [], 0, []
    for ch in res.stdout:
        cur.append(ch)
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == ";" and depth == 0:
            stmts.append(" ".join("".join(cur).split()))
            cur = []
    return stmts


FUNC = re.compile(r"\b(zmq_\w+)\s*\(")


def prototypes(stmts):
    """Function name -> declaration, for the zmq_* functions declared."""
    out = {}
    for s in stmts:
        if s.startswith("typedef") or "{" in s or s.startswith("extern \"C\""):
            continue
        m = FUNC.search(s)
        if m:
            out[m.group(1)] = s
    return out


LAYOUT_SRC = r"""
#include "%s"
#include <stddef.h>
#include <stdio.h>
#define L(T) printf (#T " size=%%zu align=%%zu\n", sizeof (T), _Alignof (T))
#define O(T, m) printf (#T "." #m " offset=%%zu\n", offsetof (T, m))
int main (void)
{
    L (zmq_msg_t);
    L (zmq_fd_t);
    L (zmq_pollitem_t);
    O (zmq_pollitem_t, socket); O (zmq_pollitem_t, fd);
    O (zmq_pollitem_t, events); O (zmq_pollitem_t, revents);
#ifdef ZMQ_BUILD_DRAFT_API
    L (zmq_poller_event_t);
    O (zmq_poller_event_t, socket); O (zmq_poller_event_t, fd);
    O (zmq_poller_event_t, user_data); O (zmq_poller_event_t, events);
#endif
    return 0;
}
"""


def layout(header, flags, tmp, tag):
    src = os.path.join(tmp, f"layout_{tag}.c")
    exe = os.path.join(tmp, f"layout_{tag}")
    with open(src, "w") as f:
        f.write(LAYOUT_SRC % header)
    res = run([CC, "-std=c11", "-o", exe, src] + flags)
    if res.returncode != 0:
        return f"(does not compile: {res.stderr.strip()})"
    return run([exe]).stdout


def main():
    if not os.path.exists(REFERENCE):
        print(f"check_header: SKIP: {REFERENCE} does not exist "
              "(install libzmq3-dev, or set REFERENCE_ZMQ_H)")
        return 0

    ref_names, ref_funclike = macro_names(REFERENCE)
    our_names, our_funclike = macro_names(OURS)
    names = ref_names + [n for n in our_names if n not in ref_names]
    funclike = ref_funclike | our_funclike

    failures, expected = [], []
    with tempfile.TemporaryDirectory() as tmp:
        ref_v = {m: expand(REFERENCE, names, funclike, f, tmp) for m, f in MODES}
        our_v = {m: expand(OURS, names, funclike, f, tmp) for m, f in MODES}
        ref_patch = value(ref_v["stable"].get("ZMQ_VERSION_PATCH"))

        # 1. Every reference macro, same value, in each mode.
        for mode, _ in MODES:
            for name in ref_names:
                r, o = ref_v[mode][name], our_v[mode][name]
                if r is None:
                    continue
                if o is None:
                    failures.append(f"[{mode}] {name}: missing (reference: {r!r})")
                    continue
                rv, ov = value(r), value(o)
                if rv == ov:
                    continue
                gap = EXPECTED_434_TO_435.get(name)
                if ref_patch == 4 and gap == (rv, ov):
                    if mode == "stable" or ref_v["stable"][name] is None:
                        expected.append(f"{name}: {rv} in 4.3.4, {ov} in 4.3.5")
                    continue
                failures.append(f"[{mode}] {name}: reference {r!r}, ours {o!r}")

        # 2. Draft-only macros must stay behind ZMQ_BUILD_DRAFT_API.
        for name in ref_names:
            if (ref_v["stable"][name] is None and ref_v["draft"][name] is not None
                    and our_v["stable"][name] is not None):
                failures.append(f"[stable] {name}: draft-only in the reference, "
                                "visible without ZMQ_BUILD_DRAFT_API in ours")

        extra = sorted(n for n in names if n not in ref_names
                       and any(our_v[m][n] is not None for m, _ in MODES))

        # 3. Functions: same names, compatible prototypes.
        protos = {}
        for mode, flags in MODES:
            ref_p = prototypes(own_declarations(REFERENCE, flags, tmp))
            our_p = prototypes(own_declarations(OURS, flags, tmp))
            for fn in sorted(set(ref_p) - set(our_p)):
                failures.append(f"[{mode}] function {fn}: not declared by ours")
            unit = os.path.join(tmp, f"redeclare_{mode}.c")
            with open(unit, "w") as f:
                f.write(f'#include "{OURS}"\n')
                f.write("\n".join(ref_p[fn] for fn in sorted(ref_p) if fn in our_p))
                f.write("\n")
            res = run([CC, "-std=gnu11", "-fsyntax-only", unit] + flags)
            if res.returncode != 0:
                for line in res.stderr.splitlines():
                    if "error" in line:
                        failures.append(f"[{mode}] prototype: {line.strip()}")
            protos[mode] = (ref_p, our_p)

        ref_s, our_s = protos["stable"]
        ref_d, our_d = protos["draft"]
        for fn in sorted(set(our_s) - set(ref_s)):
            if fn in ref_d:
                failures.append(f"[stable] function {fn}: draft-only in the "
                                "reference, declared without ZMQ_BUILD_DRAFT_API "
                                "in ours")
        extra += [f"{fn}()" for fn in sorted(set(our_d) - set(ref_d))]

        # 4. Layouts.
        for mode, flags in MODES:
            r = layout(REFERENCE, flags, tmp, "ref_" + mode)
            o = layout(OURS, flags, tmp, "ours_" + mode)
            if r != o:
                failures.append(f"[{mode}] layouts differ:\n  reference:\n    "
                                + r.strip().replace("\n", "\n    ")
                                + "\n  ours:\n    " + o.strip().replace("\n", "\n    "))

    print(f"check_header: {OURS}")
    print(f"  against {REFERENCE} (libzmq 4.3.{ref_patch}), "
          f"{len(ref_names)} macro names, stable and draft")
    for e in sorted(set(expected)):
        print(f"  expected (4.3.4 -> 4.3.5): {e}")
    if extra:
        print("  only in ours (newer than the reference): "
              + ", ".join(sorted(set(extra))))
    for f in failures:
        print(f"  MISMATCH {f}")
    if failures:
        print(f"check_header: FAIL ({len(failures)} mismatches)")
        return 1
    print("check_header: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

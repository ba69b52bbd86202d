"""Allocation-failure campaign: every allocation of a whole session fails in turn.

Needs a binary built with -DSTARTTLSD_ALLOC_FAULTS=ON (its -V says so; the
test is skipped otherwise), best with the sanitizers too, e.g. build-alloc:
  cmake -S . -B build-alloc -G Ninja -DSTARTTLSD_WERROR=ON -DSTARTTLSD_SANITIZE=ON \\
        -DSTARTTLSD_ALLOC_FAULTS=ON -DCMAKE_BUILD_TYPE=Debug
  cd build-alloc && ctest --output-on-failure -R alloc_faults
For N = 1, 2, ... a fresh starttlsd with STARTTLSD_ALLOC_FAIL=N fails the
Nth allocation counted from its first connection, which carries one full
session (EHLO, STARTTLS, EHLO, MAIL, RCPT, DATA, QUIT), until a session
gets through without reaching allocation N. Each time:
  - starttlsd does not crash: no serving process exits, no sanitizer report,
    the next session (no more failures: one is injected per process) is
    delivered, and starttlsd stops cleanly (exit 0, nothing leaked);
  - each reply the client gets is the expected success or a 4xx (a
    transient failure), or the connection closes: never a 5xx, never a 250
    for a message the backend did not get whole;
  - the backend holds a complete message only if the client was told 250.
"""
import os
import socket
import ssl
import subprocess
import sys
import time
import unittest

from harness import BIN, Client, Proxy, ScriptedBackend, client_context, wait_for

MAX_N = 2000    # a session that allocates more than this is itself a finding

BODY = (b"From: a@example.test\r\nTo: b@example.test\r\nSubject: alloc\r\n\r\n" +
        b"".join(b"line %d of the message, long enough to be a body\r\n" % i for i in range(40)))


def alloc_build():
    try:
        out = subprocess.run([BIN, "-V"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return False
    return "allocation-failure injection" in out


class Closed(Exception):
    """The server closed the connection (or the TLS layer failed)."""


def full_session(port):
    """One session as a client would run it. Returns (steps, told_250):
    steps is [(command, code)] (code None: closed), told_250 whether the
    message got its 250. Stops at the first reply that is not a success."""
    steps = []
    c = Client(port, timeout=15)

    def expect(what, code, want):
        steps.append((what, code))
        if code != want:
            raise Closed()

    try:
        code, _ = c.reply()
        expect("greeting", code, 220)
        expect("EHLO", c.cmd("EHLO client.example.test")[0], 250)
        code, _ = c.cmd("STARTTLS")
        expect("STARTTLS", code, 220)
        try:
            c.sock = client_context().wrap_socket(c.sock)
        except (ssl.SSLError, OSError):
            expect("handshake", None, "ok")
        expect("EHLO2", c.cmd("EHLO client.example.test")[0], 250)
        expect("MAIL", c.cmd("MAIL FROM:<a@example.test>")[0], 250)
        expect("RCPT", c.cmd("RCPT TO:<b@example.test>")[0], 250)
        expect("DATA", c.cmd("DATA")[0], 354)
        try:
            c.send(BODY + b".\r\n")
        except (ssl.SSLError, OSError):
            pass    # the reply (or the close) says what happened
        code, _ = c.reply()
        steps.append(("dot", code))
        if code != 250:
            raise Closed()
        expect("QUIT", c.cmd("QUIT")[0], 221)
    except Closed:
        pass
    except socket.timeout:
        steps.append(("timeout", "hang"))
    finally:
        c.close()
    return steps, ("dot", 250) in steps


@unittest.skipUnless(alloc_build(), "starttlsd was not built with -DSTARTTLSD_ALLOC_FAULTS=ON")
class AllocFaultTest(unittest.TestCase):
    def check_steps(self, n, steps):
        """Every reply a success or a 4xx, or the connection closed."""
        for what, code in steps:
            self.assertNotEqual(code, "hang", "N=%d: the session hung at %s: %r" % (n, what, steps))
            if code is not None and code >= 400:
                self.assertTrue(400 <= code < 500, "N=%d: %s got a permanent %d: %r" % (n, what, code, steps))

    def check_delivery(self, n, backend, before, told_250):
        """The backend has the message whole if and only if the client was told 250."""
        got = backend.messages[before:]
        if told_250:
            self.assertEqual(len(got), 1, "N=%d: 250 but the backend has %d messages" % (n, len(got)))
            self.assertTrue(got[0].endswith(BODY + b".\r\n"), "N=%d: 250 for a damaged message" % n)
        else:
            self.assertEqual(len(got), 0, "N=%d: the backend has a message the client was not told 250 about" % n)

    def one(self, n, result):
        """Run the campaign's step N: result["hit"] says whether allocation N
        was reached in the session, result["last"] what the client saw last."""
        with ScriptedBackend() as backend:
            env = dict(os.environ, STARTTLSD_ALLOC_FAIL=str(n))
            with Proxy(backend.port, env=env) as p:
                steps, told = full_session(p.port)
                # The session is over for starttlsd too (so is its backend connection).
                wait_for(lambda: "event=disconnect" in p.log() or "event=accept_error" in p.log(), 15,
                         lambda: "N=%d: the session did not end:\n%s" % (n, p.log()))
                wait_for(lambda: all(c.closed for c in list(backend.conns)), 15, "the backend's side to close")
                result["hit"] = "event=alloc_fault n=%d " % n in p.log()
                result["last"] = "%s=%s" % steps[-1]
                if not result["hit"]:
                    return  # the session made fewer than N allocations: done
                self.check_steps(n, steps)
                self.check_delivery(n, backend, 0, told)
                # Then starttlsd serves on: the next session is delivered.
                before = len(backend.messages)
                steps2, told2 = full_session(p.port)
                self.assertTrue(told2, "N=%d: the next session failed: %r\n%s" % (n, steps2, p.log()))
                wait_for(lambda: p.log().count("event=disconnect") + p.log().count("event=accept_error") >= 2, 15,
                         "the second session's end")
                self.check_delivery(n, backend, before, True)
                self.assertNotIn("serving_process_exited", p.log(), "N=%d: crashed:\n%s" % (n, p.log()))
                self.assertNotIn("event=leak", p.log())
            # Proxy.__exit__: exit status 0, no sanitizer report (a leak included).

    def test_every_allocation_of_a_session_fails_in_turn(self):
        outcomes = {}
        start = time.time()
        for n in range(1, MAX_N + 1):
            result = {"hit": True, "last": "?"}
            with self.subTest(n=n):     # every N is tried: all failures are reported
                self.one(n, result)
            if not result["hit"]:
                break
            outcomes.setdefault(result["last"], []).append(n)
        else:
            self.fail("a session made more than %d allocations" % MAX_N)
        self.assertGreater(n, 1, "no allocation failed: is the injection wired?")
        sys.stderr.write("\nalloc faults: %d allocations per session, each failed in turn (%.0fs):\n" %
                         (n - 1, time.time() - start))
        for summary, ns in sorted(outcomes.items(), key=lambda kv: kv[1][0]):
            sys.stderr.write("  last reply %-14s N=%s\n" % (summary, ",".join(map(str, ns))))


if __name__ == "__main__":
    unittest.main()

"""Flow control: starttlsd must bound its memory when one side cannot keep up.

The proxy stops reading a side once ~256 KiB are queued for the other side
(and holds at most ~64 KiB of unprocessed client input), so a peer that
stops reading makes the other peer block in send() instead of making the
proxy buffer everything. Each test drives tens of megabytes through a
session while one side is stalled, samples the proxy's RSS once the
pipeline is stuck, then lets the stalled side go and checks that every
byte arrived intact and in order.
"""
import hashlib
import os
import select
import socket
import ssl
import threading
import time
import unittest

import harness

from harness import Client, Proxy, ScriptedBackend


def load_tests(loader, tests, pattern):
    """Memory bounds under ThreadSanitizer's shadow memory mean nothing, and
    pushing tens of megabytes through it takes minutes: skipped there."""
    if not harness.TSAN:
        return tests

    def skipped():
        raise unittest.SkipTest("memory bounds are measured on the normal and AddressSanitizer builds")
    return unittest.TestSuite([unittest.FunctionTestCase(skipped)])

MIB = 1024
# Allowed RSS growth (KiB) while a side is stalled. The proxy's own buffers
# are a few hundred KiB; the payloads below are 40-100 MB.
RSS_SLACK_KIB = 20 * MIB


def proxy_env():
    """RSS must track live memory, also in a sanitizer build."""
    return harness.asan_env(*harness.NO_QUARANTINE)


GREETING = b"220 backend.example.test ESMTP ready\r\n"
EHLO_REPLY = b"250-backend.example.test greets you\r\n250-PIPELINING\r\n250 8BITMIME\r\n"


class LineReader:
    """Efficient line reader for a backend socket (BackendConn.read_line copies
    its whole buffer per line, which is quadratic for our volumes)."""

    def __init__(self, conn, timeout=60.0):
        self.conn = conn
        self.sock = conn.sock
        self.sock.settimeout(timeout)
        self.buf = conn.buf       # anything BackendConn already buffered
        conn.buf = b""

    def recv(self, n=1 << 20):
        try:
            return self.sock.recv(n)
        except ConnectionError:
            return b""

    def lines(self):
        """Yield batches (lists) of complete lines, CRLF stripped; stops at EOF."""
        while True:
            if b"\n" in self.buf:
                parts = self.buf.split(b"\n")
                self.buf = parts.pop()
                yield [p[:-1] if p.endswith(b"\r") else p for p in parts]
                continue
            d = self.recv()
            if not d:
                return
            self.buf += d

    def line(self):
        while b"\n" not in self.buf:
            d = self.recv()
            if not d:
                return None
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")


def backend_handshake(r, until):
    """Answer greeting and the usual commands until a line starting with `until`
    (case-insensitive) arrives; returns that line."""
    r.conn.send(GREETING)
    while True:
        line = r.line()
        if line is None:
            raise AssertionError("backend: client went away during setup")
        verb = line.split(b" ")[0].upper()
        if line.upper().startswith(until):
            return line
        if verb == b"EHLO":
            r.conn.send(EHLO_REPLY)
        elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            r.conn.send(b"250 2.0.0 ok\r\n")
        else:
            r.conn.send(b"502 5.5.2 unexpected\r\n")


def tls_session(port, timeout=30):
    """A client past STARTTLS and the second EHLO."""
    c = Client(port, timeout=timeout)
    code, raw = c.reply()
    assert code == 220, raw
    code, raw = c.cmd("EHLO client.example.test")
    assert code == 250 and b"STARTTLS" in raw, raw
    c.starttls()
    code, raw = c.cmd("EHLO client.example.test")
    assert code == 250, raw
    return c


def wait_stall(progress, quiet=2.0, limit=60.0):
    """Wait until progress() has not changed for `quiet` seconds; returns its value."""
    deadline = time.time() + limit
    last, since = progress(), time.time()
    while True:
        time.sleep(0.1)  # polling interval of a wait with a deadline
        now, p = time.time(), progress()
        if p != last:
            last, since = p, now
        elif now - since >= quiet:
            return p
        if now > deadline:
            raise AssertionError("no stall within %.0fs (progress %r)" % (limit, p))


def sample_rss(proxy, n=5, interval=0.3):
    out = []
    for _ in range(n):
        out.append(proxy.rss_kib())
        time.sleep(interval)  # samples spread over time while stalled: a measurement, not a wait
    return out


def make_body(size):
    """Message content of about `size` bytes: numbered 76-char lines, CRLF."""
    lines = []
    total, i = 0, 0
    filler = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-+"
    while total < size:
        line = b"%08d " % i + filler[: 76 - 9 - (i % 7)] + b"\r\n"
        lines.append(line)
        total += len(line)
        i += 1
    return b"".join(lines)


class BackendStopsReading(unittest.TestCase):
    BODY_SIZE = 50 * 1024 * 1024

    def _stalled_backend(self, use_tls, early):
        """The backend stops reading after DATA; with early, it also holds back
        the 354 and the client sends the content right after DATA (input the
        proxy must hold, bounded, until the reply says what it is)."""
        body = make_body(self.BODY_SIZE) + b".\r\n"
        expect_sha = hashlib.sha256(body).hexdigest()
        hold = threading.Event()
        at_data = threading.Event()
        got = {}

        def script(c):
            r = LineReader(c, timeout=120)
            backend_handshake(r, b"DATA")
            at_data.set()
            if not early:
                c.send(b"354 go ahead\r\n")
            hold.wait(120)     # do not read: the proxy's writes must stall
            if early:
                c.send(b"354 go ahead\r\n")
            h, n, tail = hashlib.sha256(), 0, b""
            pending, r.buf = r.buf, b""
            while True:
                d = pending or r.recv()
                pending = b""
                if not d:
                    got["eof"] = True
                    return
                window = tail + d
                at = window.find(b"\r\n.\r\n")
                if at >= 0:
                    end = at + 5 - len(tail)    # end of the marker within d
                    h.update(d[:end])
                    n += end
                    r.buf = d[end:]
                    break
                h.update(d)
                n += len(d)
                tail = window[-4:]
            got["sha"], got["size"] = h.hexdigest(), n
            c.send(b"250 2.0.0 queued as BIG\r\n")
            line = r.line()
            if line is not None and line.upper() == b"QUIT":
                c.send(b"221 2.0.0 bye\r\n")

        with ScriptedBackend(script=script) as backend, Proxy(backend.port, env=proxy_env()) as proxy:
            if use_tls:
                c = tls_session(proxy.port)
            else:
                c = Client(proxy.port, timeout=30)
                self.assertEqual(c.reply()[0], 220)
                self.assertEqual(c.cmd("EHLO client.example.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<big@example.test>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<rcpt@example.test>")[0], 250)
            if early:
                c.send("DATA\r\n")
            else:
                code, raw = c.cmd("DATA")
                self.assertEqual(code, 354, raw)
            # The proxy has passed DATA on (with early there is no 354 to say so): idle until the content.
            self.assertTrue(at_data.wait(30), "the backend did not get DATA")
            baseline = proxy.rss_kib()

            c.sock.settimeout(180)
            sent = [0]
            errors = []

            def sender():
                mv = memoryview(body)
                try:
                    for off in range(0, len(body), 65536):
                        chunk = mv[off:off + 65536]
                        c.sock.sendall(chunk)
                        sent[0] = off + len(chunk)
                except Exception as e:  # reported below
                    errors.append(repr(e))

            t = threading.Thread(target=sender, daemon=True)
            t.start()
            stalled_at = wait_stall(lambda: sent[0])
            samples = sample_rss(proxy)
            growth = max(samples) - baseline
            self.assertLess(growth, RSS_SLACK_KIB,
                            "RSS grew by %d KiB (baseline %d KiB, samples %r) while the backend "
                            "was not reading; client had sent %d of %d bytes" %
                            (growth, baseline, samples, stalled_at, len(body)))
            self.assertTrue(t.is_alive() and stalled_at < len(body),
                            "client sent all %d bytes to a backend that reads nothing: "
                            "the proxy did not push back" % len(body))

            hold.set()
            t.join(180)
            self.assertFalse(t.is_alive(), "client send did not finish after the backend resumed")
            self.assertEqual(errors, [])
            self.assertEqual(sent[0], len(body))
            c.sock.settimeout(60)
            if early:
                code, raw = c.reply()    # read only now: one thread per SSL object
                self.assertEqual(code, 354, raw)
            code, raw = c.reply()
            self.assertEqual(code, 250, raw)
            self.assertIn(b"queued as BIG", raw)
            self.assertEqual(got.get("size"), len(body))
            self.assertEqual(got.get("sha"), expect_sha, "message content altered in transit")
            code, raw = c.cmd("QUIT")
            self.assertEqual(code, 221, raw)
            c.close()
            self.assertEqual(backend.errors, [])

    def test_large_message_to_stalled_backend(self):
        """50 MB through STARTTLS to a backend that stops reading after the 354."""
        self._stalled_backend(use_tls=True, early=False)

    def test_content_before_354_is_held_bounded(self):
        """The client sends the content without waiting for the 354 the backend
        holds back: the proxy holds that input without reading all of it."""
        self._stalled_backend(use_tls=False, early=True)

    def test_content_before_354_is_held_bounded_tls(self):
        """Same through TLS: undecrypted input is bounded too."""
        self._stalled_backend(use_tls=True, early=True)


class ClientStopsReading(unittest.TestCase):
    COMMANDS = 200000
    PAD = b"x" * 200

    def test_pipelined_replies_to_stalled_client(self):
        n = self.COMMANDS
        pad = self.PAD
        seen = {"noops": 0}

        def script(c):
            # backend_handshake() stops at (and returns) the first NOOP.
            r = LineReader(c, timeout=120)
            line = backend_handshake(r, b"NOOP")
            out = [reply(line)]
            c.send(b"".join(out))
            for batch in r.lines():
                out = []
                for l in batch:
                    verb = l[:4].upper()
                    if verb == b"NOOP":
                        out.append(reply(l))
                    elif verb == b"QUIT":
                        out.append(b"221 2.0.0 bye\r\n")
                    else:
                        out.append(b"502 5.5.2 unexpected\r\n")
                if out:
                    c.sock.sendall(b"".join(out))
                if batch and batch[-1][:4].upper() == b"QUIT":
                    return

        def reply(line):
            seen["noops"] += 1
            return b"250 2.0.0 " + line[5:] + b" " + pad + b"\r\n"

        commands = b"".join(b"NOOP %06d\r\n" % i for i in range(n))
        expected = b"".join(b"250 2.0.0 %06d " % i + pad + b"\r\n" for i in range(n))

        with ScriptedBackend(script=script) as backend, Proxy(backend.port, env=proxy_env()) as proxy:
            c = tls_session(proxy.port)
            # tls_session() read the reply to the last command: the proxy is idle.
            baseline = proxy.rss_kib()
            sock = c.sock
            sock.setblocking(False)
            out = memoryview(commands)
            state = {"off": 0, "chunk": None}

            def try_send():
                """Send what the socket takes now; True if progress."""
                progress = False
                while state["off"] < len(out):
                    if state["chunk"] is None:
                        state["chunk"] = out[state["off"]:state["off"] + 16384]
                    try:
                        k = sock.send(state["chunk"])
                    except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                        return progress
                    state["off"] += k
                    state["chunk"] = None
                    progress = True
                return progress

            # Phase 1: write only, never read, until writing stalls (or all is
            # written: the kernel's socket buffers may take all the commands).
            deadline = time.time() + 60
            since = time.time()
            while state["off"] < len(out):
                if try_send():
                    since = time.time()
                elif time.time() - since >= 2.0:
                    break
                else:
                    select.select([], [sock], [], 0.1)
                self.assertLess(time.time(), deadline, "phase 1 did not stall or finish")
            # Then until the backend, too, is stuck: replies back up to it.
            wait_stall(lambda: (try_send(), (seen["noops"], state["off"]))[1])
            samples = sample_rss(proxy)
            growth = max(samples) - baseline
            self.assertLess(growth, RSS_SLACK_KIB,
                            "RSS grew by %d KiB (baseline %d KiB, samples %r) while the client "
                            "was not reading; %d commands sent, backend answered %d" %
                            (growth, baseline, samples, state["off"] // 13, seen["noops"]))
            self.assertLess(seen["noops"], n,
                            "backend answered all %d commands while the client read nothing: "
                            "the proxy did not push back" % n)

            # Phase 2: read everything (and send the rest) in one thread.
            got = bytearray()
            deadline = time.time() + 120
            while len(got) < len(expected):
                self.assertLess(time.time(), deadline,
                                "only %d of %d reply bytes" % (len(got), len(expected)))
                try_send()
                try:
                    while True:
                        d = sock.recv(1 << 20)
                        if not d:
                            self.fail("proxy closed after %d of %d reply bytes" % (len(got), len(expected)))
                        got += d
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    pass
                wr = [sock] if state["off"] < len(out) else []
                if sock.pending() == 0:
                    select.select([sock], wr, [], 0.2)
            self.assertEqual(state["off"], len(out))
            self.assertEqual(got.count(b"\r\n"), n)
            if bytes(got) != expected:
                i = next(i for i in range(min(len(got), len(expected))) if got[i] != expected[i])
                self.fail("replies differ at byte %d: got %r, expected %r" %
                          (i, bytes(got[i - 40:i + 40]), expected[i - 40:i + 40]))
            sock.setblocking(True)
            sock.settimeout(30)
            code, raw = c.cmd("QUIT")
            self.assertEqual(code, 221, raw)
            self.assertTrue(c.closed(10))
            c.close()
            self.assertEqual(seen["noops"], n)
            self.assertEqual(backend.errors, [])


class OwnRepliesToANonReader(unittest.TestCase):
    """Replies starttlsd makes itself obey the same watermark as relayed ones:
    a client that floods refused commands (no error budget) and never reads
    stops being read, and its replies are coalesced, not one TLS record each."""

    def start(self, tls):
        self.backend = ScriptedBackend()
        self.addCleanup(self.backend.close)
        self.proxy = Proxy(self.backend.port, tls="implicit" if tls else "starttls", extra_listener="max_errors = 0",
                           env=proxy_env())
        self.addCleanup(self.proxy.__exit__, None, None, None)

    def flood(self, tls, sessions, seconds=8):
        """Sessions that send empty lines (each one refused) and never read; returns RSS growth per session."""
        self.start(tls)
        base = self.proxy.rss_kib()
        socks = []
        for _ in range(sessions):
            s = socket.create_connection(("127.0.0.1", self.proxy.port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            if tls:
                s = harness.client_context().wrap_socket(s)
            s.setblocking(False)
            socks.append(s)
        sent, chunk = [0] * sessions, b"\r\n" * 131072
        stalled = wait_stall(lambda: self.pump(socks, sent, chunk), quiet=1.5, limit=60)
        self.assertGreater(stalled, sessions * 1024 * 1024)  # megabytes went in before everyone stalled
        grown = (self.proxy.rss_kib() - base) / sessions
        for s in socks:
            s.close()
        return grown

    @staticmethod
    def pump(socks, sent, chunk):
        for i, s in enumerate(socks):
            try:
                sent[i] += s.send(chunk)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
        return sum(sent)

    def test_tls_sessions_stay_bounded(self):
        # Each stalled session holds its input limit, one queue of replies and TLS state: well under 1 MiB.
        self.assertLess(self.flood(True, 10), 1024)

    def test_plaintext_session_stays_bounded(self):
        self.assertLess(self.flood(False, 10), 1024)

    def test_a_burst_of_replies_is_one_tls_record(self):
        self.start(True)
        c = harness.RecordCountingClient(self.proxy.port)
        self.assertEqual(c.replies(1), [220])
        before = c.records_seen
        c.send(b"XFOO\r\n" * 200)  # 200 refusals from one read
        self.assertEqual(c.replies(200), [500] * 200)
        self.assertLessEqual(c.records_seen - before, 2)


class HalfClose(unittest.TestCase):
    def test_half_closed_client_gets_every_reply(self):
        with ScriptedBackend() as backend, Proxy(backend.port) as proxy:
            c = Client(proxy.port)
            c.reply()
            c.send(b"NOOP\r\n" * 3000)
            c.sock.shutdown(socket.SHUT_WR)
            n = 0
            while True:
                code, raw = c.reply()
                if code is None:
                    break
                self.assertEqual(code, 250)
                n += 1
            self.assertEqual(n, 3000)


class LongLine(unittest.TestCase):
    LINE = 100 * 1024 * 1024

    def _long_line(self, use_tls):
        with ScriptedBackend() as backend, Proxy(backend.port, env=proxy_env()) as proxy:
            if use_tls:
                c = tls_session(proxy.port)
            else:
                c = Client(proxy.port, timeout=30)
                self.assertEqual(c.reply()[0], 220)
                self.assertEqual(c.cmd("EHLO client.example.test")[0], 250)
            # The reply to the last command is in: the proxy is idle.
            baseline = proxy.rss_kib()
            c.sock.settimeout(180)
            chunk = b"x" * 65536
            sent = [0]
            errors = []

            def sender():
                try:
                    while sent[0] < self.LINE:
                        c.sock.sendall(chunk)
                        sent[0] += len(chunk)
                except Exception as e:
                    errors.append(repr(e))

            t = threading.Thread(target=sender, daemon=True)
            t.start()
            peak = baseline
            last, since = 0, time.time()
            while t.is_alive() and time.time() - since < 15:   # hang bound: no progress for 15 s
                peak = max(peak, proxy.rss_kib())
                t.join(0.1)  # the sender done, or the next RSS sample
                if sent[0] != last:
                    last, since = sent[0], time.time()
            self.assertFalse(t.is_alive(), "100 MB line: the client's send never finished "
                             "(%d bytes sent)" % sent[0])
            self.assertEqual(errors, [])
            peak = max(peak, proxy.rss_kib())
            self.assertLess(peak - baseline, RSS_SLACK_KIB,
                            "RSS grew by %d KiB during a 100 MB line" % (peak - baseline))
            c.sock.settimeout(30)
            code, raw = c.reply()
            self.assertEqual(code, 500, raw)
            self.assertTrue(raw.startswith(b"500 5.5.2"), raw)
            c.send(b"\r\n")
            code, raw = c.cmd("NOOP")
            self.assertEqual(code, 250, raw)
            code, raw = c.cmd("QUIT")
            self.assertEqual(code, 221, raw)
            c.close()
            bc = backend.wait_conn()
            self.assertTrue(bc.wait_closed(10))
            self.assertNotIn(b"xxxxxxxx", bc.received, "part of the overlong line reached the backend")
            self.assertIn(b"NOOP\r\n", bc.received)

    def test_long_line_tls(self):
        self._long_line(True)

    def test_long_line_plaintext(self):
        self._long_line(False)


if __name__ == "__main__":
    unittest.main()

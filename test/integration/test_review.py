"""Regressions for defects found in review: each test fails on the code
before its fix."""
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import NO_QUARANTINE, Client, Proxy, ScriptedBackend, asan_env, client_context


class ReviewTest(unittest.TestCase):
    def start(self, extra="", script=None, tls="starttls", **kw):
        self.backend = ScriptedBackend(script=script, **kw)
        self.addCleanup(self.backend.close)
        self.proxy = Proxy(self.backend.port, extra_listener=extra, tls=tls, env=asan_env(*NO_QUARANTINE))
        self.addCleanup(self.proxy.__exit__, None, None, None)

    def received(self):
        self.assertTrue(self.backend.done.wait(5))
        return self.backend.conns[0].received

    def test_tab_after_verb_is_refused(self):
        self.start(ehlo_caps=(b"XCLIENT NAME ADDR", b"CHUNKING", b"AUTH PLAIN"))
        c = Client(self.proxy.port)
        c.reply()
        for line in (b"XCLIENT\tADDR=127.0.0.1", b"DATA\t", b"EHLO\tx", b"AUTH\tPLAIN AAAA", b"BDAT\t3"):
            self.assertEqual(c.cmd(line)[0], 500, line)
        c.cmd("QUIT")
        self.assertEqual(self.received(), b"QUIT\r\n")

    def test_unknown_verbs_never_reach_the_backend(self):
        self.start()
        c = Client(self.proxy.port)
        c.reply()
        self.assertEqual(c.cmd("XEXCH50 1 2")[0], 500)
        self.assertEqual(c.cmd("VRFY postmaster")[0], 502)  # known verbs pass: the backend answers
        c.cmd("QUIT")
        self.assertEqual(self.received(), b"VRFY postmaster\r\nQUIT\r\n")

    def test_cancelled_auth_cannot_desync_data(self):
        seen = []

        def script(conn):
            conn.send(b"220 backend\r\n")
            while True:
                line = conn.read_line(timeout=20)
                if line is None:
                    return
                verb = line.split(b" ")[0].strip().upper()
                seen.append(line)
                if verb == b"EHLO":
                    conn.send(b"250-backend\r\n250 AUTH PLAIN LOGIN\r\n")
                elif verb == b"AUTH":
                    conn.send(b"334 VXNlcm5hbWU6\r\n")
                    seen.append(b"[response] " + (conn.read_line() or b"")[:5])
                    conn.send(b"501 5.7.0 Authentication aborted\r\n")
                    time.sleep(0.3)  # the next replies come in another segment
                elif verb == b"DATA":
                    conn.send(b"354 go ahead\r\n")
                    seen.append(b"[message] " + (conn.read_until(b"\r\n.\r\n") or b""))
                    conn.send(b"250 2.0.0 queued\r\n")
                else:
                    conn.send(b"250 2.0.0 ok\r\n")
        self.start("auth_before_tls = allow", script=script)
        c = Client(self.proxy.port)
        c.reply()
        c.cmd("EHLO client")
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        c.send(b"A" * 13000 + b"\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\n")
        codes = [c.reply()[0] for _ in range(5)]
        self.assertEqual(codes, [501, 250, 250, 354, 250])
        c.send(b"XCLIENT ADDR=127.0.0.1\r\nQUIT\r\n")
        c.closed()
        time.sleep(0.3)
        self.assertIn(b"[message] Subject: hi\r\n\r\nbody\r\n.\r\n", seen)
        self.assertFalse([l for l in seen if l.startswith(b"XCLIENT")], seen)

    def test_client_that_never_reads_is_bounded_without_error_budget(self):
        self.start("max_errors = 0")
        c = Client(self.proxy.port)
        c.reply()
        base = self.proxy.rss_kib()
        c.sock.setblocking(False)
        sent, chunk = 0, b"\r\n" * 32768
        deadline = time.time() + 8
        while time.time() < deadline and sent < 40 * 1024 * 1024:
            try:
                sent += c.sock.send(chunk)
            except BlockingIOError:
                time.sleep(0.05)
        time.sleep(0.5)
        self.assertLess(self.proxy.rss_kib() - base, 20 * 1024)

    def test_implicit_listener_refuses_over_limit_without_a_handshake(self):
        self.start("max_connections_per_ip = 1", tls="implicit")
        a = socket.create_connection(("127.0.0.1", self.proxy.port))
        a = client_context().wrap_socket(a)
        self.assertTrue(a.recv(100).startswith(b"220"))
        b = socket.create_connection(("127.0.0.1", self.proxy.port), timeout=5)
        self.assertEqual(b.recv(100), b"")  # closed at once, no TLS
        self.proxy.wait_log("reason=max_connections_per_ip")

    def test_whole_reply_longer_than_max_reply_length(self):
        def script(conn):
            conn.send(b"220 hi\r\n")
            conn.read_line()
            conn.send(b"".join(b"250-%s\r\n" % (b"x" * 60) for _ in range(30)) + b"250 end\r\n")
            conn.read_line()
        self.start("max_reply_length = 1k", script=script)
        c = Client(self.proxy.port)
        c.reply()
        self.assertEqual(c.cmd("EHLO a")[0], 421)
        self.proxy.wait_log("event=backend_protocol_error")

    def test_half_closed_client_gets_every_reply(self):
        self.start()
        c = Client(self.proxy.port)
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


class OptionalClientCertTest(unittest.TestCase):
    def test_untrusted_certificate_is_accepted_and_logged_unverified(self):
        d = tempfile.mkdtemp()
        for args in (["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                      "-keyout", "ca.key", "-out", "ca.pem", "-days", "3", "-subj", "/CN=CA"],
                     ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                      "-keyout", "self.key", "-out", "self.pem", "-days", "3", "-subj", "/CN=self.example"]):
            subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
        with ScriptedBackend() as backend, Proxy(backend.port, tls="implicit",
                                                 extra_tls="verify_client = optional\nca_file = %s/ca.pem" % d) as p:
            ctx = client_context()
            ctx.load_cert_chain(d + "/self.pem", d + "/self.key")
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", p.port), timeout=10))
            self.assertTrue(s.recv(100).startswith(b"220"))
            p.wait_log("client_cert_verified=no")
            self.assertIn('client_cert="/CN=self.example"', p.log())


if __name__ == "__main__":
    unittest.main()

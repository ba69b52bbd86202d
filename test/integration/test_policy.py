"""Policy keys of [listener NAME] and [global], through the real binary:
require_tls, auth_before_tls, max_errors, bare_newline, max_data_line_length,
connection limits, privileges and the session deadline."""
import os
import socket
import time
import unittest

from harness import Client, Proxy, ScriptedBackend, client_context

AUTH_CAPS = (b"PIPELINING", b"AUTH PLAIN LOGIN", b"AUTH=PLAIN LOGIN", b"8BITMIME")


class PolicyTest(unittest.TestCase):
    def start(self, extra_listener="", extra_global="", **kw):
        self.backend = ScriptedBackend(**kw)
        self.proxy = Proxy(self.backend.port, extra_listener=extra_listener, extra_global=extra_global)
        self.addCleanup(self.backend.close)
        self.addCleanup(self.proxy.__exit__, None, None, None)

    def received(self):
        """What the backend received, once its session is over."""
        self.assertTrue(self.backend.done.wait(5))
        return self.backend.conns[0].received

    def connect(self):
        c = Client(self.proxy.port)
        self.assertEqual(c.reply()[0], 220)
        return c

    def test_require_tls(self):
        self.start("require_tls = yes")
        c = self.connect()
        self.assertEqual(c.cmd("EHLO a")[0], 250)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assertEqual(c.cmd("RSET")[0], 250)
        for cmd in ("MAIL FROM:<a@b>", "RCPT TO:<a@b>", "DATA", "VRFY root", "AUTH PLAIN AAAA"):
            code, raw = c.cmd(cmd)
            self.assertEqual(raw, b"530 5.7.0 Must issue a STARTTLS command first\r\n", cmd)
        c.starttls()
        c.cmd("EHLO a")
        self.assertEqual(c.cmd("MAIL FROM:<a@b>")[0], 250)
        c.cmd("QUIT")
        got = self.received()
        self.assertNotIn(b"VRFY", got)
        self.assertEqual(got.count(b"MAIL FROM"), 1)

    def test_require_tls_off_by_default(self):
        self.start()
        c = self.connect()
        c.cmd("EHLO a")
        self.assertEqual(c.cmd("MAIL FROM:<a@b>")[0], 250)

    def test_auth_hidden_before_tls(self):
        self.start(ehlo_caps=AUTH_CAPS)
        c = self.connect()
        code, raw = c.cmd("EHLO a")
        self.assertNotIn(b"AUTH", raw)
        self.assertEqual(c.cmd("AUTH PLAIN AGFAYg==")[0], 538)
        c.starttls()
        code, raw = c.cmd("EHLO a")
        self.assertIn(b"250-AUTH PLAIN LOGIN\r\n", raw)
        self.assertIn(b"250-AUTH=PLAIN LOGIN\r\n", raw)
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        self.assertEqual(c.cmd("dXNlcg==")[0], 235)
        c.cmd("QUIT")
        got = self.received()
        self.assertEqual(got.count(b"AUTH"), 1)  # only the post-TLS one
        self.assertNotIn(b"AGFAYg", got)

    def test_auth_allowed_before_tls(self):
        self.start("auth_before_tls = allow", ehlo_caps=AUTH_CAPS)
        c = self.connect()
        code, raw = c.cmd("EHLO a")
        self.assertIn(b"AUTH PLAIN LOGIN", raw)
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)

    def test_max_errors(self):
        self.start("max_errors = 3")
        c = self.connect()
        self.assertEqual(c.cmd("XCLIENT ADDR=1.2.3.4")[0], 550)
        self.assertEqual(c.cmd("STARTTLS x")[0], 501)
        self.assertEqual(c.cmd("XFORWARD ADDR=1.2.3.4")[0], 550)
        code, raw = c.reply()
        self.assertEqual(code, 421)
        self.assertIn(b"4.7.0", raw)
        self.assertTrue(c.closed())
        self.proxy.wait_log("reason=too_many_errors")

    def data(self, c, body):
        c.cmd("EHLO a")
        c.cmd("MAIL FROM:<a@b>")
        c.cmd("RCPT TO:<c@d>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(body)
        return c.reply()

    def test_bare_newline_reject(self):
        self.start("bare_newline = reject")
        c = self.connect()
        code, raw = self.data(c, b"Subject: x\r\n\r\nline\nsmuggled\r\n.\r\n")
        self.assertEqual(code, 550)
        self.assertIn(b"5.6.0", raw)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertTrue(c.closed())
        got = self.received()
        self.assertNotIn(b"\r\n.\r\n", got.split(b"DATA\r\n", 1)[1])
        self.assertEqual(self.backend.messages, [])

    def test_rejected_message_drops_the_backend_at_once(self):
        for extra, body in (("bare_newline = reject", b"Subject: x\r\n\r\nline\nmore\r\n.\r\n"),
                            ("", b"Subject: x\r\n\r\n" + b"y" * 1200 + b"\r\n.\r\n")):
            self.start(extra)
            c = self.connect()
            self.assertEqual(self.data(c, body)[0], 550)
            # Before the client says anything more, the backend's connection is gone,
            # reset, so no backend can take its end for the end of the message.
            conn = self.backend.conns[-1]
            self.assertTrue(conn.wait_closed(5), extra)
            self.assertTrue(conn.reset, extra)
            self.assertEqual(self.backend.messages, [])

    def test_bare_newline_reject_clean_message_passes(self):
        self.start("bare_newline = reject")
        c = self.connect()
        self.assertEqual(self.data(c, b"Subject: x\r\n\r\nfine\r\n.\r\n")[0], 250)
        self.assertEqual(self.backend.messages, [b"Subject: x\r\n\r\nfine\r\n.\r\n"])

    def test_command_after_rejected_message_gets_421(self):
        self.start("bare_newline = reject")
        c = self.connect()
        self.assertEqual(self.data(c, b"a\rb\r\n.\r\n")[0], 550)
        self.assertEqual(c.cmd("MAIL FROM:<a@b>")[0], 421)
        self.assertTrue(c.closed())

    def test_data_line_too_long(self):
        self.start("max_data_line_length = 1000")
        c = self.connect()
        ok = b"x" * 998 + b"\r\n"
        self.assertEqual(self.data(c, ok + b".\r\n")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@b>")[0], 250)
        c.cmd("RCPT TO:<c@d>")
        c.cmd("DATA")
        c.send(b"y" * 999 + b"\r\n.\r\n")
        code, raw = c.reply()
        self.assertEqual(code, 550)
        self.assertIn(b"longer than 1000", raw)
        self.assertEqual(len(self.backend.messages), 1)

    def test_a_line_a_wrapping_backend_would_split_is_refused(self):
        # 998 octets then ".": a backend that wraps long lines at 998 would make
        # the "." a line of its own, and "\r\n.\r\n" an end of data.
        self.start()
        c = self.connect()
        code, raw = self.data(c, b"Subject: x\r\n\r\n" + b"A" * 998 + b".\r\nMAIL FROM:<smuggled@x>\r\n.\r\n")
        self.assertEqual(code, 550)
        self.assertEqual(self.backend.messages, [])
        self.assertNotIn(b"smuggled", self.backend.conns[0].received)

    def test_unbounded_text_lines_are_refused_by_the_config_check(self):
        import harness
        for value in ("0", "1001", "64k"):
            with open(os.path.join(harness.tempfile.mkdtemp(), "s.ini"), "w") as f:
                cert, key = harness.make_cert()
                f.write("[tls]\ncertificate = %s\nkey = %s\n[listener a]\nlisten = 127.0.0.1:1\n"
                        "backend = 127.0.0.1:2\nmax_data_line_length = %s\n" % (cert, key, value))
            p = harness.subprocess.run([harness.BIN, "-t", "-c", f.name], capture_output=True, timeout=10)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"s.ini:7: max_data_line_length = '%s': must be from 80 to 1000" % value.encode(), p.stderr)
            self.assertIn(b"SMTP smuggling", p.stderr)

    def test_max_connections_per_ip(self):
        self.start("max_connections_per_ip = 2")
        a, b = self.connect(), self.connect()
        c = Client(self.proxy.port)
        code, raw = c.reply()
        self.assertEqual(code, 421)
        self.assertIn(b"4.7.0", raw)
        self.assertTrue(c.closed())
        self.assertEqual(a.cmd("QUIT")[0], 221)
        # starttlsd frees the slot before it closes: seeing the close is enough.
        self.assertTrue(a.closed())
        d = self.connect()  # a slot is free again
        self.assertEqual(d.cmd("NOOP")[0], 250)
        self.proxy.wait_log("reason=max_connections_per_ip")
        b.close()

    def test_implicit_listener_refuses_over_limit_without_a_handshake(self):
        self.backend = ScriptedBackend()
        self.addCleanup(self.backend.close)
        self.proxy = Proxy(self.backend.port, tls="implicit", extra_listener="max_connections_per_ip = 1")
        self.addCleanup(self.proxy.__exit__, None, None, None)
        a = socket.create_connection(("127.0.0.1", self.proxy.port))
        a = client_context().wrap_socket(a)
        self.assertTrue(a.recv(100).startswith(b"220"))
        b = socket.create_connection(("127.0.0.1", self.proxy.port), timeout=5)
        self.assertEqual(b.recv(100), b"")  # closed at once, no TLS
        self.proxy.wait_log("reason=max_connections_per_ip")

    def test_max_connections_total(self):
        self.start("max_connections_per_ip = 0", extra_global="max_connections = 1")
        a = self.connect()
        c = Client(self.proxy.port)
        self.assertEqual(c.reply()[0], 421)
        self.proxy.wait_log("reason=max_connections")
        a.close()

    def test_session_timeout_is_a_deadline(self):
        self.start("session_timeout = 1500ms\nidle_timeout = 10s")
        c = self.connect()
        t0 = time.time()
        # Keep busy: a command every 200 ms would reset an idle timer forever.
        code = None
        while time.time() - t0 < 5:
            code, raw = c.cmd("NOOP")
            if code != 250:
                break
            time.sleep(0.2)  # pacing the busy client is the behaviour under test, not a wait
        self.assertEqual(code, 421)
        self.assertLess(time.time() - t0, 4)
        self.proxy.wait_log("reason=session_timeout")

    def test_data_timeout_per_line_stops_tricklers(self):
        self.start("data_timeout = 800ms")
        c = self.connect()
        c.cmd("EHLO a")
        c.cmd("MAIL FROM:<a@b>")
        c.cmd("RCPT TO:<c@d>")
        c.cmd("DATA")
        t0 = time.time()
        closed = False
        while time.time() - t0 < 6:  # one byte every 200 ms, never a line end
            try:
                c.send(b"x")
            except OSError:
                closed = True
                break
            time.sleep(0.2)  # the trickle is the behaviour under test, not a wait
        self.proxy.wait_log("reason=data_timeout")
        self.assertLess(time.time() - t0, 4)
        self.assertEqual(self.backend.messages, [])


class SourceAddressTest(unittest.TestCase):
    def test_source_address(self):
        with ScriptedBackend() as backend, Proxy(backend.port, extra_listener="source_address = 127.0.0.2") as proxy:
            c = Client(proxy.port)
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(backend.conns[0].peer[0], "127.0.0.2")

    def test_default_source_is_loopback(self):
        with ScriptedBackend() as backend, Proxy(backend.port) as proxy:
            c = Client(proxy.port)
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(backend.conns[0].peer[0], "127.0.0.1")


class PrivilegeTest(unittest.TestCase):
    @unittest.skipUnless(os.geteuid() == 0, "needs root")
    def test_switches_to_user(self):
        def uids(pid):
            with open("/proc/%d/status" % pid) as f:
                return [l for l in f if l.startswith("Uid:")][0].split()[1:]
        with ScriptedBackend() as backend, Proxy(backend.port, extra_global="user = nobody") as proxy:
            # The serving process runs as the user; the master, which never reads the network, stays root.
            self.assertTrue(all(u == "65534" for u in uids(proxy.server_pids()[-1])), uids(proxy.server_pids()[-1]))
            self.assertTrue(all(u == "0" for u in uids(proxy.proc.pid)))
            c = Client(proxy.port)
            self.assertEqual(c.reply()[0], 220)
            c.cmd("EHLO a")
            c.starttls()  # the key was read before the switch
            self.assertEqual(c.cmd("EHLO a")[0], 250)
            proxy.wait_log("event=privileges user=nobody")

    @unittest.skipUnless(os.geteuid() == 0, "needs root")
    def test_chroot(self):
        import tempfile
        import harness
        jail = tempfile.mkdtemp(prefix="starttlsd-jail-")
        os.chmod(jail, 0o755)
        # LeakSanitizer cannot work inside a chroot (no /proc): off for this one.
        with ScriptedBackend() as backend, \
                Proxy(backend.port, extra_global="user = nobody\nchroot = %s" % jail,
                      env=harness.asan_env("detect_leaks=0")) as proxy:
            self.assertEqual(os.readlink("/proc/%d/root" % proxy.server_pids()[-1]), jail)
            self.assertEqual(os.readlink("/proc/%d/root" % proxy.proc.pid), "/")
            c = Client(proxy.port)
            self.assertEqual(c.reply()[0], 220)
            c.cmd("EHLO a")
            c.starttls()
            self.assertEqual(c.cmd("EHLO a")[0], 250)

    @unittest.skipUnless(os.geteuid() == 0, "needs root")
    def test_refuses_root_without_user(self):
        import subprocess
        import harness
        cert, key = harness.make_cert()
        cfg = os.path.join(harness.tempfile.mkdtemp(), "s.ini")
        with open(cfg, "w") as f:
            f.write("[tls]\ncertificate = %s\nkey = %s\n[listener a]\nlisten = 127.0.0.1:%d\n"
                    "backend = 127.0.0.1:9\n" % (cert, key, harness.free_port()))
        p = subprocess.run([harness.BIN, "-c", cfg], capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"refusing to run as root", p.stderr)


if __name__ == "__main__":
    unittest.main()

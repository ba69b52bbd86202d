"""Graceful shutdown on SIGTERM / SIGINT.

On the signal starttlsd closes its listening sockets at once (new
connections are refused), lets open sessions go on until shutdown_timeout,
then ends the remaining ones with "421 4.3.2" and exits 0. With no session
open it exits at once.
"""
import os
import signal
import socket
import subprocess
import unittest

from harness import Client, Proxy, ScriptedBackend, free_port, make_cert

ROOT = os.geteuid() == 0
EXIT_BOUND = 20      # seconds: generous bound for hangs only


def config_text(port, backend_port, shutdown_timeout, workers=1):
    cert, key = make_cert()
    return ("[global]\nworkers = %d\nlog_level = debug\nshutdown_timeout = %s\n%s\n"
            "[tls]\ncertificate = %s\nkey = %s\n\n"
            "[listener test]\nlisten = 127.0.0.1:%d\nbackend = 127.0.0.1:%d\ntls = starttls\n"
            "hostname = proxy.example.test\n"
            % (workers, shutdown_timeout, "allow_root = yes" if ROOT else "", cert, key, port, backend_port))


def proxy_with(backend_port, shutdown_timeout, workers=1):
    port = free_port()
    p = Proxy(config=config_text(port, backend_port, shutdown_timeout, workers))
    p.port = port
    return p


def session(port, tls=False):
    c = Client(port, timeout=20)
    code, raw = c.reply()
    assert code == 220, raw
    code, raw = c.cmd("EHLO client.example.test")
    assert code == 250, raw
    if tls:
        c.starttls()
        code, raw = c.cmd("EHLO client.example.test")
        assert code == 250, raw
    return c


class Shutdown(unittest.TestCase):
    def wait_exit(self, proxy, bound=EXIT_BOUND):
        try:
            return proxy.proc.wait(bound)
        except subprocess.TimeoutExpired:
            self.fail("starttlsd still running %ds after the signal:\n%s" % (bound, proxy.log()))

    def assert_refused(self, port):
        with self.assertRaises(ConnectionRefusedError, msg="new connection accepted while shutting down"):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()

    def assert_clean_log(self, proxy):
        log = proxy.log()
        self.assertIn("event=stopped", log)
        for bad in ("event=leak", "AddressSanitizer", "LeakSanitizer", "runtime error:"):
            self.assertNotIn(bad, log)

    def _idle_session_then_421(self, sig, tls):
        with ScriptedBackend() as backend, Proxy(backend.port) as proxy:   # shutdown_timeout = 2s
            c = session(proxy.port, tls=tls)
            # Sanity: the listener accepts before the signal.
            socket.create_connection(("127.0.0.1", proxy.port), timeout=5).close()

            proxy.proc.send_signal(sig)
            proxy.wait_log("event=draining")
            self.assert_refused(proxy.port)

            # The open session still works: a whole transaction goes through.
            self.assertEqual(c.cmd("NOOP")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@example.test>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<b@example.test>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            code, raw = c.cmd("Subject: during drain\r\n\r\nhello\r\n.")
            self.assertEqual(code, 250, raw)
            self.assertEqual(len(backend.messages), 1)

            # Then, at shutdown_timeout, the 421 and the close.
            c.sock.settimeout(EXIT_BOUND)
            code, raw = c.reply()
            self.assertEqual(code, 421, raw)
            self.assertTrue(raw.startswith(b"421 4.3.2 "), raw)
            self.assertTrue(c.closed(EXIT_BOUND), "connection still open after the 421")
            c.close()
            rc = self.wait_exit(proxy)
            self.assertEqual(rc, 0, proxy.log())
            log = proxy.log()
            self.assertIn("signal=%s" % ("TERM" if sig == signal.SIGTERM else "INT"), log)
            self.assertIn("event=shutdown_deadline", log)
            self.assertIn("reason=shutdown", log)
            self.assert_clean_log(proxy)

    def test_sigterm_idle_session(self):
        self._idle_session_then_421(signal.SIGTERM, tls=False)

    def test_sigterm_idle_tls_session(self):
        self._idle_session_then_421(signal.SIGTERM, tls=True)

    def test_sigint_idle_tls_session(self):
        self._idle_session_then_421(signal.SIGINT, tls=True)

    def test_sigterm_no_sessions_exits_promptly(self):
        """Nothing to drain: exit without waiting for shutdown_timeout (60 s)."""
        with ScriptedBackend() as backend, proxy_with(backend.port, "60s", workers=4) as proxy:
            proxy.proc.send_signal(signal.SIGTERM)
            rc = self.wait_exit(proxy)
            self.assertEqual(rc, 0, proxy.log())
            self.assertNotIn("event=shutdown_deadline", proxy.log())
            self.assert_clean_log(proxy)

    def test_sigint_no_sessions_exits_promptly(self):
        with ScriptedBackend() as backend, proxy_with(backend.port, "60s") as proxy:
            proxy.proc.send_signal(signal.SIGINT)
            rc = self.wait_exit(proxy)
            self.assertEqual(rc, 0, proxy.log())
            self.assertIn("signal=INT", proxy.log())
            self.assert_clean_log(proxy)

    def test_drain_ends_when_last_session_quits(self):
        """With a long shutdown_timeout, the daemon exits as soon as the last
        session is over, not at the deadline."""
        with ScriptedBackend() as backend, proxy_with(backend.port, "60s") as proxy:
            c = session(proxy.port, tls=True)
            proxy.proc.send_signal(signal.SIGTERM)
            proxy.wait_log("event=draining")
            self.assert_refused(proxy.port)
            self.assertIsNone(proxy.proc.poll(), "exited with a session open")
            self.assertEqual(c.cmd("NOOP")[0], 250)
            code, raw = c.cmd("QUIT")
            self.assertEqual(code, 221, raw)
            self.assertTrue(c.closed(EXIT_BOUND))
            c.close()
            rc = self.wait_exit(proxy)
            self.assertEqual(rc, 0, proxy.log())
            self.assertNotIn("event=shutdown_deadline", proxy.log())
            self.assert_clean_log(proxy)

    def test_client_not_reading_cannot_hold_shutdown(self):
        """A client that never reads (megabytes of replies queued for it) does
        not keep the daemon alive after the deadline."""
        def script(c):
            c.send(b"220 backend.example.test ESMTP\r\n")
            while True:
                line = c.read_line(timeout=60)
                if line is None:
                    return
                try:
                    if line.upper().startswith(b"NOOP"):
                        c.send(b"250 " + b"y" * 60000 + b"\r\n")
                    else:
                        c.send(b"250 ok\r\n")
                except OSError:
                    return

        with ScriptedBackend(script=script) as backend, Proxy(backend.port) as proxy:
            c = Client(proxy.port, timeout=20)
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO client.example.test")[0], 250)
            c.send(b"NOOP\r\n" * 100)     # 6 MB of replies that are never read
            proxy.wait_log("verb=NOOP")
            proxy.proc.send_signal(signal.SIGTERM)
            rc = self.wait_exit(proxy)
            self.assertEqual(rc, 0, proxy.log())
            self.assertIn("reason=shutdown", proxy.log())
            self.assert_clean_log(proxy)
            c.close()

    def test_deadline_during_data_never_completes_message(self):
        """A message still being sent at the deadline: the client gets the 421
        and the backend never sees the end of the message."""
        with ScriptedBackend() as backend, Proxy(backend.port) as proxy:
            c = session(proxy.port, tls=True)
            self.assertEqual(c.cmd("MAIL FROM:<a@example.test>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<b@example.test>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send("Subject: cut short\r\n\r\nfirst line\r\n")
            proxy.proc.send_signal(signal.SIGTERM)
            proxy.wait_log("event=draining")
            c.send("second line\r\n")
            c.sock.settimeout(EXIT_BOUND)
            code, raw = c.reply()
            self.assertEqual(code, 421, raw)
            self.assertTrue(raw.startswith(b"421 4.3.2 "), raw)
            self.assertTrue(c.closed(EXIT_BOUND))
            c.close()
            rc = self.wait_exit(proxy)
            self.assertEqual(rc, 0, proxy.log())
            bc = backend.wait_conn()
            self.assertTrue(bc.wait_closed(EXIT_BOUND), "backend connection left open")
            self.assertEqual(backend.messages, [])
            self.assertIn(b"second line\r\n", bc.received)   # it was still relaying
            self.assertNotIn(b"\r\n.\r\n", bc.received)
            self.assert_clean_log(proxy)


if __name__ == "__main__":
    unittest.main()

"""The session rules, checked on the exact bytes both sides see.

Each test runs the real starttlsd between a raw client and a scripted
backend (harness.py) on loopback.
"""
import socket
import ssl

import harness
import time
import unittest

from harness import Client, Proxy, ScriptedBackend, free_port


class SessionTest(unittest.TestCase):
    def setUp(self):
        self.backend = ScriptedBackend()
        self.proxy = Proxy(self.backend.port)

    def tearDown(self):
        self.backend.close()
        self.proxy.__exit__(None, None, None)
        self.assertEqual(self.backend.errors, [])

    def connect(self):
        c = Client(self.proxy.port)
        code, raw = c.reply()
        self.assertEqual(raw, b"220 backend.example.test ESMTP ready\r\n")
        return c

    def test_greeting_multiline_relayed(self):
        self.backend.greeting = b"220-backend.example.test first\r\n220-second\r\n220 third\r\n"
        c = Client(self.proxy.port)
        self.assertEqual(c.reply(), (220, self.backend.greeting))

    def test_ehlo_gets_exactly_one_starttls(self):
        self.backend.ehlo_caps = (b"PIPELINING", b"STARTTLS", b"starttls", b"CHUNKING", b"XCLIENT NAME ADDR",
                                  b"8BITMIME")
        c = self.connect()
        code, raw = c.cmd("EHLO client.example")
        self.assertEqual(raw, b"250-backend.example.test greets you\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                              b"250 STARTTLS\r\n")
        c.starttls()
        code, raw = c.cmd("EHLO client.example")
        self.assertEqual(raw, b"250-backend.example.test greets you\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        self.assertEqual(c.cmd("QUIT")[0], 221)

    def test_helo_passes_through_unchanged(self):
        c = self.connect()
        self.assertEqual(c.cmd("HELO client.example"), (250, b"250 backend.example.test\r\n"))

    def test_starttls_is_not_forwarded_and_injection_is_discarded(self):
        c = self.connect()
        c.cmd("EHLO client.example")
        # CVE-2011-0411: commands in the same packet as STARTTLS must not run. The
        # injected EHLO is one a client may send right after TLS: only the discard stops it.
        c.send(b"STARTTLS\r\nEHLO injected.example\r\nMAIL FROM:<evil@example.test>\r\n")
        code, raw = c.reply()
        self.assertEqual(raw, b"220 2.0.0 Ready to start TLS\r\n")
        self.assertEqual(c.buf, b"")  # nothing but the 220 before the handshake
        c.sock = harness.client_context().wrap_socket(c.sock)
        # The first reply over TLS answers our EHLO: none was made for the injected ones.
        self.assertEqual(c.cmd("EHLO client.example")[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        conn = self.backend.conns[0]
        self.assertTrue(self.backend.done.wait(5))
        self.assertNotIn(b"STARTTLS", conn.received)
        self.assertNotIn(b"injected", conn.received)
        self.assertNotIn(b"evil", conn.received)
        self.assertEqual(conn.received, b"EHLO client.example\r\nRSET\r\nEHLO client.example\r\nQUIT\r\n")
        self.proxy.wait_log("event=starttls_injection")

    def test_starttls_injection_in_a_later_write_while_replies_pending(self):
        release = __import__("threading").Event()

        def script(conn):
            conn.send(b"220 hi\r\n")
            self.assertEqual(conn.read_line(), b"NOOP\r\n")
            release.wait(5)  # hold the NOOP reply: STARTTLS must wait for it
            conn.send(b"250 ok\r\n")
            while conn.read_line() is not None:
                conn.send(b"250 ok\r\n")
        self.backend.script = script
        c = Client(self.proxy.port)
        c.reply()
        c.send(b"NOOP\r\nSTARTTLS\r\n")
        harness.wait_consumed(c.sock)  # read, and waiting for the NOOP's reply
        c.send(b"EHLO later.write\r\n")  # a separate write, before any 220
        harness.wait_consumed(c.sock)  # starttlsd has read it (and holds it)
        release.set()
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply(), (220, b"220 2.0.0 Ready to start TLS\r\n"))
        c.sock = harness.client_context().wrap_socket(c.sock)
        self.assertEqual(c.cmd("EHLO a")[0], 250)
        c.close()
        self.assertTrue(self.backend.done.wait(5))
        self.assertNotIn(b"later.write", self.backend.conns[0].received)

    def test_plaintext_before_client_hello_never_reaches_backend(self):
        c = self.connect()
        self.assertEqual(c.cmd("STARTTLS")[0], 220)
        # Plaintext after the 220, in front of where the ClientHello belongs.
        c.send(b"MAIL FROM:<with@hello>\r\n")
        self.assertTrue(c.closed())
        self.proxy.wait_log("reason=tls_handshake_failed")
        self.assertNotIn(b"with@hello", self.backend.conns[0].received)

    def test_command_with_bare_lf_is_sent_with_crlf(self):
        c = self.connect()
        c.send(b"NOOP lf-only\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.cmd(b"NOOP a\rb")[0], 500)  # bare CR inside: refused
        c.cmd("QUIT")
        self.assertTrue(self.backend.done.wait(5))
        self.assertEqual(self.backend.conns[0].received, b"NOOP lf-only\r\nQUIT\r\n")

    def test_starttls_with_arguments_501(self):
        c = self.connect()
        self.assertEqual(c.cmd("STARTTLS now")[0], 501)
        self.assertEqual(c.cmd("NOOP")[0], 250)

    def test_starttls_when_tls_active_503_and_not_forwarded(self):
        c = self.connect()
        c.cmd("EHLO a")
        c.starttls()
        c.cmd("EHLO a")
        self.assertEqual(c.cmd("STARTTLS")[0], 503)
        c.cmd("QUIT")
        conn = self.backend.conns[0]
        self.assertTrue(self.backend.done.wait(5))
        self.assertNotIn(b"STARTTLS", conn.received)

    def test_after_tls_client_must_ehlo_again(self):
        c = self.connect()
        c.cmd("EHLO a")
        c.cmd("MAIL FROM:<before@tls>")
        c.starttls()
        self.assertEqual(c.cmd("MAIL FROM:<x@y>")[0], 503)
        self.assertEqual(c.cmd("EHLO a")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<x@y>")[0], 250)
        c.cmd("QUIT")
        conn = self.backend.conns[0]
        self.assertTrue(self.backend.done.wait(5))
        # RSET reached the backend before anything else after TLS.
        self.assertEqual(conn.received, b"EHLO a\r\nMAIL FROM:<before@tls>\r\nRSET\r\nEHLO a\r\n"
                                        b"MAIL FROM:<x@y>\r\nQUIT\r\n")

    def test_backend_refusing_second_ehlo_still_gives_client_250(self):
        self.backend.refuse_second_ehlo = True
        c = self.connect()
        code, pre = c.cmd("EHLO a")
        c.starttls()
        code, raw = c.cmd("EHLO a")
        self.assertEqual(code, 250)
        self.assertEqual(raw, pre.replace(b"250-8BITMIME\r\n250 STARTTLS", b"250 8BITMIME"))
        self.assertEqual(c.cmd("MAIL FROM:<x@y>")[0], 250)

    def test_data_held_until_354_and_dot_lines_pass_unchanged(self):
        batch_read = __import__("threading").Event()

        def script(conn):
            conn.send(b"220 hi\r\n")
            self.assertEqual(conn.read_line(), b"EHLO a\r\n")
            conn.send(b"250-hi\r\n250 PIPELINING\r\n")
            self.assertEqual(conn.read_line(), b"MAIL FROM:<a@b>\r\n")
            self.assertEqual(conn.read_line(), b"RCPT TO:<c@d>\r\n")
            self.assertEqual(conn.read_line(), b"DATA\r\n")
            batch_read.wait(10)  # starttlsd has read the whole batch, message included
            conn._fill(0.1)
            self.assertEqual(conn.buf, b"")  # nothing of the message before 354
            conn.send(b"250 ok\r\n250 ok\r\n354 go\r\n")
            body = conn.read_until(b"\r\n.\r\n")
            self.msg = body
            conn.send(b"250 queued\r\n")
            self.assertEqual(conn.read_line(), b"QUIT\r\n")
            conn.send(b"221 bye\r\n")
        self.backend.script = script
        c = Client(self.proxy.port)
        c.reply()
        c.cmd("EHLO a")
        body = b"Subject: t\r\n\r\n..leading dot\r\n...two\r\nx.\r\n"
        c.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n" + body + b".\r\n")
        harness.wait_consumed(c.sock)
        batch_read.set()
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 354)
        self.assertEqual(c.reply(), (250, b"250 queued\r\n"))
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.backend.done.wait(5)
        self.assertEqual(self.msg, body + b".\r\n")
        self.proxy.wait_log("event=message")
        self.assertIn("from=<a@b> rcpts=1", self.proxy.log())

    def test_pipelining_with_split_writes(self):
        c = self.connect()
        c.cmd("EHLO a")
        stream = b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\nhello\r\n.\r\nQUIT\r\n"
        for i in range(len(stream)):  # one byte per read of starttlsd's
            c.send(stream[i:i + 1])
            harness.wait_consumed(c.sock)
        codes = [c.reply()[0] for _ in range(6)]
        self.assertEqual(codes, [250, 250, 250, 354, 250, 221])
        self.assertEqual(self.backend.messages, [b"hello\r\n.\r\n"])

    def test_bare_lf_in_data_cannot_end_message(self):
        c = self.connect()
        c.cmd("EHLO a")
        c.cmd("MAIL FROM:<a@b>")
        c.cmd("RCPT TO:<c@d>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(b"line1\n.\nMAIL FROM:<smuggled@x>\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(self.backend.messages, [b"line1\r\n..\r\nMAIL FROM:<smuggled@x>\r\n.\r\n"])

    def test_auth_continuations_pass_through(self):
        c = self.connect()
        c.cmd("EHLO a")
        c.starttls()
        c.cmd("EHLO a")
        self.assertEqual(c.cmd("AUTH LOGIN"), (334, b"334 VXNlcm5hbWU6\r\n"))
        # "MAIL" here is an AUTH response, not a command.
        self.assertEqual(c.cmd("MAIL"), (235, b"235 2.7.0 ok\r\n"))
        c.cmd("QUIT")
        conn = self.backend.conns[0]
        self.assertTrue(self.backend.done.wait(5))
        self.assertTrue(conn.received.endswith(b"AUTH LOGIN\r\nMAIL\r\nQUIT\r\n"), conn.received)

    def test_bdat_refused_and_chunk_not_parsed(self):
        c = self.connect()
        c.cmd("EHLO a")
        c.send(b"BDAT 16 LAST\r\nRSET\r\nQUIT\r\nXXXX")
        self.assertEqual(c.reply()[0], 502)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        c.cmd("QUIT")
        conn = self.backend.conns[0]
        self.assertTrue(self.backend.done.wait(5))
        self.assertEqual(conn.received, b"EHLO a\r\nNOOP\r\nQUIT\r\n")

    def test_long_command_line_500_nothing_forwarded(self):
        c = self.connect()
        self.assertEqual(c.cmd("NOOP " + "x" * 600)[0], 500)
        ok = "NOOP " + "y" * 505  # 512 bytes with CRLF: allowed
        self.assertEqual(c.cmd(ok)[0], 250)
        c.cmd("QUIT")
        conn = self.backend.conns[0]
        self.assertTrue(self.backend.done.wait(5))
        self.assertEqual(conn.received, (ok + "\r\nQUIT\r\n").encode())

    def partial_message(self):
        """A client inside DATA, part of its message read by starttlsd."""
        c = self.connect()
        c.cmd("EHLO a")
        c.cmd("MAIL FROM:<a@b>")
        c.cmd("RCPT TO:<c@d>")
        c.cmd("DATA")
        c.send(b"Subject: partial\r\n\r\nbody line\r\n")
        harness.wait_consumed(c.sock)
        return c

    def test_client_disconnect_mid_data_never_completes_message(self):
        c = self.partial_message()
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
        conn = self.backend.conns[0]
        self.assertTrue(self.backend.done.wait(5), "backend connection not closed")
        self.assertTrue(conn.closed)
        # Reset, not closed: an old MTA may take a FIN inside DATA for the end of the message.
        self.assertTrue(conn.reset)
        self.assertNotIn(b"\r\n.\r\n", conn.received)
        self.assertEqual(self.backend.messages, [])
        self.proxy.wait_log("reason=client_closed_in_data")

    def test_client_reset_mid_data_resets_the_backend(self):
        """The same with a TCP reset from the client (read as an error, not
        an end of input): the backend gets a reset too, never a FIN."""
        c = self.partial_message()
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
        conn = self.backend.conns[0]
        self.assertTrue(self.backend.done.wait(5), "backend connection not closed")
        self.assertTrue(conn.reset, "the backend got a FIN inside DATA")
        self.assertNotIn(b"\r\n.\r\n", conn.received)
        self.proxy.wait_log("reason=client_error")

    def test_backend_disconnect_gives_421(self):
        def script(conn):
            conn.send(b"220 hi\r\n")
            conn.read_line()
            conn.close()
        self.backend.script = script
        c = Client(self.proxy.port)
        c.reply()
        code, raw = c.cmd("EHLO a")
        self.assertEqual(code, 421)
        self.assertTrue(c.closed())

    def test_quit(self):
        c = self.connect()
        self.assertEqual(c.cmd("QUIT"), (221, b"221 2.0.0 bye\r\n"))
        self.assertTrue(c.closed())
        self.proxy.wait_log("reason=quit")

    def test_tls_quit_sends_close_notify(self):
        c = self.connect()
        c.cmd("EHLO a")
        # Strict about a FIN without close_notify (Debian's Python ignores it by default).
        ctx = harness.client_context()
        ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
        c.starttls(ctx)
        c.cmd("EHLO a")
        self.assertEqual(c.cmd("QUIT")[0], 221)
        # Without suppress_ragged_eofs, a FIN without close_notify raises SSLEOFError.
        c.sock.suppress_ragged_eofs = False
        self.assertEqual(c.sock.recv(100), b"")

    def test_proxy_only_commands_refused(self):
        c = self.connect()
        for cmd in ("XCLIENT ADDR=1.2.3.4", "XFORWARD ADDR=1.2.3.4", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2"):
            self.assertEqual(c.cmd(cmd)[0], 550)
        c.cmd("QUIT")
        conn = self.backend.conns[0]
        self.assertTrue(self.backend.done.wait(5))
        self.assertEqual(conn.received, b"QUIT\r\n")

    def test_nul_in_command_refused(self):
        c = self.connect()
        self.assertEqual(c.cmd(b"NOOP a\x00b")[0], 500)
        self.assertEqual(c.cmd("NOOP")[0], 250)


class ImplicitTest(unittest.TestCase):
    def test_implicit_tls_no_starttls(self):
        with ScriptedBackend() as backend, Proxy(backend.port, tls="implicit") as proxy:
            c = Client(proxy.port, implicit=True)
            self.assertEqual(c.reply()[0], 220)
            code, raw = c.cmd("EHLO a")
            self.assertEqual(code, 250)
            self.assertNotIn(b"STARTTLS", raw)
            self.assertEqual(c.cmd("STARTTLS")[0], 503)
            c.cmd("MAIL FROM:<a@b>")
            c.cmd("RCPT TO:<c@d>")
            c.cmd("DATA")
            c.send(b"hi\r\n.\r\n")
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.cmd("QUIT")[0], 221)
            self.assertEqual(backend.messages, [b"hi\r\n.\r\n"])
            proxy.wait_log("event=tls")


class BackendDownTest(unittest.TestCase):
    def test_backend_refused_gives_421(self):
        port = free_port()  # nothing listens there
        with Proxy(port) as proxy:
            c = Client(proxy.port)
            code, raw = c.reply()
            self.assertEqual(code, 421)
            self.assertIn(b"proxy.example.test", raw)
            self.assertTrue(c.closed())
            proxy.wait_log("reason=backend_connect_failed")

    def test_backend_connect_timeout_gives_421(self):
        # A backend whose accept queue is full and never accepts: Linux drops
        # further SYNs, so starttlsd's connect hangs until connect_timeout.
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(0)
        fillers = []
        for _ in range(4):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(lsock.getsockname())
            fillers.append(f)
        __import__("select").select([], fillers[:1], [], 5)  # the accept queue holds the first
        try:
            with Proxy(lsock.getsockname()[1], extra_listener="connect_timeout = 700ms") as proxy:
                c = Client(proxy.port)
                t0 = time.time()
                code, raw = c.reply()
                self.assertEqual(code, 421, raw)
                self.assertIn(b"4.4.1", raw)
                self.assertGreater(time.time() - t0, 0.5)
                self.assertTrue(c.closed())
                proxy.wait_log("reason=backend_connect_timeout")
        finally:
            for f in fillers:
                f.close()
            lsock.close()

    def test_idle_timeout_gives_421(self):
        with ScriptedBackend() as backend, Proxy(backend.port, extra_listener="idle_timeout = 500ms") as proxy:
            c = Client(proxy.port)
            self.assertEqual(c.reply()[0], 220)
            code, raw = c.reply()  # wait without sending anything
            self.assertEqual(code, 421)
            self.assertIn(b"4.4.2", raw)
            self.assertTrue(c.closed())
            proxy.wait_log("reason=idle_timeout")

    def test_handshake_timeout_closes(self):
        with ScriptedBackend() as backend, \
                Proxy(backend.port, extra_listener="handshake_timeout = 500ms") as proxy:
            c = Client(proxy.port)
            c.reply()
            c.cmd("EHLO a")
            self.assertEqual(c.cmd("STARTTLS")[0], 220)
            # never send a ClientHello
            self.assertTrue(c.closed(timeout=5))
            proxy.wait_log("reason=tls_handshake_timeout")

    def test_garbage_handshake_is_logged_and_closed(self):
        with ScriptedBackend() as backend, Proxy(backend.port) as proxy:
            c = Client(proxy.port)
            c.reply()
            self.assertEqual(c.cmd("STARTTLS")[0], 220)
            c.send(b"this is not a TLS ClientHello\r\n" * 4)
            self.assertTrue(c.closed(timeout=5))
            proxy.wait_log("reason=tls_handshake_failed")
            self.assertIn("event=tls_error", proxy.log())
            self.assertNotIn(b"not a TLS", backend.conns[0].received)


if __name__ == "__main__":
    unittest.main()

"""A backend that misbehaves, or is older than PIPELINING: starttlsd never lets
it speak out of turn to the client, and never talks to it out of turn.

- a 3xx that answers the wrong command, or a reply nobody asked for, is a
  backend protocol error: 421 to the client, the backend dropped;
- with backend_identity = xclient, a greeting other than 220 fails closed;
- toward a backend that did not announce PIPELINING, one command at a time,
  starttlsd's own (XCLIENT, RSET) included, whatever the client pipelines.
"""
import select
import socket
import unittest

from harness import Client, Proxy, ScriptedBackend


class Misbehaving(unittest.TestCase):
    def start(self, script, extra=""):
        self.backend = ScriptedBackend(script=script)
        self.addCleanup(self.backend.close)
        self.proxy = Proxy(self.backend.port, extra_listener=extra)
        self.addCleanup(self.proxy.__exit__, None, None, None)

    def backend_reset(self):
        """The backend connection was dropped: the backend reads EOF or a reset."""
        conn = self.backend.wait_conn()
        self.assertTrue(conn.wait_closed(10))

    def answering(self, answers):
        """A backend that greets, then answers each command with answers.get(verb, 250)."""
        def script(conn):
            conn.send(b"220 backend\r\n")
            while True:
                line = conn.read_line(timeout=20)
                if line is None:
                    return
                verb = line.split(b" ")[0].strip().upper()
                conn.send(answers.get(verb, b"250 ok\r\n"))
        return script

    def test_354_to_rcpt_is_a_protocol_error(self):
        self.start(self.answering({b"RCPT": b"354 go ahead\r\n"}))
        c = Client(self.proxy.port)
        c.reply()
        self.assertEqual(c.cmd("MAIL FROM:<a@b>")[0], 250)
        code, raw = c.cmd("RCPT TO:<c@d>")
        self.assertEqual(code, 421, raw)
        self.assertTrue(c.closed())
        self.backend_reset()
        self.proxy.wait_log("reason=unexpected_354")

    def test_354_after_noop_is_a_protocol_error(self):
        self.start(self.answering({b"NOOP": b"354 go ahead\r\n"}))
        c = Client(self.proxy.port)
        c.reply()
        self.assertEqual(c.cmd("NOOP")[0], 421)
        self.assertTrue(c.closed())
        self.backend_reset()

    def test_334_to_mail_is_a_protocol_error(self):
        self.start(self.answering({b"MAIL": b"334 VXNlcm5hbWU6\r\n"}))
        c = Client(self.proxy.port)
        c.reply()
        self.assertEqual(c.cmd("MAIL FROM:<a@b>")[0], 421)
        self.backend_reset()

    def test_unsolicited_reply_is_never_relayed(self):
        def script(conn):
            conn.send(b"220 backend\r\n")
            self.assertEqual(conn.read_line(), b"NOOP\r\n")
            conn.send(b"250 ok\r\n250 2.1.5 unasked\r\n")  # answers a command nobody sent yet
            conn.read_line()
        self.start(script)
        c = Client(self.proxy.port)
        c.reply()
        self.assertEqual(c.cmd("NOOP")[0], 250)
        code, raw = c.reply()  # the next thing the client sees is our 421, not the backend's text
        self.assertEqual(code, 421, raw)
        self.assertNotIn(b"unasked", raw + c.buf)
        self.proxy.wait_log("reason=unsolicited_reply")

    def test_unsolicited_421_is_ours(self):
        def script(conn):
            conn.send(b"220 backend\r\n")
            conn.read_line()
            conn.send(b"250 ok\r\n421 4.3.2 backend going down\r\n")
            conn.wait_closed()
        self.start(script)
        c = Client(self.proxy.port)
        c.reply()
        self.assertEqual(c.cmd("NOOP")[0], 250)
        code, raw = c.reply()
        self.assertEqual(code, 421)
        self.assertNotIn(b"going down", raw)
        self.assertTrue(c.closed())

    def test_whole_reply_longer_than_max_reply_length(self):
        def script(conn):
            conn.send(b"220 hi\r\n")
            conn.read_line()
            conn.send(b"".join(b"250-%s\r\n" % (b"x" * 60) for _ in range(30)) + b"250 end\r\n")
            conn.read_line()
        self.start(script, "max_reply_length = 1k")
        c = Client(self.proxy.port)
        c.reply()
        self.assertEqual(c.cmd("EHLO a")[0], 421)
        self.proxy.wait_log("event=backend_protocol_error")

    def test_xclient_never_fails_open(self):
        for greeting in (b"554 5.3.2 go away\r\n", b"250 hello?\r\n"):
            def script(conn, greeting=greeting):
                conn.send(greeting)
                line = conn.read_line(timeout=5)
                conn.received_line = line
            self.start(script, "backend_identity = xclient")
            c = Client(self.proxy.port)
            code, raw = c.reply()
            self.assertEqual(code, 421, raw)
            self.assertTrue(c.closed())
            conn = self.backend.wait_conn()
            self.assertTrue(conn.wait_closed(10))
            self.assertEqual(conn.received, b"", greeting)  # no XCLIENT, no client command
            self.proxy.wait_log("reason=backend_not_ready")


class StrictBackend:
    """Like OpenSMTPD without PIPELINING: a command that arrives before the
    reply to the previous one was sent is a violation (recorded, answered 500
    and the connection closed, as OpenSMTPD does)."""

    def __init__(self, caps=(b"8BITMIME",), xclient=False):
        self.violations = []
        self.commands = []
        self.caps, self.xclient = caps, xclient
        self.server = ScriptedBackend(script=self.script)

    def early(self, conn):
        # Give a command sent too early the time to arrive (loopback: well under 50 ms).
        if conn.buf:
            return True
        r, _, _ = select.select([conn.sock], [], [], 0.05)
        return bool(r) and conn._fill(0)

    def reply(self, conn, line, text):
        self.commands.append(line.strip())
        if self.early(conn):
            self.violations.append(line.strip() + b" then " + conn.buf[:40])
            conn.send(b"500 5.5.1 Invalid command: Pipelining not supported\r\n")
            conn.close()
            return False
        conn.send(text)
        return True

    def script(self, conn):
        conn.send(b"220 strict.example ESMTP\r\n")
        while True:
            line = conn.read_line(timeout=30)
            if line is None:
                return
            verb = line.split(b" ")[0].strip().upper()
            if verb == b"EHLO":
                lines = [b"strict.example"] + list(self.caps)
                text = b"".join(b"250" + (b" " if i == len(lines) - 1 else b"-") + l + b"\r\n"
                                for i, l in enumerate(lines))
            elif verb == b"XCLIENT":
                text = b"220 strict.example ESMTP\r\n"
            elif verb == b"DATA":
                if not self.reply(conn, line, b"354 go ahead\r\n"):
                    return
                if conn.read_until(b"\r\n.\r\n", timeout=30) is None:
                    return
                line, text = b"<end of data>", b"250 2.0.0 queued\r\n"
            elif verb == b"QUIT":
                self.reply(conn, line, b"221 bye\r\n")
                return
            else:
                text = b"250 2.0.0 ok\r\n"
            if not self.reply(conn, line, text):
                return


class OneCommandAtATime(unittest.TestCase):
    def start(self, extra="", **kw):
        self.strict = StrictBackend(**kw)
        self.addCleanup(self.strict.server.close)
        self.proxy = Proxy(self.strict.server.port, extra_listener=extra)
        self.addCleanup(self.proxy.__exit__, None, None, None)

    def transaction(self, c):
        # A client that pipelines although PIPELINING was not announced.
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nRCPT TO:<c@example.test>\r\nDATA\r\n")
        self.assertEqual([c.reply()[0] for _ in range(4)], [250, 250, 250, 354])
        c.send(b"Subject: x\r\n\r\nhello\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n")
        self.assertEqual([c.reply()[0] for _ in range(4)], [250, 250, 250, 221])

    def test_pipelined_client_plaintext(self):
        self.start()
        c = Client(self.proxy.port)
        c.send(b"EHLO client.example\r\n")  # an early talker, too
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.reply()[0], 250)
        self.transaction(c)
        self.assertEqual(self.strict.violations, [])
        self.assertEqual(self.strict.commands[-2:], [b"NOOP", b"QUIT"])

    def test_rset_after_starttls_and_the_clients_ehlo(self):
        self.start()
        c = Client(self.proxy.port)
        c.reply()
        self.assertEqual(c.cmd("EHLO client.example")[0], 250)
        c.starttls()
        # Right after the handshake: our RSET is still unanswered when this arrives.
        self.assertEqual(c.cmd("EHLO client.example")[0], 250)
        self.transaction(c)
        self.assertEqual(self.strict.violations, [])
        self.assertIn(b"RSET", self.strict.commands)

    def test_xclient_then_pipelined_client(self):
        self.start("backend_identity = xclient", caps=(b"8BITMIME", b"XCLIENT ADDR NAME PORT"))
        c = Client(self.proxy.port)
        c.send(b"EHLO client.example\r\nNOOP\r\n")
        self.assertEqual([c.reply()[0] for _ in range(3)], [220, 250, 250])
        self.transaction(c)
        self.assertEqual(self.strict.violations, [])
        self.assertTrue(self.strict.commands[0].startswith(b"XCLIENT ADDR=127.0.0.1"))

    def test_backend_with_pipelining_gets_the_batch(self):
        # The same client in front of a backend that announced PIPELINING: no waiting.
        self.start(caps=(b"PIPELINING", b"8BITMIME"))
        c = Client(self.proxy.port)
        c.reply()
        self.assertEqual(c.cmd("EHLO client.example")[0], 250)
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nRCPT TO:<c@example.test>\r\nDATA\r\n")
        [c.reply() for _ in range(4)]
        self.assertNotEqual(self.strict.violations, [])  # the strict backend notices the batch


if __name__ == "__main__":
    unittest.main()

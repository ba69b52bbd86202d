"""What a client may send: only known verbs reach the backend, a control byte
makes a command refused, and an AUTH exchange cannot desynchronise DATA."""
import unittest

from harness import Client, Proxy, ScriptedBackend


class CommandsTest(unittest.TestCase):
    def start(self, extra="", script=None, **kw):
        self.backend = ScriptedBackend(script=script, **kw)
        self.addCleanup(self.backend.close)
        self.proxy = Proxy(self.backend.port, extra_listener=extra)
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
                    # The next command is read only after this reply went out: the
                    # replies that follow come in another segment.
                    conn.send(b"501 5.7.0 Authentication aborted\r\n")
                elif verb == b"DATA":
                    conn.send(b"354 go ahead\r\n")
                    seen.append(b"[message] " + (conn.read_until(b"\r\n.\r\n") or b""))
                    conn.send(b"250 2.0.0 queued\r\n")
                elif verb == b"QUIT":
                    conn.send(b"221 bye\r\n")
                    return
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
        self.assertTrue(c.closed())
        self.assertTrue(self.backend.done.wait(5))
        self.assertIn(b"[message] Subject: hi\r\n\r\nbody\r\n.\r\n", seen)
        self.assertFalse([l for l in seen if l.startswith(b"XCLIENT")], seen)


if __name__ == "__main__":
    unittest.main()

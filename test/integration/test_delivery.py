"""The duplicate window of RFC 1047: a message whose final '.' reached the
backend but whose final reply never reached the client may be stored by the
backend while the client will send it again. starttlsd cannot close that
window (no relay can), but it logs every message that ended inside it as
event=delivery_unconfirmed with its size and, when the backend answered, its
reply; and nothing else is logged so.

The backends here are scripted: real MTAs do not stop between a message's
end and its reply on cue."""
import select
import socket
import threading
import time
import unittest

import harness
from harness import Client, Proxy, ScriptedBackend

BODY = b"Subject: window\r\n\r\none line\r\n"


def up_to_data(c):
    c.reply()
    for cmd in ("EHLO a", "MAIL FROM:<a@example.test>", "RCPT TO:<b@example.test>"):
        code, raw = c.cmd(cmd)
        assert code == 250, raw
    code, raw = c.cmd("DATA")
    assert code == 354, raw


def backend_to_data(conn):
    """A backend with PIPELINING that says 250 to everything up to DATA,
    then 354 and returns True there (False if the connection ended first)."""
    conn.send(b"220 backend.example.test ESMTP\r\n")
    while True:
        line = conn.read_line(timeout=30)
        if line is None:
            return False
        verb = line.split(b" ")[0].strip().upper()
        if verb == b"EHLO":
            conn.send(b"250-backend.example.test\r\n250 PIPELINING\r\n")
        elif verb == b"DATA":
            conn.send(b"354 go ahead\r\n")
            return True
        else:
            conn.send(b"250 2.0.0 ok\r\n")


def backend_until_dot(conn):
    """A backend that takes one message up to its final '.' and returns there."""
    return backend_to_data(conn) and conn.read_until(b"\r\n.\r\n", timeout=30) is not None


def send_queue(local_port, remote_port):
    """Bytes written to the loopback socket local_port->remote_port that its
    peer has not acknowledged (tx_queue in /proc/net/tcp), or None."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if (int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)) == (local_port, remote_port):
                return int(fields[4].split(":")[0], 16)
    return None


class DeliveryWindowTest(unittest.TestCase):
    def start(self, script):
        self.backend = ScriptedBackend(script=script)
        self.addCleanup(self.backend.close)
        self.proxy = Proxy(self.backend.port)
        self.addCleanup(self.proxy.__exit__, None, None, None)
        c = Client(self.proxy.port)
        self.addCleanup(c.close)
        return c

    def unconfirmed_lines(self):
        return [l for l in self.proxy.log().splitlines() if "event=delivery_unconfirmed" in l]

    def test_backend_gone_after_the_final_dot(self):
        """The backend has the whole message and closes without a reply: the
        client gets 421 (so it sends again) and the log says the backend may
        hold a copy."""
        def script(conn):
            if backend_until_dot(conn):
                conn.close()
        c = self.start(script)
        up_to_data(c)
        c.send(BODY + b".\r\n")
        code, raw = c.reply()
        self.assertEqual(code, 421, raw)
        self.proxy.wait_log("event=delivery_unconfirmed")
        line = self.unconfirmed_lines()[0]
        self.assertRegex(line, r"size=%d reply=- reason=backend_closed" % len(BODY + b".\r\n"))
        self.assertNotIn("event=message ", self.proxy.log())

    def test_client_gone_before_the_reply(self):
        """The client resets right after its final '.'; the backend, which has
        the message, answers 250 only afterwards: unconfirmed, no reply seen."""
        go, has_dot = threading.Event(), threading.Event()

        def script(conn):
            if backend_until_dot(conn):
                has_dot.set()
                go.wait(10)
                try:
                    conn.send(b"250 2.0.0 queued as LATE\r\n")
                except OSError:
                    pass
                conn.read_line(timeout=5)
        c = self.start(script)
        up_to_data(c)
        c.send(BODY + b".\r\n")
        self.assertTrue(has_dot.wait(10))   # the backend has the whole message
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.sock.close()      # a reset
        self.proxy.wait_log("event=delivery_unconfirmed")
        go.set()
        self.assertRegex(self.unconfirmed_lines()[0], r"size=\d+ reply=- reason=client_")

    def test_a_reply_that_never_left_for_the_client_is_unconfirmed(self):
        """The final 250 left starttlsd's queue for the kernel's, but the
        client, which stopped reading, had closed its window: the kernel
        never sent it. Then the client resets: the message is in the
        duplicate window, and logged so. A reply written to a socket is not
        a reply sent."""
        got_body = threading.Event()

        def script(conn):
            if not backend_to_data(conn):
                return
            conn.read_line(timeout=30)
            got_body.set()
            if conn.read_until(b"\r\n.\r\n", timeout=30) is not None:
                conn.send(b"250 2.0.0 queued as STUCK\r\n")
            conn.wait_closed(10)
        self.backend = ScriptedBackend(script=script)
        self.addCleanup(self.backend.close)
        self.proxy = Proxy(self.backend.port)
        self.addCleanup(self.proxy.__exit__, None, None, None)
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)   # a window that closes soon
        raw.settimeout(10)
        raw.connect(("127.0.0.1", self.proxy.port))
        c = Client.__new__(Client)
        c.sock, c.buf = raw, b""
        self.addCleanup(c.close)
        c.reply()
        self.assertEqual(c.cmd("EHLO a")[0], 250)
        # From here on the client reads nothing: 500 NOOP replies fill its window.
        c.send(b"NOOP\r\n" * 500 + b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")
        c.send(b"Subject: stuck\r\n")
        self.assertTrue(got_body.wait(20))  # so the 354 went out before: the queue to the client is still now
        ports = (self.proxy.port, raw.getsockname()[1])
        before = send_queue(*ports)
        self.assertGreater(before, 0, "the client's window should be closed")
        c.send(b"\r\nbody\r\n.\r\n")
        deadline = time.monotonic() + 20
        while send_queue(*ports) <= before:     # the 250 is written, and not sent
            self.assertLess(time.monotonic(), deadline, "the final reply never reached the kernel")
            time.sleep(0.01)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        raw.close()     # a reset
        self.proxy.wait_log("event=disconnect")
        self.assertRegex("\n".join(self.unconfirmed_lines()),
                         r"size=\d+ reply=\"?250 2\.0\.0 queued as STUCK\"? reason=client_")

    def stuck_backend(self, release):
        """A backend that reads nothing after its 354 until release is set,
        then everything until the end; its receive buffer is small."""
        def script(conn):
            if not backend_to_data(conn):
                return
            release.wait(30)
            while conn._fill(5):
                pass
        backend = ScriptedBackend(script=script)
        self.addCleanup(backend.close)
        backend.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)    # inherited at accept
        return backend

    def test_an_end_of_data_never_follows_part_of_a_message_by_a_fin(self):
        """The backend stops reading in DATA; the client sends all of its
        message and the final '.'; data_timeout ends the session. Either the
        end had left this host (the backend then gets it all: logged as
        unconfirmed), or it had not (queued in starttlsd or in the kernel,
        behind a full window): then the backend gets a reset, never the end,
        and nothing is logged (a FIN after part of a message could end it at
        an old MTA). Both a 200 KB and a 3 MB message stop behind the
        window of a backend that reads nothing."""
        for lines in (200, 3000):
            release = threading.Event()
            backend = self.stuck_backend(release)
            proxy = Proxy(backend.port, extra_listener="data_timeout = 2s")
            self.addCleanup(proxy.__exit__, None, None, None)
            c = Client(proxy.port)
            self.addCleanup(c.close)
            up_to_data(c)
            body = b"Subject: stuck\r\n\r\n" + (b"x" * 998 + b"\r\n") * lines
            threading.Thread(target=c.send, args=(body + b".\r\n",), daemon=True).start()
            proxy.wait_log("event=disconnect", timeout=20)
            release.set()
            conn = backend.wait_conn()
            self.assertTrue(backend.done.wait(30))
            got_end = conn.received.endswith(b"\r\n.\r\n")
            logged = "event=delivery_unconfirmed" in proxy.log()
            self.assertEqual(got_end, logged, "%d lines: end %s, logged %s, got %d bytes, reset %s" % (lines, got_end, logged, len(conn.received), conn.reset))
            if not got_end:
                self.assertTrue(conn.reset, "%d lines: the backend got a FIN after part of a message" % lines)

    def test_a_client_that_resets_while_it_is_not_read_is_noticed(self):
        """The backend stops reading in DATA, so starttlsd stops reading the
        client (its queue to the backend is full). The client then resets:
        unread, the reset reports nothing, yet starttlsd notices within about
        a second (not at data_timeout, here a minute), frees the session and
        resets the backend, which never gets an end of data."""
        release = threading.Event()
        backend = self.stuck_backend(release)
        proxy = Proxy(backend.port, extra_listener="data_timeout = 60s")
        self.addCleanup(proxy.__exit__, None, None, None)
        c = Client(proxy.port)
        self.addCleanup(c.close)
        up_to_data(c)
        c.sock.setblocking(False)
        line = b"x" * 998 + b"\r\n"
        deadline = time.monotonic() + 60
        while "client=paused" not in proxy.log():     # the kernel's buffers toward the backend fill first
            self.assertLess(time.monotonic(), deadline, proxy.log())
            try:
                c.sock.send(line * 64)
            except BlockingIOError:
                select.select([], [c.sock], [], 0.2)
        started = time.monotonic()
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.sock.close()      # a reset
        proxy.wait_log("event=disconnect", timeout=20)
        self.assertLess(time.monotonic() - started, 10, "noticed only at a deadline")
        self.assertRegex(proxy.log(), r"event=disconnect sid=\w+ reason=client_error")
        release.set()
        conn = backend.wait_conn()
        self.assertTrue(backend.done.wait(30))
        self.assertFalse(conn.received.endswith(b"\r\n.\r\n"))
        self.assertTrue(conn.reset, "the backend got a FIN after part of a message")
        self.assertNotIn("event=delivery_unconfirmed", proxy.log())

    def test_a_reply_that_reached_the_client_is_not_unconfirmed(self):
        """The ordinary case, ended every way a client ends: QUIT, a FIN, a reset."""
        for how in ("quit", "fin", "reset"):
            backend = ScriptedBackend()
            self.addCleanup(backend.close)
            proxy = Proxy(backend.port)
            self.addCleanup(proxy.__exit__, None, None, None)
            c = Client(proxy.port)
            up_to_data(c)
            c.send(BODY + b".\r\n")
            code, raw = c.reply()
            self.assertEqual(code, 250, raw)
            if how == "quit":
                c.cmd("QUIT")
            elif how == "reset":
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            c.close()
            proxy.wait_log("event=disconnect")
            self.assertNotIn("event=delivery_unconfirmed", proxy.log(), how)
            self.assertIn("event=message ", proxy.log())


if __name__ == "__main__":
    unittest.main()

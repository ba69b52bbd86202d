"""The client's identity: backend_identity (xclient, proxy_v1, proxy_v2),
add_received, inbound PROXY headers (accept_proxy + proxy_trusted), checked
on exact bytes with a scripted backend and against a real Postfix."""
import re
import smtplib
import socket
import struct
import unittest

from harness import Client, Proxy, ScriptedBackend, client_context, shim_env, wait_for
from test_postfix import Postfix, have_postfix


def client_from(port, source):
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    c = Client.__new__(Client)
    c.sock, c.buf = s, b""
    return c


class ScriptedIdentityTest(unittest.TestCase):
    def start(self, extra, **kw):
        self.backend = ScriptedBackend(**kw)
        self.addCleanup(self.backend.close)
        self.proxy = Proxy(self.backend.port, extra_listener=extra)
        self.addCleanup(self.proxy.__exit__, None, None, None)

    def test_proxy_v1(self):
        got = {}

        def script(conn):
            got["hdr"] = conn.read_line()
            conn.send(b"220 hi\r\n")
            conn.read_line()
        self.start("backend_identity = proxy_v1", script=script)
        c = client_from(self.proxy.port, "127.0.0.5")
        self.assertEqual(c.reply()[0], 220)
        cport = c.sock.getsockname()[1]
        self.assertEqual(got["hdr"], b"PROXY TCP4 127.0.0.5 127.0.0.1 %d %d\r\n" % (cport, self.proxy.port))

    def test_proxy_v2(self):
        got = {}

        def script(conn):
            while len(conn.buf) < 28:
                conn._fill(5)
            got["hdr"] = conn.buf[:28]
            conn.send(b"220 hi\r\n")
            conn.read_line()
        self.start("backend_identity = proxy_v2", script=script)
        c = client_from(self.proxy.port, "127.0.0.6")
        self.assertEqual(c.reply()[0], 220)
        cport = c.sock.getsockname()[1]
        expect = (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", 12) +
                  socket.inet_aton("127.0.0.6") + socket.inet_aton("127.0.0.1") + struct.pack("!HH", cport, self.proxy.port))
        self.assertEqual(got["hdr"], expect)

    def test_xclient(self):
        got = {}

        def script(conn):
            conn.send(b"220 first greeting\r\n")
            got["xclient"] = conn.read_line()
            conn.send(b"220 second greeting\r\n")
            got["next"] = conn.read_line()
            conn.send(b"250 ok\r\n")
        self.start("backend_identity = xclient", script=script)
        c = client_from(self.proxy.port, "127.0.0.7")
        c.send(b"NOOP\r\n")  # an early talker is held until the greeting
        self.assertEqual(c.reply(), (220, b"220 second greeting\r\n"))
        self.assertEqual(c.reply()[0], 250)
        cport = c.sock.getsockname()[1]
        self.assertEqual(got["xclient"], b"XCLIENT ADDR=127.0.0.7 PORT=%d NAME=[UNAVAILABLE]\r\n" % cport)
        self.assertEqual(got["next"], b"NOOP\r\n")

    def test_xclient_refused_fails_closed(self):
        def script(conn):
            conn.send(b"220 hi\r\n")
            conn.read_line()
            conn.send(b"550 5.7.0 Error: insufficient authorization\r\n")
            conn.read_line()
        self.start("backend_identity = xclient", script=script)
        c = Client(self.proxy.port)
        code, raw = c.reply()
        self.assertEqual(code, 421)
        self.assertTrue(c.closed())
        self.proxy.wait_log("event=xclient_refused")

    def test_add_received(self):
        self.start("add_received = yes")
        c = Client(self.proxy.port)
        c.reply()
        c.cmd("EHLO client.example")
        c.starttls()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@b>")
        c.cmd("RCPT TO:<c@d>")
        c.cmd("DATA")
        c.send(b"Subject: x\r\n\r\nbody\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        msg = self.backend.messages[0]
        self.assertTrue(msg.startswith(b"Received: from client.example ([127.0.0.1])\r\n\tby proxy.example.test "
                                       b"(starttlsd) with ESMTPS id "), msg)
        self.assertIn(b"version=TLSv1.3", msg)
        self.assertTrue(msg.endswith(b"\r\nSubject: x\r\n\r\nbody\r\n.\r\n"))
        head = msg.split(b"\r\nSubject:")[0]
        self.assertNotIn(b"\n.", head)

    def test_no_received_by_default(self):
        self.start("")
        c = Client(self.proxy.port)
        c.reply()
        c.cmd("EHLO a")
        c.cmd("MAIL FROM:<a@b>")
        c.cmd("RCPT TO:<c@d>")
        c.cmd("DATA")
        c.send(b"x\r\n.\r\n")
        c.reply()
        self.assertEqual(self.backend.messages, [b"x\r\n.\r\n"])


class UnknownClientTest(unittest.TestCase):
    """getpeername() fails (the client reset its connection before we asked):
    with an identity to pass on, nothing may reach the backend in its name."""

    def run_case(self, extra):
        backend = ScriptedBackend()
        self.addCleanup(backend.close)
        proxy = Proxy(backend.port, extra_listener=extra, env=shim_env("fail_getpeername"))
        self.addCleanup(proxy.__exit__, None, None, None)
        return backend, proxy

    def test_identity_configured_means_no_backend_connection(self):
        for extra in ("backend_identity = xclient", "backend_identity = proxy_v1", "backend_identity = proxy_v2",
                      "add_received = yes"):
            backend, proxy = self.run_case(extra)
            c = Client(proxy.port)
            self.assertTrue(c.closed(), extra)
            self.assertEqual(c.buf, b"", extra)  # not even a greeting
            proxy.wait_log("reason=client_address_unknown")
            # A backend connection would have been made before the client was closed.
            self.assertFalse(backend.accepted.is_set(), extra)

    def test_without_identity_the_session_goes_on(self):
        backend, proxy = self.run_case("")
        c = Client(proxy.port)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        proxy.wait_log("client=unknown")


class InboundProxyTest(unittest.TestCase):
    def start(self, extra, tls="starttls"):
        got = {}

        def script(conn):
            got["hdr"] = conn.read_line()
            conn.send(b"220 hi\r\n")
            while conn.read_line() is not None:
                conn.send(b"250 ok\r\n")
        self.got = got
        self.backend = ScriptedBackend(script=script)
        self.addCleanup(self.backend.close)
        self.proxy = Proxy(self.backend.port, tls=tls, extra_listener="backend_identity = proxy_v1\n" + extra)
        self.addCleanup(self.proxy.__exit__, None, None, None)

    def test_trusted_v1_header_gives_real_client(self):
        self.start("accept_proxy = yes\nproxy_trusted = 127.0.0.0/8")
        c = Client(self.proxy.port)
        c.send(b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 25\r\n")
        self.assertEqual(c.reply()[0], 220)
        # The backend learns both ends as the balancer saw them.
        self.assertEqual(self.got["hdr"], b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 25\r\n")
        self.proxy.wait_log("client=203.0.113.7:40000")

    def test_ipv6_client_behind_an_ipv4_balancer_keeps_its_identity(self):
        self.start("accept_proxy = yes\nproxy_trusted = 127.0.0.0/8")
        c = Client(self.proxy.port)
        c.send(b"PROXY TCP6 2001:db8::7 2001:db8::25 40000 25\r\n")
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(self.got["hdr"], b"PROXY TCP6 2001:db8::7 2001:db8::25 40000 25\r\n")
        self.proxy.wait_log("client=[2001:db8::7]:40000")

    def test_trusted_v2_header_then_implicit_tls(self):
        self.start("accept_proxy = yes\nproxy_trusted = 127.0.0.1", tls="implicit")
        raw = socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10)
        v2 = (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", 12) +
              socket.inet_aton("198.51.100.9") + socket.inet_aton("192.0.2.1") + struct.pack("!HH", 41000, 465))
        raw.sendall(v2)
        s = client_context().wrap_socket(raw)
        self.assertTrue(s.recv(100).startswith(b"220"))
        self.assertEqual(self.got["hdr"], b"PROXY TCP4 198.51.100.9 192.0.2.1 41000 465\r\n")

    def test_untrusted_peer_cannot_send_proxy(self):
        self.start("accept_proxy = yes\nproxy_trusted = 10.0.0.0/8")
        c = Client(self.proxy.port)
        self.assertEqual(c.reply()[0], 220)  # no header expected from us
        self.assertEqual(c.cmd("PROXY TCP4 203.0.113.7 192.0.2.1 40000 25")[0], 550)
        self.assertEqual(self.got["hdr"], b"PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\n"
                         % (c.sock.getsockname()[1], self.proxy.port))

    def test_bad_header_from_trusted_peer_closes(self):
        self.start("accept_proxy = yes\nproxy_trusted = 127.0.0.0/8")
        c = Client(self.proxy.port)
        c.send(b"EHLO not-a-proxy-header\r\n")
        self.assertTrue(c.closed())
        self.proxy.wait_log("reason=bad_proxy_header")
        self.assertEqual(self.backend.conns, [])


@unittest.skipUnless(have_postfix(), "postfix is not installed")
class PostfixIdentityTest(unittest.TestCase):
    """Postfix trusts 127.0.0.1 only (mynetworks): relaying to another domain
    is allowed from there and denied from anywhere else. Clients connect to
    starttlsd from 127.0.0.5, so Postfix only refuses to relay if it learned
    the real address."""

    def run_case(self, identity, postfix_lines):
        pf = Postfix("mynetworks = 127.0.0.1/32",
                     "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
                     # relayed mail is accepted and thrown away: nothing leaves this machine
                     "default_transport = discard:relay test", *postfix_lines)
        self.addCleanup(pf.stop)
        proxy = Proxy(pf.port, extra_listener="backend_identity = %s" % identity)
        self.addCleanup(proxy.__exit__, None, None, None)
        with smtplib.SMTP("127.0.0.1", proxy.port, timeout=30, source_address=("127.0.0.5", 0)) as s:
            s.ehlo("client.example")
            s.starttls(context=client_context())
            s.ehlo("client.example")
            s.mail("sender@example.org")
            relay_code, _ = s.rcpt("victim@elsewhere.example")
            local_code, _ = s.rcpt("user@example.test")
            s.data(b"Subject: identity\r\n\r\nhello\r\n")
        delivered = pf.messages(1)[0]
        # smtpd logs through postlogd, in order: once the session's summary line
        # (after QUIT) is in the file, the lines the tests look for are too.
        wait_for(lambda: re.search(r"disconnect from .* mail=1 ", pf.maillog()), timeout=30,
                 what=lambda: "the session's end in the maillog:\n" + pf.maillog())
        return relay_code, local_code, delivered, pf.maillog()

    def test_without_identity_postfix_is_an_open_relay(self):
        relay, local, msg, log = self.run_case("none", [])
        self.assertEqual(relay, 250)  # the danger the README warns about
        self.assertIn(b"(localhost [127.0.0.1])", msg)

    def test_xclient(self):
        relay, local, msg, log = self.run_case("xclient", ["smtpd_authorized_xclient_hosts = 127.0.0.1"])
        self.assertEqual(relay, 554)
        self.assertEqual(local, 250)
        self.assertIn(b"from client.example (unknown [127.0.0.5])", msg)
        self.assertIn("client=unknown[127.0.0.5]", log)

    def test_proxy_v1(self):
        relay, local, msg, log = self.run_case("proxy_v1", ["smtpd_upstream_proxy_protocol = haproxy"])
        self.assertEqual(relay, 554)
        self.assertIn(b"[127.0.0.5])", msg)
        self.assertIn("[127.0.0.5]", log)

    def test_proxy_v2(self):
        relay, local, msg, log = self.run_case("proxy_v2", ["smtpd_upstream_proxy_protocol = haproxy"])
        self.assertEqual(relay, 554)
        self.assertIn(b"[127.0.0.5])", msg)

    def ipv6_client_through_balancer(self, identity):
        """An IPv6 client behind an IPv4 balancer (inbound PROXY TCP6) reaches Postfix as itself."""
        pf = Postfix("mynetworks = 127.0.0.1/32", "inet_protocols = all",
                     "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
                     "default_transport = discard:relay test", "smtpd_upstream_proxy_protocol = haproxy")
        self.addCleanup(pf.stop)
        proxy = Proxy(pf.port, extra_listener="backend_identity = %s\naccept_proxy = yes\n"
                                              "proxy_trusted = 127.0.0.0/8" % identity)
        self.addCleanup(proxy.__exit__, None, None, None)
        c = Client(proxy.port, timeout=30)
        c.send(b"PROXY TCP6 2001:db8::7 2001:db8::25 40000 25\r\n")
        self.assertEqual(c.reply()[0], 220, pf.maillog())
        self.assertEqual(c.cmd("EHLO client.example")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<sender@example.org>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<victim@elsewhere.example>")[0], 554)
        self.assertEqual(c.cmd("RCPT TO:<user@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        self.assertEqual(c.cmd(b"Subject: v6\r\n\r\nhello\r\n.")[0], 250)
        c.cmd("QUIT")
        msg = pf.messages(1)[0]
        self.assertIn(b"[IPv6:2001:db8::7])", msg)

    def test_ipv6_client_behind_ipv4_balancer_proxy_v1(self):
        self.ipv6_client_through_balancer("proxy_v1")

    def test_ipv6_client_behind_ipv4_balancer_proxy_v2(self):
        self.ipv6_client_through_balancer("proxy_v2")


if __name__ == "__main__":
    unittest.main()

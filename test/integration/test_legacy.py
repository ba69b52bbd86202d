"""Backends older than ESMTP (issue 10, part 1): an RFC 821 server answers
EHLO with 500, takes only HELO, refuses MAIL/RCPT parameters and throws away
input that arrives before its reply. starttlsd greets it with HELO, answers
the client's EHLO itself (STARTTLS, PIPELINING: nothing the backend would
have to implement) and feeds it one command at a time, so real senders
that insist on EHLO and STARTTLS deliver through it."""
import os
import shutil
import smtplib
import ssl
import subprocess
import tempfile
import threading
import unittest

from harness import Client, Proxy, ScriptedBackend, client_context, free_port, wait_for
from test_postfix import Postfix, have_postfix


class RFC821:
    """A scripted RFC 821 server. Records the verbs it got and every time input
    arrived before it had answered (an old server discards it: a lost command)."""

    def __init__(self):
        self.verbs = []
        self.early = 0
        self.lock = threading.Lock()

    def __call__(self, c):
        c.send(b"220 legacy.example.test Sendmail 5.65/4.0 ready\r\n")
        while True:
            line = c.read_line(timeout=60)
            if line is None:
                return
            with self.lock:
                if c.buf:           # more was already waiting: an early talker
                    self.early += 1
                    c.buf = b""
            verb = line.split(b" ")[0].strip().upper()
            self.verbs.append(verb.decode())
            if verb in (b"MAIL", b"RCPT"):
                args = line.split(b">", 1)[1].strip() if b">" in line else b""
                c.send(b"501 Syntax error in parameters\r\n" if args else b"250 OK\r\n")
            elif verb == b"HELO":
                c.send(b"250 legacy.example.test\r\n")
            elif verb == b"DATA":
                c.send(b"354 Enter mail, end with \".\" on a line by itself\r\n")
                data = c.read_until(b"\r\n.\r\n", timeout=120)
                if data is None:
                    return
                self.messages.append(data)
                c.send(b"250 Mail accepted\r\n")
            elif verb in (b"RSET", b"NOOP"):
                c.send(b"250 OK\r\n")
            elif verb == b"QUIT":
                c.send(b"221 legacy.example.test closing connection\r\n")
                c.wait_closed()
                c.close()
                return
            else:                   # EHLO, STARTTLS, AUTH, ...: 1982 had none of them
                c.send(b"500 Command unrecognized\r\n")


class LegacyBackendTest(unittest.TestCase):
    def setUp(self):
        self.rfc821 = RFC821()
        self.backend = ScriptedBackend(script=self.rfc821)
        self.rfc821.messages = self.backend.messages
        self.addCleanup(self.backend.close)
        self.implicit_port = free_port()
        self.proxy = Proxy(self.backend.port, extra_listener="[listener smtps]\nlisten = 127.0.0.1:%d\n"
                           "backend = 127.0.0.1:%d\ntls = implicit\nhostname = proxy.example.test\n"
                           % (self.implicit_port, self.backend.port))
        self.addCleanup(self.proxy.__exit__, None, None, None)

    def delivered(self, n=1):
        wait_for(lambda: len(self.backend.messages) >= n, timeout=60, what="%d message(s) at the backend" % n)
        self.assertEqual(self.rfc821.early, 0, "the backend got input before its reply")
        v = self.rfc821.verbs    # each session: one refused EHLO at most, then HELO only
        self.assertTrue(all(v[i + 1] == "HELO" for i in range(len(v)) if v[i] == "EHLO"), v)
        self.assertNotIn("STARTTLS", self.rfc821.verbs)
        return self.backend.messages

    def test_ehlo_answered_for_the_backend(self):
        c = Client(self.proxy.port)
        self.addCleanup(c.sock.close)
        self.assertEqual(c.reply()[0], 220)
        c.send("EHLO client.example\r\n")
        code, raw = c.reply()
        self.assertEqual(code, 250)
        self.assertEqual(raw, b"250-proxy.example.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
        self.assertEqual(self.rfc821.verbs[:2], ["EHLO", "HELO"])
        self.proxy.wait_log("event=backend_helo_only")

    def test_smtplib_starttls(self):
        with smtplib.SMTP("127.0.0.1", self.proxy.port, timeout=30) as s:
            s.starttls(context=client_context())
            s.ehlo("client.example")
            self.assertTrue(s.has_extn("pipelining"))
            self.assertFalse(s.has_extn("starttls"))
            self.assertEqual(s.sendmail("a@example.org", ["b@example.test"], b"Subject: 1982\r\n\r\nhello\r\n"), {})
        self.assertIn(b"Subject: 1982", self.delivered()[0])
        # After TLS the backend got only RSET: no second HELO, never EHLO.
        self.assertEqual(self.rfc821.verbs[:3], ["EHLO", "HELO", "RSET"])

    def test_swaks_starttls_pipelined(self):
        r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % self.proxy.port, "--tls", "--pipeline",
                            "--to", "b@example.test", "--from", "a@example.org", "--timeout", "30"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("PIPELINING", r.stdout)
        self.delivered()

    def test_swaks_implicit_tls(self):
        r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % self.implicit_port, "--tlsc",
                            "--to", "b@example.test", "--from", "a@example.org", "--timeout", "30"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.delivered()

    def test_openssl_s_client_pipelines_everything(self):
        script = ("EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"
                  "Subject: s_client\r\n\r\nhi\r\n.\r\nQUIT\r\n")
        r = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:%d" % self.proxy.port,
                            "-crlf", "-quiet", "-ign_eof"], input=script.replace("\r\n", "\n"), capture_output=True,
                           text=True, timeout=60)
        self.assertIn("250 Mail accepted", r.stdout, r.stdout + r.stderr)
        self.assertIn(b"Subject: s_client", self.delivered()[0])

    def test_curl_starttls_and_smtps(self):
        msg = os.path.join(tempfile.mkdtemp(), "m.eml")
        with open(msg, "wb") as f:
            f.write(b"Subject: curl\r\n\r\nhello\r\n")
        for url, extra in (("smtp://127.0.0.1:%d" % self.proxy.port, ["--ssl-reqd"]),
                           ("smtps://127.0.0.1:%d" % self.implicit_port, [])):
            r = subprocess.run(["curl", "-sS", "-k", url, *extra, "--mail-from", "a@example.org", "--mail-rcpt",
                                "b@example.test", "--upload-file", msg], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, url + ": " + r.stderr)
        self.delivered(2)

    @unittest.skipUnless(shutil.which("msmtp"), "msmtp is not installed (tools/install-deps installs it)")
    def test_msmtp(self):
        r = subprocess.run(["msmtp", "--host=127.0.0.1", "--port=%d" % self.proxy.port, "--tls=on",
                            "--tls-starttls=on", "--tls-certcheck=off", "--from=a@example.org", "b@example.test"],
                           input=b"Subject: msmtp\r\n\r\nhello\r\n", capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.delivered()

    def test_parameters_the_backend_would_refuse_are_not_announced(self):
        with smtplib.SMTP("127.0.0.1", self.proxy.port, timeout=30) as s:
            s.ehlo("client.example")
            for ext in ("size", "8bitmime", "smtputf8", "auth", "dsn", "chunking"):
                self.assertFalse(s.has_extn(ext), ext)


@unittest.skipUnless(have_postfix(), "postfix is not installed (tools/install-deps installs it)")
class PostfixSenderTest(unittest.TestCase):
    def test_postfix_relays_with_mandatory_tls(self):
        """Postfix as the sender (smtp_tls_security_level = encrypt: no TLS, no
        delivery) relays through starttlsd to the RFC 821 backend."""
        rfc821 = RFC821()
        backend = ScriptedBackend(script=rfc821)
        rfc821.messages = backend.messages
        self.addCleanup(backend.close)
        proxy = Proxy(backend.port)
        self.addCleanup(proxy.__exit__, None, None, None)
        sender = Postfix("relayhost = [127.0.0.1]:%d" % proxy.port, "default_transport = smtp",
                         "relay_transport = smtp", "smtp_tls_security_level = encrypt",
                         "smtp_tls_loglevel = 1",
                         "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination")
        self.addCleanup(sender.stop)
        conf = os.path.join(sender.dir, "conf")
        for svc in ("smtp/unix=smtp unix - - n - - smtp", "tlsmgr/unix=tlsmgr unix - - n 1000? 1 tlsmgr"):
            subprocess.run(["postconf", "-c", conf, "-M", svc], check=True)
        subprocess.run(["postfix", "-c", conf, "reload"], check=True, capture_output=True)
        with smtplib.SMTP("127.0.0.1", sender.port, timeout=30) as s:
            self.assertEqual(s.sendmail("a@example.org", ["b@remote.example"],
                                        b"Subject: via postfix\r\n\r\nhello\r\n"), {})
        wait_for(lambda: backend.messages, timeout=60, what=lambda: "the relayed message\n" + sender.maillog())
        self.assertIn(b"Subject: via postfix", backend.messages[0])
        self.assertEqual(rfc821.early, 0)
        self.assertIn("TLS connection established to 127.0.0.1", sender.maillog())


if __name__ == "__main__":
    unittest.main()

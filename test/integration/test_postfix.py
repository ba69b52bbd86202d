"""A real legacy MTA behind starttlsd: Postfix from Debian with TLS off, on a
loopback port, delivering to a maildir (tools/postfix-backend). Messages sent
through starttlsd arrive with their bodies byte-for-byte intact."""
import hashlib
import os
import random
import shutil
import smtplib
import subprocess
import tempfile
import unittest

from harness import TOOLS, Proxy, client_context, free_port

SCRIPT = os.path.join(TOOLS, "postfix-backend")


def have_postfix():
    return shutil.which("postfix") is not None or os.path.exists("/usr/sbin/postfix")


class Postfix:
    """A private Postfix instance; extra main.cf lines as arguments."""

    def __init__(self, *extra):
        self.dir = tempfile.mkdtemp(prefix="starttlsd-postfix-")
        self.port = free_port()
        subprocess.run([SCRIPT, "start", self.dir, str(self.port), *extra], check=True, timeout=120)

    def messages(self, count, timeout=60):
        p = subprocess.run([SCRIPT, "wait-mail", self.dir, str(count), str(timeout)],
                           capture_output=True, timeout=timeout + 10)
        if p.returncode != 0:
            raise AssertionError("mail did not arrive: %s\n%s" % (p.stderr.decode(), self.maillog()))
        out = []
        for path in p.stdout.decode().split():
            with open(path, "rb") as f:
                out.append(f.read())
        return out

    def maillog(self):
        try:
            with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        subprocess.run([SCRIPT, "stop", self.dir], timeout=60)


def body_of(delivered):
    """The message as the client sent it: Postfix prepends Return-Path,
    X-Original-To, Delivered-To and a Received header (with TAB continuations)."""
    lines = delivered.split(b"\n")
    i, skipped = 0, 0
    while skipped < 4:
        i += 1
        while lines[i].startswith(b"\t"):
            i += 1
        skipped += 1
    return b"\n".join(lines[i:])


@unittest.skipUnless(have_postfix(), "postfix is not installed (tools/install-deps installs it)")
class PostfixTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.postfix = Postfix()
        cls.proxy = Proxy(cls.postfix.port)
        cls.sent = 0

    @classmethod
    def tearDownClass(cls):
        cls.proxy.__exit__(None, None, None)
        cls.postfix.stop()

    def send(self, body, rcpts=("user@example.test",)):
        with smtplib.SMTP("127.0.0.1", self.proxy.port, timeout=120) as s:
            s.ehlo("client.example")
            self.assertTrue(s.has_extn("starttls"))
            s.starttls(context=client_context())
            s.ehlo("client.example")
            self.assertFalse(s.has_extn("starttls"))
            self.assertEqual(s.sendmail("sender@example.org", list(rcpts), body), {})
        type(self).sent += len(rcpts)
        return self.postfix.messages(self.sent)[-1]

    def test_message_arrives_byte_for_byte(self):
        body = (b"From: sender@example.org\r\nTo: user@example.test\r\nSubject: through starttlsd\r\n\r\n"
                b"first line\r\n.leading dot\r\n..two dots\r\n.\t\r\nUTF-8: \xc3\xa9t\xc3\xa9\r\nlast line\r\n")
        got = self.send(body)
        self.assertEqual(body_of(got), body.replace(b"\r\n", b"\n"))
        self.proxy.wait_log("event=message")
        self.assertIn("from=<sender@example.org> rcpts=1", self.proxy.log())

    def test_twenty_megabytes(self):
        rnd = random.Random(20)
        lines = [b"Subject: big\r\n", b"\r\n"]
        size = 0
        while size < 20 * 1024 * 1024:
            line = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 .") for _ in range(rnd.randrange(0, 990)))
            lines.append(line + b"\r\n")
            size += len(line) + 2
        body = b"".join(lines)
        got = self.send(body)
        self.assertEqual(hashlib.sha256(body_of(got)).hexdigest(),
                         hashlib.sha256(body.replace(b"\r\n", b"\n")).hexdigest())

    def test_postfix_sees_ehlo_after_tls_and_rset(self):
        got = self.send(b"Subject: two\r\n\r\nx\r\n", rcpts=("a@example.test", "b@example.test"))
        self.assertIn(b"Received: from client.example (localhost [127.0.0.1])", got)
        # Postfix counted two EHLOs and our RSET in the session summary.
        self.assertRegex(self.postfix.maillog(), r"ehlo=2 mail=1 rcpt=2 data=1 rset=1 quit=1")


if __name__ == "__main__":
    unittest.main()

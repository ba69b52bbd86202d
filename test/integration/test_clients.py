"""Real SMTP clients through starttlsd, in front of tools/demo-backend:
Python smtplib, openssl s_client -starttls smtp, swaks --tls and --tlsc."""
import glob
import os
import smtplib
import subprocess
import sys
import tempfile
import time
import unittest

from harness import TOOLS, Proxy, client_context, free_port, wait_port


class DemoBackend:
    def __init__(self):
        self.spool = tempfile.mkdtemp(prefix="starttlsd-spool-")
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, os.path.join(TOOLS, "demo-backend"),
                                      "--listen", "127.0.0.1:%d" % self.port, "--spool", self.spool],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def messages(self, n, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            files = sorted(glob.glob(os.path.join(self.spool, "*.eml")))
            if len(files) >= n:
                out = []
                for f in files:
                    with open(f, "rb") as fh:
                        out.append(fh.read())
                return out
            time.sleep(0.05)
        raise AssertionError("expected %d messages in %s" % (n, self.spool))

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


class ClientsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = DemoBackend()
        cls.implicit_port = free_port()
        cls.proxy = Proxy(listeners=[
            dict(name="starttls", listen="127.0.0.1:%d" % free_port(), backend="127.0.0.1:%d" % cls.backend.port,
                 tls="starttls", hostname="proxy.example.test"),
            dict(name="implicit", listen="127.0.0.1:%d" % cls.implicit_port,
                 backend="127.0.0.1:%d" % cls.backend.port, tls="implicit", hostname="proxy.example.test"),
        ])
        # Proxy() picked a port for a default listener we did not use: read ours back.
        cls.starttls_port = int(open(cls.proxy.config_path).read().split("listen = 127.0.0.1:")[1].split()[0])

    @classmethod
    def tearDownClass(cls):
        cls.proxy.__exit__(None, None, None)
        cls.backend.close()

    def count(self):
        return len(glob.glob(os.path.join(self.backend.spool, "*.eml")))

    def test_smtplib_starttls(self):
        before = self.count()
        body = "Subject: smtplib\r\n\r\nfirst line\r\n.leading dot\r\n..two dots\r\nlast\r\n"
        with smtplib.SMTP("127.0.0.1", self.starttls_port, timeout=10) as s:
            s.ehlo()
            self.assertTrue(s.has_extn("starttls"))
            s.starttls(context=client_context())
            s.ehlo()
            self.assertFalse(s.has_extn("starttls"))
            self.assertEqual(s.sendmail("a@example.test", ["b@example.test", "c@example.test"], body), {})
        msg = self.backend.messages(before + 1)[-1]
        self.assertTrue(msg.endswith(body.encode()), msg)
        self.assertIn(b"X-Demo-Envelope-To: <b@example.test>, <c@example.test>", msg)

    def test_smtplib_implicit(self):
        before = self.count()
        with smtplib.SMTP_SSL("127.0.0.1", self.implicit_port, timeout=10, context=client_context()) as s:
            code, caps = s.ehlo()
            self.assertEqual(code, 250)
            self.assertNotIn(b"STARTTLS", caps.upper())
            s.sendmail("a@example.test", ["b@example.test"], "Subject: implicit\r\n\r\nhello\r\n")
        self.assertTrue(self.backend.messages(before + 1)[-1].endswith(b"hello\r\n"))

    def test_openssl_s_client_starttls(self):
        before = self.count()
        script = (b"EHLO s-client.example\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n"
                  b"DATA\r\nSubject: s_client\r\n\r\nvia openssl\r\n.\r\nQUIT\r\n")
        # s_client does the EHLO/STARTTLS exchange itself, then copies stdin (with PIPELINING).
        p = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                            "127.0.0.1:%d" % self.starttls_port, "-quiet", "-ign_eof"],
                           input=script, capture_output=True, timeout=30)
        out = p.stdout.decode(errors="replace")
        self.assertIn("250 2.0.0 Ok: stored as", out, p.stderr.decode(errors="replace"))
        self.assertIn("221", out)
        self.assertTrue(self.backend.messages(before + 1)[-1].endswith(b"via openssl\r\n"))

    def swaks(self, *args):
        p = subprocess.run(["swaks", "--to", "b@example.test", "--from", "a@example.test",
                            "--header", "Subject: swaks", "--body", "swaks body\n.dot line\n", *args],
                           capture_output=True, timeout=30)
        out = p.stdout.decode(errors="replace")
        self.assertEqual(p.returncode, 0, out + p.stderr.decode(errors="replace"))
        return out

    def test_swaks_tls(self):
        before = self.count()
        out = self.swaks("--server", "127.0.0.1:%d" % self.starttls_port, "--tls")
        self.assertIn("<-  250 STARTTLS", out)
        self.assertIn("<-  220 2.0.0 Ready to start TLS", out)
        self.assertIn("TLS started", out)
        msg = self.backend.messages(before + 1)[-1]
        self.assertIn(b"swaks body\r\n.dot line\r\n", msg)

    def test_swaks_tlsc_implicit(self):
        before = self.count()
        out = self.swaks("--server", "127.0.0.1:%d" % self.implicit_port, "--tlsc")
        self.assertIn("TLS started", out)
        self.backend.messages(before + 1)

    def test_swaks_pipelining(self):
        before = self.count()
        self.swaks("--server", "127.0.0.1:%d" % self.starttls_port, "--tls", "--pipeline")
        self.backend.messages(before + 1)


if __name__ == "__main__":
    unittest.main()

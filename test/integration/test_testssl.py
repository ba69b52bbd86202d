"""TLS quality, checked by a real scanner: testssl (Debian's testssl.sh) with
-t smtp against a STARTTLS listener, and against an implicit-TLS listener.
No vulnerability, no protocol below TLS 1.2, only AEAD ciphers with forward
secrecy. The summary is written to $STARTTLSD_TESTSSL_OUT if set."""
import os
import re
import shutil
import subprocess
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import Proxy, ScriptedBackend, free_port

TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh")


def scan(port, starttls):
    args = [TESTSSL, "--quiet", "--color", "0", "--warnings", "off", "--fast", "-p", "-U", "-e"]
    if starttls:
        args += ["-t", "smtp"]
    p = subprocess.run(args + ["127.0.0.1:%d" % port], capture_output=True, timeout=900)
    return p.stdout.decode(errors="replace")


@unittest.skipUnless(TESTSSL, "testssl is not installed (tools/install-deps installs it)")
@unittest.skipIf(os.environ.get("STARTTLSD_SANITIZED") == "ON" or os.environ.get("STARTTLSD_TSAN") == "ON",
                 "runs on the normal build only: the scanner's verdict does not depend on sanitizers")
class TestsslTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = ScriptedBackend()
        cls.p25, cls.p465 = free_port(), free_port()
        cls.proxy = Proxy(listeners=[
            dict(name="smtp", listen="127.0.0.1:%d" % cls.p25, backend="127.0.0.1:%d" % cls.backend.port,
                 tls="starttls", hostname="mx.example.test", extra="max_connections_per_ip = 0"),
            dict(name="smtps", listen="127.0.0.1:%d" % cls.p465, backend="127.0.0.1:%d" % cls.backend.port,
                 tls="implicit", hostname="mx.example.test", extra="max_connections_per_ip = 0"),
        ])
        with ThreadPoolExecutor(2) as ex:
            cls.out25, cls.out465 = ex.map(lambda a: scan(*a), [(cls.p25, True), (cls.p465, False)])
        out = os.environ.get("STARTTLSD_TESTSSL_OUT")
        if out:
            with open(out, "w") as f:
                f.write("## STARTTLS listener (testssl -t smtp)\n\n" + cls.out25 +
                        "\n## implicit TLS listener\n\n" + cls.out465)

    @classmethod
    def tearDownClass(cls):
        cls.proxy.__exit__(None, None, None)
        cls.backend.close()

    def check(self, out):
        self.assertIn("TLS 1.3    offered", out, out)
        self.assertIn("TLS 1.2    offered", out, out)
        for old in ("SSLv2", "SSLv3", "TLS 1 ", "TLS 1.1"):
            line = [l for l in out.splitlines() if l.strip().startswith(old.strip()) and "offered" in l]
            self.assertTrue(line and "not offered" in line[0], (old, line))
        vulns = [l for l in out.splitlines() if re.search(r"\bVULNERABLE\b", l)]
        self.assertEqual(vulns, [], out)
        self.assertNotIn("potentially", out.lower().split("testing vulnerabilities")[-1].split("testing")[0])
        ciphers = re.findall(r"^\s*x[0-9a-f]+\s+(\S+)", out, re.M)
        self.assertTrue(ciphers, out)
        for c in ciphers:
            self.assertRegex(c, r"^(TLS_AES|TLS_CHACHA20|ECDHE-.*(GCM|CHACHA20))", c)

    def test_starttls_listener(self):
        self.check(self.out25)

    def test_implicit_listener(self):
        self.check(self.out465)


if __name__ == "__main__":
    unittest.main()

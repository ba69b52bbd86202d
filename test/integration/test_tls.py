"""[tls] policy through the real binary, checked with Python's ssl module and
openssl s_client: versions, ciphers, groups, resumption (cache, tickets,
shared ticket keys), SNI certificates, ECDSA + RSA side by side, ALPN and
client certificates."""
import datetime
import re
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import Client, Proxy, ScriptedBackend, client_context, make_cert


def der(certfile):
    with open(certfile) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def implicit_conn(port, ctx=None, server_hostname=None, session=None):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = (ctx or client_context()).wrap_socket(raw, server_hostname=server_hostname, session=session)
    return s


def smtp_over(s):
    """Read the greeting and QUIT over an implicit-TLS socket; returns the greeting."""
    f = s.makefile("rb")
    greeting = f.readline()
    s.sendall(b"QUIT\r\n")
    f.readline()
    return greeting


def s_client(port, *args):
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, *args],
                       input=b"QUIT\r\n", capture_output=True, timeout=20)
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


class TLSTest(unittest.TestCase):
    def proxy(self, extra_tls="", config=None):
        backend = ScriptedBackend()
        self.addCleanup(backend.close)
        p = Proxy(backend.port, tls="implicit", extra_tls=extra_tls, config=config)
        self.addCleanup(p.__exit__, None, None, None)
        return p

    def test_tls12_and_13_by_default(self):
        p = self.proxy()
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = client_context()
            ctx.minimum_version = ctx.maximum_version = version
            s = implicit_conn(p.port, ctx)
            self.assertEqual(s.version(), {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version])
            self.assertTrue(smtp_over(s).startswith(b"220"))

    def test_tls11_refused(self):
        p = self.proxy()
        rc, out = s_client(p.port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
        self.assertNotEqual(rc, 0, out)

    def test_min_version_13(self):
        p = self.proxy("min_version = 1.3")
        ctx = client_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            implicit_conn(p.port, ctx)
        self.assertEqual(implicit_conn(p.port).version(), "TLSv1.3")

    def test_ciphers(self):
        p = self.proxy("ciphers = ECDHE-ECDSA-CHACHA20-POLY1305")
        ctx = client_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        s = implicit_conn(p.port, ctx)
        self.assertEqual(s.cipher()[0], "ECDHE-ECDSA-CHACHA20-POLY1305")

    def test_groups(self):
        p = self.proxy("groups = P-384")
        rc, out = s_client(p.port, "-groups", "X25519:P-256:P-384")
        self.assertIn("Server Temp Key: ECDH, secp384r1", out)
        rc, out = s_client(p.port, "-groups", "X25519")
        self.assertNotEqual(rc, 0)

    def resume_twice(self, port, ctx):
        s = implicit_conn(port, ctx)
        smtp_over(s)  # reading after the handshake collects the TLS 1.3 ticket
        sess = s.session
        s.close()
        s2 = implicit_conn(port, ctx, session=sess)
        smtp_over(s2)
        return s2.session_reused

    def test_resumption_tls13_tickets(self):
        p = self.proxy()
        self.assertTrue(self.resume_twice(p.port, client_context()))
        p.wait_log("resumed=yes")

    def test_resumption_tls12_session_cache_without_tickets(self):
        p = self.proxy("session_tickets = no")
        ctx = client_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.options |= ssl.OP_NO_TICKET
        self.assertTrue(self.resume_twice(p.port, ctx))

    def test_no_resumption_without_tickets_or_cache(self):
        p = self.proxy("session_tickets = no\nsession_cache_size = 0")
        self.assertFalse(self.resume_twice(p.port, client_context()))

    def test_shared_ticket_keys_across_instances(self):
        keyfile = os.path.join(tempfile.mkdtemp(), "tickets.key")
        with open(keyfile, "wb") as f:
            f.write(os.urandom(96))  # two keys: the first seals, both open
        a = self.proxy("ticket_key_file = " + keyfile)
        b = self.proxy("ticket_key_file = " + keyfile)
        ctx = client_context()
        s = implicit_conn(a.port, ctx)
        smtp_over(s)
        sess = s.session
        s2 = implicit_conn(b.port, ctx, session=sess)
        smtp_over(s2)
        self.assertTrue(s2.session_reused)
        c = self.proxy()  # its own random keys: cannot open the ticket
        s3 = implicit_conn(c.port, ctx, session=sess)
        smtp_over(s3)
        self.assertFalse(s3.session_reused)

    def test_bad_ticket_key_file(self):
        keyfile = os.path.join(tempfile.mkdtemp(), "tickets.key")
        with open(keyfile, "wb") as f:
            f.write(os.urandom(40))
        cert, key = make_cert()
        cfg = os.path.join(tempfile.mkdtemp(), "s.ini")
        with open(cfg, "w") as f:
            f.write("[tls]\ncertificate = %s\nkey = %s\nticket_key_file = %s\n"
                    "[listener a]\nlisten = 127.0.0.1:1\nbackend = 127.0.0.1:2\n" % (cert, key, keyfile))
        import harness
        p = subprocess.run([harness.BIN, "-t", "-c", cfg], capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn(("%s:4: ticket_key_file" % cfg).encode(), p.stderr)

    def test_sni_selects_certificate(self):
        other_cert, other_key = make_cert(cn="other.example.test")
        wild_cert, wild_key = make_cert(cn="wild.example.net")
        p = self.proxy("\n[tls other]\ncertificate = %s\nkey = %s\nserver_names = other.example.test alias.example.test\n"
                       "[tls wild]\ncertificate = %s\nkey = %s\nserver_names = *.example.net\n"
                       % (other_cert, other_key, wild_cert, wild_key))
        default_cert, _ = make_cert()
        cases = [(None, default_cert), ("other.example.test", other_cert), ("ALIAS.example.test", other_cert),
                 ("x.example.net", wild_cert), ("example.net", default_cert), ("nomatch.test", default_cert)]
        for name, expect in cases:
            s = implicit_conn(p.port, server_hostname=name)
            self.assertEqual(s.getpeercert(binary_form=True), der(expect), name)
            s.close()
        p.wait_log("sni=other.example.test")
        # The log names the section whose certificate served each handshake, and its key type.
        p.wait_log('sni=other.example.test resumed=no certificate="tls other" key_type=ecdsa')
        p.wait_log('sni=x.example.net resumed=no certificate="tls wild" key_type=ecdsa')
        p.wait_log("sni=nomatch.test resumed=no certificate=tls key_type=ecdsa")

    def test_ecdsa_and_rsa_side_by_side(self):
        ec_cert, ec_key = make_cert("ec")
        rsa_cert, rsa_key = make_cert("rsa")
        import harness
        backend = ScriptedBackend()
        self.addCleanup(backend.close)
        config = ("[global]\nallow_root = yes\nlog_level = debug\n[tls]\ncertificate = %s %s\nkey = %s %s\n"
                  "[listener t]\nlisten = 127.0.0.1:%d\nbackend = 127.0.0.1:%d\ntls = implicit\n"
                  % (ec_cert, rsa_cert, ec_key, rsa_key, harness.free_port(), backend.port))
        p = Proxy(config=config)
        self.addCleanup(p.__exit__, None, None, None)
        port = int(config.split("listen = 127.0.0.1:")[1].split()[0])
        rc, out = s_client(port, "-sigalgs", "ECDSA+SHA256:RSA-PSS+SHA256")
        self.assertIn("Server public key is 256 bit", out)
        rc, out = s_client(port, "-sigalgs", "RSA-PSS+SHA256:RSA+SHA256")
        self.assertIn("Server public key is 2048 bit", out)
        rc, out = s_client(port, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256", "-sigalgs", "RSA+SHA256")
        self.assertIn("Server public key is 2048 bit", out)
        p.wait_log("certificate=tls key_type=ecdsa")
        p.wait_log("certificate=tls key_type=rsa")

    def test_alpn_only_smtp(self):
        p = self.proxy()
        ctx = client_context()
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            smtp_over(implicit_conn(p.port, ctx))
        ctx = client_context()
        ctx.set_alpn_protocols(["smtp"])
        s = implicit_conn(p.port, ctx)
        self.assertEqual(s.selected_alpn_protocol(), "smtp")
        self.assertTrue(smtp_over(s).startswith(b"220"))


class ClientCertTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        d = cls.dir = tempfile.mkdtemp(prefix="starttlsd-ca-")

        def run(*a):
            subprocess.run(a, check=True, capture_output=True, cwd=d)
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=Test Client CA")
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=relay.example.test")
        run("openssl", "x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "client.pem", "-days", "30")

    def proxy(self, mode, extra=""):
        backend = ScriptedBackend()
        self.addCleanup(backend.close)
        p = Proxy(backend.port, tls="implicit",
                  extra_tls="verify_client = %s\nca_file = %s/ca.pem\n%s" % (mode, self.dir, extra))
        self.addCleanup(p.__exit__, None, None, None)
        return p

    def ctx(self, with_cert):
        ctx = client_context()
        if with_cert:
            ctx.load_cert_chain(self.dir + "/client.pem", self.dir + "/client.key")
        return ctx

    def test_require(self):
        p = self.proxy("require")
        try:
            greeting = smtp_over(implicit_conn(p.port, self.ctx(False)))
        except (ssl.SSLError, ConnectionError):
            greeting = b""
        # TLS 1.3: the client finishes before the server checks its certificate; the server's
        # alert may then be lost to the reset of its close, but a greeting must never come.
        self.assertEqual(greeting, b"")
        self.assertTrue(smtp_over(implicit_conn(p.port, self.ctx(True))).startswith(b"220"))
        p.wait_log("client_cert_verified=yes")
        self.assertIn('client_cert="/CN=relay.example.test"', p.log())
        self.assertRegex(p.log(), "client_cert_sha256=[0-9a-f]{64}")

    def test_optional(self):
        p = self.proxy("optional")
        self.assertTrue(smtp_over(implicit_conn(p.port, self.ctx(False))).startswith(b"220"))
        self.assertTrue(smtp_over(implicit_conn(p.port, self.ctx(True))).startswith(b"220"))
        p.wait_log("client_cert_verified=yes")

    # --- a resumed session never gets around verify_client = require ---

    VERSIONS = {
        "tls1.3 ticket": (ssl.TLSVersion.TLSv1_3, False),
        "tls1.2 ticket": (ssl.TLSVersion.TLSv1_2, False),
        "tls1.2 session id": (ssl.TLSVersion.TLSv1_2, True),
    }

    def version_ctx(self, version, no_ticket, with_cert=False):
        ctx = self.ctx(with_cert)
        ctx.minimum_version = ctx.maximum_version = version
        if no_ticket:
            ctx.options |= ssl.OP_NO_TICKET
        return ctx

    def first_session(self, port, ctx):
        s = implicit_conn(port, ctx)
        self.assertTrue(smtp_over(s).startswith(b"220"))  # reading collects a TLS 1.3 ticket
        self.assertIsNotNone(s.session)
        return s.session

    def assert_no_smtp_without_cert(self, port, ctx, sess, what):
        """Offering sess without a certificate must not give an SMTP session,
        and must not even resume (the policy is part of the session context)."""
        try:
            s = implicit_conn(port, ctx, session=sess)
            reused = s.session_reused
            s.settimeout(10)
            greeting = s.recv(100)
        except (ssl.SSLError, ConnectionError):
            return
        self.assertFalse(reused, "%s: resumed a session issued under a weaker policy" % what)
        self.assertFalse(greeting.startswith(b"220"), "%s: %r" % (what, greeting))

    def test_resumption_after_reload_to_require_needs_a_certificate(self):
        keyfile = os.path.join(tempfile.mkdtemp(), "tickets.key")
        with open(keyfile, "wb") as f:
            f.write(os.urandom(48))  # tickets outlive the reload (a cache of session IDs does not)
        for what, (version, no_ticket) in self.VERSIONS.items():
            p = self.proxy("optional", "ticket_key_file = " + keyfile)
            ctx = self.version_ctx(version, no_ticket)
            sess = self.first_session(p.port, ctx)
            self.assertTrue(implicit_conn(p.port, ctx, session=sess).session_reused, what)  # resumable as it was
            with open(p.config_path) as f:
                text = f.read()
            with open(p.config_path, "w") as f:
                f.write(text.replace("verify_client = optional", "verify_client = require"))
            p.proc.send_signal(signal.SIGHUP)
            p.wait_log("event=reloaded")
            self.assert_no_smtp_without_cert(p.port, ctx, sess, what)

    def test_resumption_across_instances_with_shared_ticket_keys_needs_a_certificate(self):
        keyfile = os.path.join(tempfile.mkdtemp(), "tickets.key")
        with open(keyfile, "wb") as f:
            f.write(os.urandom(48))
        for what, (version, no_ticket) in self.VERSIONS.items():
            if no_ticket:
                continue  # session IDs live in each process's own cache
            backend = ScriptedBackend()
            self.addCleanup(backend.close)
            lax, strict = (Proxy(backend.port, tls="implicit", extra_tls="verify_client = %s\nca_file = %s/ca.pem\n"
                                 "ticket_key_file = %s" % (mode, self.dir, keyfile)) for mode in ("optional", "require"))
            for p in (lax, strict):
                self.addCleanup(p.__exit__, None, None, None)
            ctx = self.version_ctx(version, no_ticket)
            sess = self.first_session(lax.port, ctx)
            self.assert_no_smtp_without_cert(strict.port, ctx, sess, what)

    def short_lived_cert(self, seconds):
        """A client certificate from the test CA that expires in a few seconds: (cert, key, expiry)."""
        d = tempfile.mkdtemp(dir=self.dir)

        def run(*a):
            subprocess.run(a, check=True, capture_output=True, cwd=d)
        with open(os.path.join(d, "ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n"
                    "default_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n")
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("1000\n")
        now = datetime.datetime.now(datetime.timezone.utc)
        expiry = now + datetime.timedelta(seconds=seconds)
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "short.key", "-out", "short.csr", "-subj", "/CN=short.example.test")
        run("openssl", "ca", "-batch", "-config", "ca.cnf", "-cert", self.dir + "/ca.pem", "-keyfile",
            self.dir + "/ca.key", "-in", "short.csr", "-out", "short.pem", "-notext",
            "-startdate", (now - datetime.timedelta(minutes=5)).strftime("%Y%m%d%H%M%SZ"),
            "-enddate", expiry.strftime("%Y%m%d%H%M%SZ"))
        return d + "/short.pem", d + "/short.key", expiry.timestamp()

    def test_resumed_session_with_a_certificate_expired_since_is_refused(self):
        p = self.proxy("require")
        for what, (version, no_ticket) in self.VERSIONS.items():
            cert, key, expiry = self.short_lived_cert(4)
            ctx = self.version_ctx(version, no_ticket)
            ctx.load_cert_chain(cert, key)
            sess = self.first_session(p.port, ctx)
            while time.time() < expiry + 1.5:  # the clock, not a guess: wait past the expiry
                time.sleep(0.1)
            try:
                s = implicit_conn(p.port, ctx, session=sess)
                s.settimeout(10)
                greeting = s.recv(100)
            except (ssl.SSLError, ConnectionError):
                greeting = b""
            self.assertFalse(greeting.startswith(b"220"), "%s: %r" % (what, greeting))
        p.wait_log("reason=client_certificate_not_valid_now")


class ClientCertLogTest(unittest.TestCase):
    """Values from a peer reach the log quoted, so they cannot forge keys."""

    def self_signed(self, subject):
        d = tempfile.mkdtemp(prefix="starttlsd-cert-")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", "k.pem", "-out", "c.pem", "-days", "3", "-subj", subject],
                       cwd=d, check=True, capture_output=True)
        return d + "/c.pem", d + "/k.pem"

    def test_untrusted_certificate_is_accepted_and_logged_unverified(self):
        ca, _ = self.self_signed("/CN=CA")
        cert, key = self.self_signed("/CN=self.example")
        with ScriptedBackend() as backend, Proxy(backend.port, tls="implicit",
                                                 extra_tls="verify_client = optional\nca_file = %s" % ca) as p:
            ctx = client_context()
            ctx.load_cert_chain(cert, key)
            self.assertTrue(smtp_over(implicit_conn(p.port, ctx)).startswith(b"220"))
            p.wait_log("client_cert_verified=no")
            self.assertIn('client_cert="/CN=self.example"', p.log())

    def test_subject_cannot_inject_log_keys(self):
        ca, _ = self.self_signed("/CN=CA")
        cert, key = self.self_signed('/CN=x" client_cert_verified=yes reason=\\ok')
        with ScriptedBackend() as backend, Proxy(backend.port, tls="implicit",
                                                 extra_tls="verify_client = optional\nca_file = %s" % ca) as p:
            ctx = client_context()
            ctx.load_cert_chain(cert, key)
            self.assertTrue(smtp_over(implicit_conn(p.port, ctx)).startswith(b"220"))
            p.wait_log("event=tls ")
            line = [l for l in p.log().splitlines() if "event=tls " in l][0]
            # Parse the line as a log reader would: key=value, values bare or "quoted" with \ escapes.
            pairs = re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', line)
            keys = [k for k, _ in pairs]
            self.assertEqual(keys.count("client_cert_verified"), 1, line)
            self.assertEqual(dict(pairs)["client_cert_verified"], "no", line)
            self.assertNotIn("reason", keys, line)


if __name__ == "__main__":
    unittest.main()

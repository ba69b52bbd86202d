"""Outbound mode: a legacy sender (a printer, a scanner, an old MTA) that
speaks only plaintext SMTP gets TLS toward its smarthost. A tls = none
listener is open only to the addresses in allow; toward the upstream
starttlsd says EHLO, STARTTLS (or implicit TLS from the first byte),
verifies the certificate (backend_ca_file, the name from
backend_server_name or the backend's host name), says EHLO again and
authenticates with AUTH PLAIN for the sender (backend_auth) before the
sender sees the upstream's greeting. Any failure is a 421 4.7.0 to the
sender, never a plaintext fallback; the protections of the inbound path
(bare LF, long lines) hold on the way out too.

Upstreams: a real Postfix that refuses mail without TLS
(smtpd_tls_security_level = encrypt), and aiosmtpd (Debian's
python3-aiosmtpd) with STARTTLS, AUTH or implicit TLS, run as a subprocess
by whichever interpreter can import it (UPSTREAM_SCRIPT below); without one
those tests are skipped. Certificates come from test CAs made here with
openssl: one that starttlsd is told to trust, one nobody trusts."""
import base64
import json
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

from harness import BIN, DEFAULT_WORKERS, Client, Proxy, free_port, wait_for
from test_names import hosts_env
from test_postfix import Postfix, body_of, have_postfix

RELAY = "relay.example.test"            # the name the upstream's certificate must carry
USER, PASSWORD = "printer-7", "s3cret:pa55 word"   # a colon and a space in the password: split at the first colon


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


class TestCA:
    """A CA of our own (P-256) and the server certificates it signs."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix="starttlsd-ca-")
        self.cert, self.key = os.path.join(self.dir, "ca.pem"), os.path.join(self.dir, "ca.key")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", self.key, "-out", self.cert, "-days", "30", "-subj", "/CN=" + name,
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self.issued = {}

    def issue(self, cn):
        """(certfile, keyfile) of a server certificate for the DNS name cn."""
        if cn not in self.issued:
            base = os.path.join(self.dir, cn)
            with open(base + ".ext", "w") as f:
                f.write("subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" % cn)
            _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", base + ".key", "-out", base + ".csr", "-subj", "/CN=" + cn)
            _openssl("x509", "-req", "-in", base + ".csr", "-CA", self.cert, "-CAkey", self.key,
                     "-set_serial", "0x" + os.urandom(8).hex(), "-days", "30", "-extfile", base + ".ext",
                     "-out", base + ".pem")
            self.issued[cn] = (base + ".pem", base + ".key")
        return self.issued[cn]


_cas = {}


def ca(which="trusted"):
    """The CA starttlsd trusts (backend_ca_file) or one it has never heard of ("unknown")."""
    if which not in _cas:
        _cas[which] = TestCA("starttlsd test %s CA" % which)
    return _cas[which]


def tearDownModule():
    for c in _cas.values():
        shutil.rmtree(c.dir, ignore_errors=True)


# --- an aiosmtpd upstream, in a process of its own ---

UPSTREAM_SCRIPT = r'''
"""An aiosmtpd upstream for test_outbound.py. argv[1]: JSON {port, mode
(plain | starttls | implicit), name, cert, key, user, password}. Reports
what it sees as JSON lines on stdout: ready, connect, tls (a STARTTLS
handshake completed), data (every plaintext byte received, base64),
command, auth, message, closed. Stops when stdin is closed."""
import base64
import json
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

spec = json.loads(sys.argv[1])
lock = threading.Lock()
live = False    # connections before "ready" are the controller's own start-up probe


def emit(**event):
    with lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def tls_of(transport):
    obj = transport.get_extra_info("ssl_object") if transport is not None else None
    return obj.version() if obj is not None else None


class Recorder(SMTP):
    line_length_limit = 1 << 20     # long lines are taken here: only starttlsd can refuse them
    serial = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if live:    # the controller's start-up probe is not numbered: the first sender's connection is 1
            Recorder.serial += 1
        self.conn, self.report = Recorder.serial, live

    def connection_made(self, transport):
        upgraded = self.transport is not None   # called again once a STARTTLS handshake is done
        super().connection_made(transport)
        if self.report:
            emit(event="tls" if upgraded else "connect", conn=self.conn, tls=tls_of(self.transport))

    def data_received(self, data):
        if self.report:
            emit(event="data", conn=self.conn, data=base64.b64encode(data).decode())
        super().data_received(data)

    def connection_lost(self, error):
        if self.report:
            emit(event="closed", conn=self.conn, error=repr(error) if error else None)
        super().connection_lost(error)


def recorded(verb):
    async def command(self, arg):
        if self.report:
            emit(event="command", conn=self.conn, verb=verb, tls=tls_of(self.transport))
        await getattr(SMTP, "smtp_" + verb)(self, arg)
    return command


for _verb in ("EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT"):
    setattr(Recorder, "smtp_" + _verb, recorded(_verb))


class Handler:
    async def handle_DATA(self, server, session, envelope):
        emit(event="message", conn=server.conn, mail_from=envelope.mail_from, rcpt_tos=envelope.rcpt_tos,
             content=base64.b64encode(envelope.original_content).decode(),
             user=session.auth_data if session.authenticated else None, tls=tls_of(server.transport))
        return "250 2.0.0 Ok: queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    user, password = auth_data.login.decode(), auth_data.password.decode()
    ok = (user, password) == (spec["user"], spec["password"])
    emit(event="auth", conn=server.conn, mechanism=mechanism, user=user, ok=ok, tls=tls_of(server.transport))
    return AuthResult(success=ok, handled=False, auth_data=user if ok else None)


class RecordingController(Controller):
    def factory(self):
        return Recorder(self.handler, **self.SMTP_kwargs)


def server_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(spec["cert"], spec["key"])
    return ctx


kwargs = {}
if spec["mode"] == "starttls":
    kwargs.update(tls_context=server_context(), require_starttls=True)
if spec.get("user"):
    # AUTH only over TLS (aiosmtpd counts only STARTTLS as TLS), and no mail without it.
    kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=spec["mode"] == "starttls")
controller = RecordingController(Handler(), hostname="127.0.0.1", port=spec["port"], server_hostname=spec["name"],
                                 ssl_context=server_context() if spec["mode"] == "implicit" else None,
                                 ready_timeout=30, **kwargs)
controller.start()
live = True
emit(event="ready")
sys.stdin.read()
controller.stop()
'''


def _find_aiosmtpd_python():
    for exe in (sys.executable, "/usr/bin/python3"):
        if exe and os.path.exists(exe) and subprocess.run(
                [exe, "-c", "import aiosmtpd.controller, aiosmtpd.smtp"], capture_output=True,
                timeout=60).returncode == 0:
            return exe
    return None


AIOSMTPD_PYTHON = _find_aiosmtpd_python()
need_aiosmtpd = unittest.skipUnless(AIOSMTPD_PYTHON, "no python with aiosmtpd (tools/install-deps installs "
                                                     "python3-aiosmtpd)")
_script_path = []


class Upstream:
    """An aiosmtpd upstream (UPSTREAM_SCRIPT) on a loopback port and what it reports."""

    def __init__(self, mode="starttls", cert=None, auth=False):
        if not _script_path:
            d = tempfile.mkdtemp(prefix="starttlsd-upstream-")
            _script_path.append(os.path.join(d, "upstream.py"))
            with open(_script_path[0], "w") as f:
                f.write(UPSTREAM_SCRIPT)
        self.port = free_port()
        spec = dict(port=self.port, mode=mode, name=RELAY)
        if mode != "plain":
            spec["cert"], spec["key"] = cert or ca().issue(RELAY)
        if auth:
            spec.update(user=USER, password=PASSWORD)
        self.events = []
        self.errf = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([AIOSMTPD_PYTHON, _script_path[0], json.dumps(spec)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.errf)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        try:
            wait_for(lambda: self.of("ready") or self.proc.poll() is not None, timeout=60, what="aiosmtpd ready")
            if not self.of("ready"):
                raise RuntimeError("aiosmtpd upstream exited %s:\n%s" % (self.proc.returncode, self.stderr()))
        except BaseException:
            self.close()
            raise

    def _read(self):
        for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def stderr(self):
        self.errf.seek(0)
        return self.errf.read().decode(errors="replace")

    def of(self, kind, conn=None):
        return [e for e in list(self.events) if e["event"] == kind and (conn is None or e["conn"] == conn)]

    def received(self, conn):
        """Every plaintext byte one connection brought (decrypted once TLS is up)."""
        return b"".join(base64.b64decode(e["data"]) for e in self.of("data", conn))

    def verbs(self, conn):
        return [e["verb"] for e in self.of("command", conn)]

    def wait(self, kind, n=1, conn=None):
        """The events of a kind, once there are n of them."""
        return wait_for(lambda: len(self.of(kind, conn)) >= n and self.of(kind, conn), timeout=30,
                        what=lambda: "%d %s event(s) from the upstream: %s\n%s" % (n, kind, self.events,
                                                                                    self.stderr()))

    def messages(self, n=1):
        return [dict(e, content=base64.b64decode(e["content"])) for e in self.wait("message", n)]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()         # the script stops its controller and exits
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        self.proc.stdout.close()
        self.errf.close()


# --- starttlsd with an outbound listener ---

def outbound_config(port, backend, keys=(), tls="none", allow="127.0.0.1"):
    """A whole file (no [tls] section: a tls = none listener needs none) and the line of its [listener]."""
    lines = ["[global]", "workers = %d" % DEFAULT_WORKERS, "log_level = debug", "shutdown_timeout = 2s",
             "allow_root = yes", "", "[listener printers]", "listen = 127.0.0.1:%d" % port, "tls = %s" % tls]
    if allow is not None:
        lines.append("allow = %s" % allow)
    lines += ["hostname = gateway.example.test", "backend = %s" % backend, *keys]
    return "\n".join(lines) + "\n", lines.index("[listener printers]") + 1


def verified(name=RELAY, mode="starttls"):
    """The keys of a verified TLS upstream, its certificate from our CA."""
    keys = ["backend_tls = %s" % mode, "backend_ca_file = %s" % ca().cert]
    return keys + (["backend_server_name = %s" % name] if name else [])


def secret_file(text):
    d = tempfile.mkdtemp(prefix="starttlsd-secret-")
    path = os.path.join(d, "relay.secret")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return path


def dash_t(text):
    """starttlsd -t on a file with this text: (exit code, stdout + stderr, path)."""
    d = tempfile.mkdtemp(prefix="starttlsd-outbound-")
    path = os.path.join(d, "starttlsd.ini")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([BIN, "-t", "-c", path], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr, path


def refused_421(test, proxy, reason, detail=None, tls_up=False):
    """A sender arrives: it gets 421 4.7.0 as its greeting and is closed; the log says why
    (and, unless tls_up, that TLS to the upstream never came up)."""
    c = Client(proxy.port)
    test.addCleanup(c.close)
    code, raw = c.reply()
    test.assertEqual(code, 421, raw)
    test.assertIn(b"4.7.0", raw)
    test.assertTrue(c.closed(), "the sender was not closed after the 421")
    proxy.wait_log("reason=%s" % reason)
    line = [l for l in proxy.log().splitlines() if "event=upstream_error" in l]
    test.assertTrue(line, proxy.log())
    test.assertIn("reason=%s" % reason, line[0])
    if detail is not None:
        test.assertRegex(line[0], detail)
    test.assertEqual("event=upstream_tls " in proxy.log(), tls_up, proxy.log())
    return line[0]


class OutboundCase(unittest.TestCase):
    def start_proxy(self, backend, keys=(), env=None):
        port = free_port()
        text, _ = outbound_config(port, backend, keys)
        proxy = Proxy(config=text, env=env)
        proxy.port = port           # the listener of our own file, not the one Proxy picked for its default
        self.addCleanup(proxy.__exit__, None, None, None)
        return proxy

    def start_upstream(self, mode="starttls", cert=None, auth=False):
        up = Upstream(mode, cert, auth)
        self.addCleanup(up.close)
        return up

    def assert_no_mail(self, up, conn=1):
        """The upstream's connection is over and it never got a MAIL (nor anything after it)."""
        up.wait("closed", conn=conn)
        self.assertNotIn(b"MAIL", up.received(conn).upper())
        self.assertNotIn("MAIL", up.verbs(conn))
        self.assertEqual(up.of("message"), [])


# --- 1. a real Postfix that takes mail only over TLS ---

@unittest.skipUnless(have_postfix(), "postfix is not installed (tools/install-deps installs it)")
class PostfixUpstreamTest(OutboundCase):
    """smtplib in plaintext -> starttlsd -> Postfix with smtpd_tls_security_level = encrypt."""

    @classmethod
    def setUpClass(cls):
        cert, key = ca().issue(RELAY)
        cls.postfix = Postfix("smtpd_tls_security_level = encrypt", "smtpd_tls_cert_file = " + cert,
                              "smtpd_tls_key_file = " + key, "smtpd_tls_loglevel = 1")
        try:
            conf = os.path.join(cls.postfix.dir, "conf")
            subprocess.run(["postconf", "-c", conf, "-M", "tlsmgr/unix=tlsmgr unix - - n 1000? 1 tlsmgr"],
                           check=True, capture_output=True, timeout=60)
            subprocess.run(["postfix", "-c", conf, "reload"], check=True, capture_output=True, timeout=60)
            wait_for(lambda: "reload -- version" in cls.postfix.maillog(), timeout=30,
                     what=lambda: "Postfix's reload\n" + cls.postfix.maillog())
        except BaseException:
            cls.postfix.stop()
            raise
        cls.sent = 0

    @classmethod
    def tearDownClass(cls):
        cls.postfix.stop()

    def tls_sessions(self):
        """Postfix's sessions that switched to TLS and delivered one message."""
        return re.findall(r"disconnect from localhost\[127\.0\.0\.1\] ehlo=\d+ starttls=1 mail=1 rcpt=1 data=1 "
                          r"quit=1", self.postfix.maillog())

    def send_through(self, proxy, body):
        before = len(self.tls_sessions())
        with smtplib.SMTP(timeout=60) as s:
            code, greeting = s.connect("127.0.0.1", proxy.port)
            self.assertEqual(code, 220)
            self.assertIn(b"backend.example.test ESMTP Postfix", greeting)    # the upstream's own greeting
            s.ehlo("printer.example")
            self.assertTrue(s.has_extn("size"))         # the upstream's capabilities...
            self.assertFalse(s.has_extn("starttls"))    # ...without STARTTLS: nothing to offer in plaintext
            self.assertEqual(s.sendmail("scanner@example.org", ["user@example.test"], body), {})
        type(self).sent += 1
        got = self.postfix.messages(self.sent)[-1]
        self.assertEqual(body_of(got), body.replace(b"\r\n", b"\n"))
        self.assertIn(b"Received: from printer.example (localhost [127.0.0.1])\n\tby backend.example.test "
                      b"(Postfix) with ESMTPS id", got)
        wait_for(lambda: len(self.tls_sessions()) > before, timeout=30,
                 what=lambda: "Postfix's TLS session summary\n" + self.postfix.maillog())
        self.assertRegex(self.postfix.maillog(), r"TLS connection established from localhost\[127\.0\.0\.1\]: "
                                                 r"TLSv1\.[23] with cipher")
        proxy.wait_log("event=message")
        return got

    def test_postfix_refuses_plaintext(self):
        """The premise: without TLS this Postfix takes no mail."""
        with smtplib.SMTP("127.0.0.1", self.postfix.port, timeout=60) as s:
            s.ehlo("printer.example")
            self.assertTrue(s.has_extn("starttls"))
            code, msg = s.mail("scanner@example.org")
            self.assertEqual(code, 530, msg)

    def test_plaintext_sender_delivers_over_verified_tls(self):
        proxy = self.start_proxy("127.0.0.1:%d" % self.postfix.port, verified())
        body = (b"From: scanner@example.org\r\nTo: user@example.test\r\nSubject: scan to mail\r\n\r\n"
                b"first line\r\n.leading dot\r\n..two dots\r\n.\t\r\nUTF-8: \xc3\xa9t\xc3\xa9\r\n"
                + b"x" * 998 + b"\r\nlast line\r\n")
        self.send_through(proxy, body)
        self.assertRegex(proxy.log(), r"event=upstream_tls sid=\w+ backend=127\.0\.0\.1:%d version=TLSv1\.[23] "
                                      r"cipher=\S+ verified=yes name=relay\.example\.test" % self.postfix.port)
        self.assertIn("from=<scanner@example.org> rcpts=1", proxy.log())

    def test_backend_by_name_is_the_name_verified(self):
        """backend = relay.example.test:PORT (resolved by the fake_hosts shim), no backend_server_name:
        the host name is the SNI and the name verified."""
        proxy = self.start_proxy("%s:%d" % (RELAY, self.postfix.port), verified(name=None),
                                 env=hosts_env("%s=127.0.0.1" % RELAY))
        self.send_through(proxy, b"Subject: by name\r\n\r\nhello\r\n")
        self.assertRegex(proxy.log(), r"event=upstream_tls sid=\w+ backend=relay\.example\.test:%d "
                                      r"version=TLSv1\.[23] cipher=\S+ verified=yes name=relay\.example\.test"
                         % self.postfix.port)


# --- 2. aiosmtpd: AUTH for the sender, implicit TLS ---

@need_aiosmtpd
class AuthTest(OutboundCase):
    def test_auth_plain_on_the_senders_behalf(self):
        up = self.start_upstream(auth=True)
        proxy = self.start_proxy("127.0.0.1:%d" % up.port,
                                 verified() + ["backend_auth = %s" % secret_file("%s:%s" % (USER, PASSWORD))])
        body = b"From: printer@example.org\r\nSubject: toner low\r\n\r\nplease order toner\r\n"
        with smtplib.SMTP(timeout=60) as s:
            code, greeting = s.connect("127.0.0.1", proxy.port)
            self.assertEqual((code, greeting.split()[0]), (220, RELAY.encode()))
            s.ehlo("printer.example")
            self.assertTrue(s.has_extn("size"))
            self.assertFalse(s.has_extn("auth"), s.esmtp_features)
            self.assertFalse(s.has_extn("starttls"), s.esmtp_features)
            blob = base64.b64encode(b"\0mallory\0guess").decode()
            self.assertEqual(s.docmd("AUTH", "PLAIN " + blob)[0], 503)
            self.assertEqual(s.sendmail("printer@example.org", ["office@example.net"], body), {})
        msg = up.messages()[0]
        self.assertEqual(msg["content"], body)
        self.assertEqual((msg["mail_from"], msg["rcpt_tos"], msg["user"]),
                         ("printer@example.org", ["office@example.net"], USER))
        self.assertIn(msg["tls"], ("TLSv1.2", "TLSv1.3"))
        auth = up.of("auth")
        self.assertEqual([(a["user"], a["ok"], a["mechanism"]) for a in auth], [(USER, True, "PLAIN")])
        self.assertIsNotNone(auth[0]["tls"])
        # The preamble: EHLO, STARTTLS, EHLO, AUTH; then the sender's session; its own AUTH never arrived.
        self.assertEqual(up.verbs(1)[:5], ["EHLO", "STARTTLS", "EHLO", "AUTH", "EHLO"])
        self.assertEqual(up.verbs(1).count("AUTH"), 1)
        self.assertNotIn(blob.encode(), up.received(1))
        tls = [c["tls"] is not None for c in up.of("command", 1)]
        self.assertEqual(tls, [False, False] + [True] * (len(tls) - 2))
        proxy.wait_log("event=upstream_tls")
        self.assertRegex(proxy.log(), r"event=upstream_tls .* verified=yes name=relay\.example\.test")
        self.assertNotIn(PASSWORD, proxy.log())

    def test_wrong_password_is_421(self):
        up = self.start_upstream(auth=True)
        proxy = self.start_proxy("127.0.0.1:%d" % up.port,
                                 verified() + ["backend_auth = %s" % secret_file(USER + ":not-the-password")])
        refused_421(self, proxy, "upstream_auth_failed", r"step=auth .*code=535", tls_up=True)
        self.assertEqual([(a["user"], a["ok"]) for a in up.wait("auth")], [(USER, False)])
        self.assert_no_mail(up)

    def test_implicit_tls_upstream(self):
        up = self.start_upstream(mode="implicit", auth=True)
        proxy = self.start_proxy("127.0.0.1:%d" % up.port, verified(mode="implicit") +
                                 ["backend_auth = %s" % secret_file("%s:%s" % (USER, PASSWORD))])
        body = b"Subject: implicit\r\n\r\nTLS from the first byte\r\n"
        with smtplib.SMTP("127.0.0.1", proxy.port, timeout=60) as s:
            s.ehlo("printer.example")
            self.assertFalse(s.has_extn("auth"))
            self.assertEqual(s.sendmail("printer@example.org", ["office@example.net"], body), {})
        msg = up.messages()[0]
        self.assertEqual((msg["content"], msg["user"]), (body, USER))
        self.assertIn(msg["tls"], ("TLSv1.2", "TLSv1.3"))
        # TLS before the greeting: every command came over it, and none was STARTTLS.
        self.assertEqual(up.of("connect", 1)[0]["tls"], msg["tls"])
        self.assertEqual(up.verbs(1)[:3], ["EHLO", "AUTH", "EHLO"])
        self.assertNotIn("STARTTLS", up.verbs(1))
        self.assertTrue(all(c["tls"] for c in up.of("command", 1)))
        self.assertRegex(proxy.log(), r"event=upstream_tls .* verified=yes name=relay\.example\.test")


# --- 3. the upstream's certificate is verified ---

@need_aiosmtpd
class VerificationTest(OutboundCase):
    def test_wrong_name_is_refused(self):
        up = self.start_upstream(cert=ca().issue("other.example.test"))
        proxy = self.start_proxy("127.0.0.1:%d" % up.port, verified())
        refused_421(self, proxy, "upstream_tls_failed", r"step=handshake .*reply=\"?[Hh]ostname mismatch")
        self.assert_no_mail(up)     # first: it waits until the upstream reported the connection's end
        self.assertEqual(up.verbs(1)[:2], ["EHLO", "STARTTLS"])

    def test_unknown_ca_is_refused(self):
        up = self.start_upstream(cert=ca("unknown").issue(RELAY))
        proxy = self.start_proxy("127.0.0.1:%d" % up.port, verified())
        refused_421(self, proxy, "upstream_tls_failed", r"step=handshake .*reply=\"unable to get local issuer")
        self.assert_no_mail(up)

    @unittest.skipUnless(os.path.exists("/etc/ssl/certs/ca-certificates.crt"), "no system trust store")
    def test_system_trust_store_does_not_know_our_ca(self):
        """Without backend_ca_file the system's trust store decides: our test CA is not in it."""
        up = self.start_upstream()
        proxy = self.start_proxy("127.0.0.1:%d" % up.port, ["backend_tls = starttls",
                                                             "backend_server_name = %s" % RELAY])
        refused_421(self, proxy, "upstream_tls_failed", r"reply=\"unable to get local issuer")
        self.assert_no_mail(up)

    def test_verify_no_takes_the_wrong_name_and_dash_t_warns(self):
        up = self.start_upstream(cert=ca().issue("other.example.test"))
        keys = verified() + ["backend_verify = no"]
        proxy = self.start_proxy("127.0.0.1:%d" % up.port, keys)
        with smtplib.SMTP("127.0.0.1", proxy.port, timeout=60) as s:
            self.assertEqual(s.sendmail("a@example.org", ["b@example.net"], b"Subject: unverified\r\n\r\nx\r\n"), {})
        self.assertEqual(up.messages()[0]["content"], b"Subject: unverified\r\n\r\nx\r\n")
        self.assertRegex(proxy.log(), r"event=upstream_tls .* verified=no name=relay\.example\.test")
        text, line = outbound_config(free_port(), "127.0.0.1:%d" % up.port, keys)
        rc, out, path = dash_t(text)
        self.assertEqual(rc, 0, out)
        self.assertIn("%s:%d: warning: [listener printers] has backend_verify = no: " % (path, line), out)
        rc, out, _ = dash_t(outbound_config(free_port(), "127.0.0.1:%d" % up.port, verified())[0])
        self.assertEqual(rc, 0, out)
        self.assertNotIn("warning", out)


# --- 4. who may use a plaintext listener ---

class ConfigTest(unittest.TestCase):
    def test_tls_none_needs_allow(self):
        text, line = outbound_config(free_port(), "127.0.0.1:%d" % free_port(), verified(), allow=None)
        rc, out, path = dash_t(text)
        self.assertEqual(rc, 1, out)
        self.assertIn("%s:%d: [listener printers] has tls = none (plaintext) but no allow" % (path, line), out)

    def test_tls_none_listeners_need_no_tls_section(self):
        rc, out, path = dash_t(outbound_config(free_port(), "127.0.0.1:%d" % free_port(), verified())[0])
        self.assertEqual(rc, 0, out)
        self.assertIn("%s: configuration OK" % path, out)
        # ...but a listener that offers TLS still needs one.
        rc, out, path = dash_t(outbound_config(free_port(), "127.0.0.1:%d" % free_port(), verified(),
                                               tls="starttls")[0])
        self.assertEqual(rc, 1, out)
        self.assertIn("uses tls = starttls but there is no [tls] section", out)


class ClientFrom(Client):
    """A raw client connecting from another loopback address (Linux routes all of 127/8 to lo)."""

    def __init__(self, port, source, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
        self.buf = b""


@need_aiosmtpd
class AllowTest(OutboundCase):
    def test_client_outside_allow_gets_554_and_the_upstream_nothing(self):
        up = self.start_upstream()
        proxy = self.start_proxy("127.0.0.1:%d" % up.port, verified())
        c = ClientFrom(proxy.port, "127.0.0.5")
        self.addCleanup(c.close)
        code, raw = c.reply()
        self.assertEqual(code, 554, raw)
        self.assertIn(b"5.7.1", raw)
        self.assertTrue(c.closed(), "a refused client was not closed")
        proxy.wait_log("reason=not_allowed")
        self.assertIn("client=127.0.0.5:", proxy.log())
        # A sender in allow comes next: the upstream's first connection is its, the only one.
        ok = Client(proxy.port)
        self.addCleanup(ok.close)
        self.assertEqual(ok.reply()[0], 220)
        self.assertEqual(len(up.of("connect")), 1, up.events)
        self.assertEqual(proxy.log().count("event=upstream_tls"), 1, proxy.log())

    def test_starttls_on_a_plaintext_listener_is_502(self):
        up = self.start_upstream()
        proxy = self.start_proxy("127.0.0.1:%d" % up.port, verified())
        c = Client(proxy.port)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        code, raw = c.cmd("EHLO printer.example")
        self.assertEqual(code, 250)
        self.assertNotIn(b"STARTTLS", raw)
        code, raw = c.cmd("STARTTLS")
        self.assertEqual(code, 502, raw)
        self.assertEqual(c.cmd("NOOP")[0], 250)     # still plaintext, still talking to the upstream
        self.assertEqual(c.cmd("QUIT")[0], 221)
        up.wait("closed")
        self.assertEqual(up.verbs(1).count("STARTTLS"), 1)     # starttlsd's own, in the preamble


# --- 5. the protections hold on the way out ---

@need_aiosmtpd
class ProtectionsTest(OutboundCase):
    def session(self, proxy, content):
        """A raw sender: greeting, EHLO, MAIL, RCPT, DATA, then content; returns (client, final reply)."""
        c = Client(proxy.port)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO printer.example")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<printer@example.org>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<office@example.net>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(content)
        return c, c.reply()

    def test_bare_lf_is_normalised(self):
        up = self.start_upstream()
        proxy = self.start_proxy("127.0.0.1:%d" % up.port, verified())
        c, (code, raw) = self.session(proxy, b"Subject: bare LF\r\n\r\nfirst\nsecond\r\nthird\n.\n"
                                             b"MAIL FROM:<smuggled@example.org>\r\n.\r\n")
        self.assertEqual(code, 250, raw)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        # Each bare LF became CRLF; the "." after one was dot-stuffed (aiosmtpd took the stuffing off):
        # one message, and the smuggled MAIL is only text in it.
        self.assertEqual(up.messages()[0]["content"], b"Subject: bare LF\r\n\r\nfirst\r\nsecond\r\nthird\r\n.\r\n"
                                                      b"MAIL FROM:<smuggled@example.org>\r\n")
        up.wait("closed")
        self.assertEqual(len(up.of("message")), 1)
        self.assertEqual(up.verbs(1).count("MAIL"), 1)

    def test_long_line_is_refused_and_never_completes_upstream(self):
        up = self.start_upstream()
        proxy = self.start_proxy("127.0.0.1:%d" % up.port, verified())
        c, (code, raw) = self.session(proxy, b"Subject: long\r\n\r\n" + b"y" * 1500 + b"\r\nmore\r\n.\r\n")
        self.assertEqual(code, 550, raw)
        self.assertIn(b"5.6.0", raw)
        proxy.wait_log("reason=line_too_long")
        # The upstream's connection was cut inside DATA: the message never completed there.
        closed = up.wait("closed")[0]
        self.assertEqual(up.of("message"), [])
        self.assertIn("DATA", up.verbs(1))
        self.assertNotIn(b"\r\n.\r\n", up.received(1).split(b"DATA\r\n", 1)[1])
        self.assertIsNotNone(closed["error"])           # a reset, not a polite close
        self.assertEqual(c.cmd("QUIT")[0], 221)

    def test_upstream_without_starttls_is_421_never_plaintext(self):
        up = self.start_upstream(mode="plain")
        proxy = self.start_proxy("127.0.0.1:%d" % up.port, verified())
        refused_421(self, proxy, "upstream_offers_no_starttls", r"step=ehlo ")
        self.assert_no_mail(up)     # first: it waits until the upstream reported the connection's end
        self.assertEqual(up.verbs(1), ["EHLO"])


if __name__ == "__main__":
    unittest.main()

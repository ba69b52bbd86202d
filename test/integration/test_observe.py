"""Observing starttlsd, each output checked by the program that consumes it:
/metrics scraped after real traffic and checked by promtool (every counter
moved by exactly what each event should move it by, kept across a reload
and a killed serving process), the alert rules and their unit tests run by
promtool, /healthz and /readyz as a probe sees them, log_format = json
parsed line by line against the text form of the same session,
log_target = syslog over a datagram socket as a syslog daemon receives it,
certificate expiry warnings and the expiry metric, and the fail2ban filter
and jails run by fail2ban-regex and fail2ban-server on lines real clients
just caused."""
import calendar
import collections
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from harness import BIN, SRC, Client, Proxy, ScriptedBackend, client_context, free_port, make_cert, wait_for

PROM_DIR = os.path.join(SRC, "etc", "prometheus")
F2B_DIR = os.path.join(SRC, "etc", "fail2ban")
PROMTOOL = shutil.which("promtool")
FAIL2BAN_REGEX = shutil.which("fail2ban-regex")
FAIL2BAN_SERVER = shutil.which("fail2ban-server")
FAIL2BAN_CLIENT = shutil.which("fail2ban-client")
FAIL2BAN_CONF = "/etc/fail2ban"   # the package's own configuration (common.conf, jail.conf, actions)

try:
    import yaml
except ImportError:  # python3-yaml: only the mutation check of the alert tests needs it
    yaml = None


# --- HTTP, by hand: exact requests, exact responses ---

def http(port, request, timeout=10.0):
    """Send request (bytes) to 127.0.0.1:port, read until the server closes.
    Returns (status, headers dict, body), or (None, {}, raw) if no response came."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(request)
        except OSError:
            pass
        raw = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                raw += d
        except (ConnectionResetError, socket.timeout):
            pass
    if b"\r\n\r\n" not in raw:
        return None, {}, raw
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    return status, headers, body


def get(port, path, method="GET"):
    return http(port, b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (method.encode(), path.encode()))


LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """The samples of a Prometheus text exposition: {(name, frozenset(labels)): value}."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$", line)
        assert m, "not a sample line: %r" % line
        labels = frozenset((k, re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1), v))
                           for k, v in LABEL.findall(m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def scrape(port):
    status, headers, body = get(port, "/metrics")
    assert status == 200, (status, body)
    return body.decode()


def metrics(port):
    return parse_metrics(scrape(port))


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def counters(samples):
    """The samples that must only go up, and only when something happened:
    starttlsd's counters, histogram counts and the active-connections gauge
    (back to where it was once the sessions of an event are over)."""
    return {k: v for k, v in samples.items()
            if k[0].startswith("starttlsd_") and
            (k[0].endswith("_total") or k[0].endswith("_count") or k[0] == "starttlsd_connections_active")}


def delta(before, after):
    """What moved between two scrapes, as {(name, labels): change}."""
    keys = set(before) | set(after)
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys if after.get(k, 0) != before.get(k, 0)}


def show(d):
    return "\n".join("  %s{%s} %+g" % (k[0], ",".join("%s=%s" % kv for kv in sorted(k[1])), v)
                     for k, v in sorted(d.items(), key=lambda kv: (kv[0][0], sorted(kv[0][1]))))


# --- clients ---

class SrcClient(Client):
    """harness.Client from a chosen local address (127.0.0.x), with the TLS
    context and session of our choice."""

    def __init__(self, port, source="127.0.0.1", implicit=False, ctx=None, session=None, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
        self.buf = b""
        if implicit:
            self.sock = (ctx or client_context()).wrap_socket(self.sock, session=session)

    def starttls(self, ctx=None, session=None, server_hostname=None):
        code, raw = self.cmd("STARTTLS")
        assert code == 220, raw
        self.sock = (ctx or client_context()).wrap_socket(self.sock, session=session,
                                                          server_hostname=server_hostname)
        return code

    def message(self, body=b"Subject: x\r\n\r\nhello\r\n.\r\n", sender=b"<a@example.test>"):
        sender = sender if isinstance(sender, bytes) else sender.encode()
        assert self.cmd(b"MAIL FROM:" + sender)[0] == 250
        assert self.cmd("RCPT TO:<b@example.test>")[0] == 250
        assert self.cmd("DATA")[0] == 354
        self.send(body)
        return self.reply()


def tls_ctx(version=None):
    ctx = client_context()
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


# --- logs in other forms than key=value on stderr ---

def unquote(v):
    """A key=value log value as its bytes (log_quote's rules reversed)."""
    if not v.startswith('"'):
        return v.encode()
    out, i, s = bytearray(), 1, v[1:-1]
    i = 0
    while i < len(s):
        if s[i] == "\\" and s[i + 1] == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif s[i] == "\\":
            out += s[i + 1].encode()
            i += 2
        else:
            out += s[i].encode()
            i += 1
    return bytes(out)


KV = re.compile(r'([a-z_0-9]+)=("(?:[^"\\]|\\.)*"|\S*)')


def kv_pairs(line):
    """[(key, value bytes)] of a key=value line, in order."""
    rest = line.strip()
    pairs = []
    while rest:
        m = KV.match(rest)
        assert m, "not key=value: %r in %r" % (rest, line)
        pairs.append((m.group(1), unquote(m.group(2))))
        rest = rest[m.end():].lstrip(" ")
    return pairs


def json_pairs(line):
    """[(key, value bytes)] of a JSON log line, in order. starttlsd writes each
    byte of a value that is not printable ASCII as \\u00NN, so latin-1 gives
    the bytes back."""
    obj = json.loads(line, object_pairs_hook=list)
    return [(k, v.encode("latin-1")) for k, v in obj]


def quote(b):
    if b and all(0x20 < c < 0x7f and c not in b'"\\=' for c in b):
        return b.decode()
    return '"%s"' % "".join(chr(c) if 0x20 <= c < 0x7f and c not in b'"\\' else
                            "\\" + chr(c) if c in b'"\\' else "\\x%02x" % c for c in b)


def as_text(line):
    """A JSON log line as the key=value line it stands for; anything else unchanged."""
    if line.startswith("{"):
        try:
            return " ".join("%s=%s" % (k, quote(v)) for k, v in json_pairs(line))
        except ValueError:
            pass
    return line


SYSLOG_LINE = re.compile(r"^<(\d+)>([A-Z][a-z]{2}) ([ 1-3]\d) (\d\d):(\d\d):(\d\d) starttlsd\[(\d+)\]: (.*)$", re.S)
SEVERITY = {"error": 3, "warn": 4, "info": 6, "debug": 7}


class SyslogReceiver:
    """A syslog daemon's datagram socket: every datagram, kept in order."""

    def __init__(self):
        self.path = os.path.join(tempfile.mkdtemp(prefix="starttlsd-syslog-"), "log")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.datagrams = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        # Read at once: a datagram queue of 10 fills fast, and starttlsd's send
        # would then wait for us.
        while self.running:
            r, _, _ = select.select([self.sock], [], [], 0.05)
            if r:
                d = self.sock.recv(65536)
                with self.lock:
                    self.datagrams.append(d)

    def lines(self):
        with self.lock:
            return [d.decode("utf-8", "replace") for d in self.datagrams]

    def close(self):
        """The daemon goes away: socket closed and unlinked."""
        if self.running:
            self.running = False
            self.thread.join()
            self.sock.close()
            os.unlink(self.path)


class LogProxy(Proxy):
    """A Proxy whose lines may be JSON or go to a SyslogReceiver. log() gives
    them as key=value text, stderr first then syslog, so the harness's waits
    (event=ready, wait_log) and checks work for any log_format and
    log_target; stderr() is what starttlsd wrote there, as written."""

    def __init__(self, *args, syslog=None, **kw):
        self.syslog = syslog
        super().__init__(*args, **kw)

    def stderr(self):
        return Proxy.log(self)

    def log(self):
        lines = self.stderr().splitlines()
        if self.syslog is not None:
            for d in self.syslog.lines():
                m = SYSLOG_LINE.match(d)
                lines.append(m.group(8) if m else d)
        return "\n".join(as_text(l) for l in lines) + "\n"


def wait_closed(sock, timeout):
    """Wait until the peer closes sock; returns when it did (time.time())."""
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
    except (ConnectionError, socket.timeout, OSError):
        pass
    return time.time()


# --- certificates with chosen dates ---

def dated_cert(cn, not_before, not_after):
    """A self-signed ECDSA certificate valid from not_before to not_after (Unix
    times), made with `openssl ca` (Debian 12's openssl 3.0 `req -x509` can
    only start now and end in the future). Returns (cert, key)."""
    d = tempfile.mkdtemp(prefix="starttlsd-dated-")
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca = this\n[this]\ndatabase = %s/index.txt\nnew_certs_dir = %s\nserial = %s/serial\n"
                "default_md = sha256\npolicy = any\nunique_subject = no\ncopy_extensions = copy\n"
                "[any]\ncommonName = supplied\n" % (d, d, d))
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("01\n")
    key, csr, cert = (os.path.join(d, n) for n in ("key.pem", "csr.pem", "cert.pem"))
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", csr, "-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:" + cn],
                   check=True, capture_output=True)
    stamp = lambda t: time.strftime("%Y%m%d%H%M%SZ", time.gmtime(t))
    subprocess.run(["openssl", "ca", "-batch", "-config", os.path.join(d, "ca.cnf"), "-selfsign", "-keyfile", key,
                    "-in", csr, "-out", cert, "-notext", "-startdate", stamp(not_before), "-enddate", stamp(not_after)],
                   check=True, capture_output=True)
    return cert, key


def not_after(cert):
    """The certificate's notAfter as Unix time, as openssl reads it."""
    out = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-enddate"], check=True,
                         capture_output=True, text=True).stdout.strip()
    return calendar.timegm(time.strptime(out.split("=", 1)[1], "%b %d %H:%M:%S %Y %Z"))


def config_text(listeners, extra_global="", tls=None, sections=""):
    """A whole INI: [global] (debug, workers, allow_root), [tls], listeners."""
    cert, key = tls or make_cert()
    text = ("[global]\nworkers = %d\nlog_level = debug\nshutdown_timeout = 2s\nallow_root = yes\n%s\n"
            "[tls]\ncertificate = %s\nkey = %s\n\n%s\n" % (harness.DEFAULT_WORKERS, extra_global, cert, key, sections))
    for l in listeners:
        text += "[listener %s]\nlisten = 127.0.0.1:%d\nbackend = 127.0.0.1:%d\ntls = %s\nhostname = proxy.example.test\n%s\n" % (
            l["name"], l["port"], l["backend"], l.get("tls", "starttls"), l.get("extra", ""))
    return text


def write_config(text):
    path = os.path.join(tempfile.mkdtemp(prefix="starttlsd-conf-"), "starttlsd.ini")
    with open(path, "w") as f:
        f.write(text)
    return path


def line_of(path, prefix):
    with open(path) as f:
        for i, l in enumerate(f, 1):
            if l.startswith(prefix):
                return i
    raise AssertionError("%s: no line starts with %r" % (path, prefix))


class Base(unittest.TestCase):
    def backend(self, **kw):
        b = ScriptedBackend(**kw)
        self.addCleanup(b.close)
        return b

    def proxy(self, *args, cls=Proxy, **kw):
        p = cls(*args, **kw)
        self.addCleanup(p.__exit__, None, None, None)
        return p


# =====================================================================
# /metrics: every event, counted exactly once, checked by promtool
# =====================================================================

class MetricsTest(Base):
    def setUp(self):
        self.b = self.backend()
        self.dead_port = free_port()        # nothing listens there
        self.ports = {n: free_port() for n in ("mx", "sub", "smtps", "slow", "dead", "lb")}
        self.mport = free_port()
        P, b = self.ports, self.b.port
        self.p = self.proxy(config=config_text([
            dict(name="mx", port=P["mx"], backend=b, extra="max_errors = 3\nbare_newline = reject"),
            dict(name="sub", port=P["sub"], backend=b, extra="require_tls = yes\nallow = 127.0.0.1"),
            dict(name="smtps", port=P["smtps"], backend=b, tls="implicit"),
            dict(name="slow", port=P["slow"], backend=b,
                 extra="idle_timeout = 300ms\nhandshake_timeout = 300ms\nmax_connections_per_ip = 1"),
            dict(name="dead", port=P["dead"], backend=self.dead_port),
            dict(name="lb", port=P["lb"], backend=b, extra="accept_proxy = yes\nproxy_trusted = 127.0.0.0/8"),
        ], extra_global="metrics = 127.0.0.1:%d\nmax_connections = 6" % self.mport))

    def c(self, name, source="127.0.0.1", **kw):
        c = SrcClient(self.ports[name], source=source, **kw)
        self.addCleanup(c.close)
        return c

    def expect(self, what, expected, action):
        """Run action(); then every counter must have moved by exactly
        expected ({(name, labels): n}, with labels as a dict) and nothing else."""
        want = {}
        for n, l, v in expected:
            k = (n, frozenset(l.items()))
            want[k] = want.get(k, 0) + v
        before = counters(metrics(self.mport))
        action()
        last = {}

        def settled():
            last["d"] = delta(before, counters(metrics(self.mport)))
            return last["d"] == want
        wait_for(settled, timeout=10, what=lambda: "%s: counters moved by\n%s\nexpected\n%s" % (
            what, show(last["d"]), show(want)))

    # The expected changes of the common kinds of session.
    @staticmethod
    def session(listener, accepted=True, backend=True, tls=None, plain_end=True):
        e = []
        if accepted:
            e.append(("starttlsd_connections_total", dict(listener=listener, result="accepted"), 1))
        if backend:
            e.append(("starttlsd_backend_connect_duration_seconds_count", {}, 1))
        e.append(("starttlsd_session_duration_seconds_count", {}, 1))
        if plain_end is not None:
            e.append(("starttlsd_starttls_sessions_total", dict(listener=listener, tls="yes" if tls else "no"), 1))
        if tls:
            version, resumed = tls
            e.append(("starttlsd_tls_handshakes_total", dict(listener=listener, version=version, resumed=resumed), 1))
            e.append(("starttlsd_handshake_duration_seconds_count", {}, 1))
        return e

    def test_each_event_moves_exactly_its_counters_and_promtool_accepts_the_exposition(self):
        P = self.ports
        policy = lambda l, rule, n=1: ("starttlsd_policy_rejections_total", dict(listener=l, rule=rule), n)
        msgs = lambda l, result: ("starttlsd_messages_total", dict(listener=l, result=result), 1)
        fail = lambda l, reason: ("starttlsd_tls_handshake_failures_total", dict(listener=l, reason=reason), 1)
        conn = lambda l, result: ("starttlsd_connections_total", dict(listener=l, result=result), 1)

        # A plaintext session: EHLO, QUIT.
        def plain():
            c = self.c("mx")
            self.assertEqual(c.reply()[0], 220)
            c.cmd("EHLO a")
            self.assertEqual(c.cmd("QUIT")[0], 221)
            self.assertTrue(c.closed())
        self.expect("plain session", self.session("mx"), plain)

        # A message over STARTTLS with TLS 1.3: its bytes are what the backend got.
        sizes = []

        def message13():
            c = self.c("mx")
            c.reply()
            c.cmd("EHLO a")
            c.starttls(tls_ctx(ssl.TLSVersion.TLSv1_3))
            c.cmd("EHLO a")
            self.assertEqual(c.message()[0], 250)
            c.cmd("QUIT")
            self.assertTrue(c.closed())
            sizes.append(len(self.b.messages[-1]))
        before = counters(metrics(self.mport))
        self.expect("message over TLS 1.3", self.session("mx", tls=("TLSv1.3", "no")) + [
            msgs("mx", "accepted"), ("starttlsd_message_bytes_total", dict(listener="mx"), 24)], message13)
        self.assertEqual(sizes, [24])   # "Subject: x\r\n\r\nhello\r\n.\r\n", the end line included
        self.p.wait_log("size=24 ")

        # TLS 1.2, a full handshake.
        def tls12():
            c = self.c("mx")
            c.reply()
            c.cmd("EHLO a")
            c.starttls(tls_ctx(ssl.TLSVersion.TLSv1_2))
            c.cmd("EHLO a")
            c.cmd("QUIT")
            self.assertTrue(c.closed())
        self.expect("TLS 1.2 session", self.session("mx", tls=("TLSv1.2", "no")), tls12)

        # Resumption on the implicit listener, with either version.
        for version, name in ((ssl.TLSVersion.TLSv1_3, "TLSv1.3"), (ssl.TLSVersion.TLSv1_2, "TLSv1.2")):
            ctx = tls_ctx(version)
            got = {}

            def first():
                c = self.c("smtps", implicit=True, ctx=ctx)
                self.assertEqual(c.reply()[0], 220)
                c.cmd("QUIT")
                self.assertTrue(c.closed())
                got["session"] = c.sock.session
            self.expect("%s full, implicit" % name, self.session("smtps", tls=(name, "no")), first)

            def again():
                c = self.c("smtps", implicit=True, ctx=ctx, session=got["session"])
                self.assertEqual(c.reply()[0], 220)
                self.assertTrue(c.sock.session_reused)
                c.cmd("QUIT")
                self.assertTrue(c.closed())
            self.expect("%s resumed" % name, self.session("smtps", tls=(name, "yes")), again)

        # The session ends inside DATA: aborted (and the backend's connection reset).
        def aborted():
            c = self.c("mx")
            c.reply()
            c.cmd("EHLO a")
            c.cmd("MAIL FROM:<a@b>")
            c.cmd("RCPT TO:<c@d>")
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(b"Subject: cut short\r\n\r\nhalf a mess")
            harness.wait_consumed(c.sock)
            c.close()
        self.expect("message aborted", self.session("mx") + [msgs("mx", "aborted")], aborted)

        # Smuggling refused under bare_newline = reject: the message is rejected.
        def bare_newline():
            c = self.c("mx")
            c.reply()
            c.cmd("EHLO a")
            self.assertEqual(c.message(b"Subject: x\r\n\r\nline\nsmuggled\r\n.\r\n")[0], 550)
            self.assertEqual(c.cmd("QUIT")[0], 221)
            self.assertTrue(c.closed())
        self.expect("bare newline", self.session("mx") + [msgs("mx", "rejected"), policy("mx", "bare_newline")],
                    bare_newline)

        # A text line over max_data_line_length: rejected too, by another rule.
        def long_text_line():
            c = self.c("mx")
            c.reply()
            c.cmd("EHLO a")
            self.assertEqual(c.message(b"Subject: x\r\n\r\n" + b"y" * 1200 + b"\r\n.\r\n")[0], 550)
            self.assertEqual(c.cmd("QUIT")[0], 221)
            self.assertTrue(c.closed())
        self.expect("long text line", self.session("mx") + [msgs("mx", "rejected"), policy("mx", "line_length")],
                    long_text_line)

        # A command line over max_line_length.
        def long_command():
            c = self.c("mx")
            c.reply()
            self.assertEqual(c.cmd("NOOP " + "x" * 600)[0], 500)
            self.assertEqual(c.cmd("QUIT")[0], 221)
            self.assertTrue(c.closed())
        self.expect("long command line", self.session("mx") + [policy("mx", "line_length")], long_command)

        # MAIL before STARTTLS under require_tls.
        def require_tls():
            c = self.c("sub")
            c.reply()
            c.cmd("EHLO a")
            self.assertEqual(c.cmd("MAIL FROM:<a@b>")[0], 530)
            c.cmd("QUIT")
            self.assertTrue(c.closed())
        self.expect("require_tls", self.session("sub") + [policy("sub", "require_tls")], require_tls)

        # AUTH before STARTTLS (auth_before_tls = hide).
        def auth_before_tls():
            c = self.c("mx")
            c.reply()
            c.cmd("EHLO a")
            self.assertEqual(c.cmd("AUTH PLAIN AGFAYg==")[0], 538)
            c.cmd("QUIT")
            self.assertTrue(c.closed())
        self.expect("auth_before_tls", self.session("mx") + [policy("mx", "auth_before_tls")], auth_before_tls)

        # Commands pipelined after STARTTLS in plaintext; the handshake then goes on.
        def injection():
            c = self.c("mx")
            c.reply()
            c.cmd("EHLO a")
            c.send(b"STARTTLS\r\nRSET\r\n")
            self.assertEqual(c.reply()[0], 220)
            c.sock = tls_ctx(ssl.TLSVersion.TLSv1_3).wrap_socket(c.sock)
            self.assertEqual(c.cmd("EHLO a")[0], 250)
            c.cmd("QUIT")
            self.assertTrue(c.closed())
        self.expect("STARTTLS injection", self.session("mx", tls=("TLSv1.3", "no")) +
                    [policy("mx", "starttls_injection")], injection)

        # A proxy-only command, then unknown ones until the error budget (3) is spent.
        def error_budget():
            c = self.c("mx")
            c.reply()
            self.assertEqual(c.cmd("XCLIENT ADDR=192.0.2.1")[0], 550)
            self.assertEqual(c.cmd("FOO")[0], 500)
            self.assertEqual(c.cmd("BAR")[0], 500)
            self.assertEqual(c.reply()[0], 421)
            self.assertTrue(c.closed())
        self.expect("error budget", self.session("mx") + [policy("mx", "forbidden_command", 3),
                                                          policy("mx", "max_errors")], error_budget)

        # A client that says nothing: idle_timeout.
        def idle():
            c = self.c("slow")
            c.reply()
            code, raw = c.reply()          # no command: the deadline speaks
            self.assertEqual(code, 421, raw)
            self.assertTrue(c.closed())
        self.expect("idle timeout", self.session("slow") + [policy("slow", "timeout")], idle)

        # Handshakes that fail: garbage, silence, a hang-up.
        def garbage():
            c = self.c("mx")
            c.reply()
            c.cmd("STARTTLS")
            c.send(b"\x16\x03\x01\x00\x05hello, not TLS")
            self.assertTrue(c.closed())
        self.expect("handshake error", self.session("mx") + [fail("mx", "handshake_error")], garbage)

        def silence():
            c = self.c("slow")
            c.reply()
            c.cmd("STARTTLS")
            self.assertTrue(c.closed(10))
        self.expect("handshake timeout", self.session("slow") + [fail("slow", "timeout")], silence)

        def reset():
            c = self.c("mx")
            c.reply()
            c.cmd("STARTTLS")
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()     # a TCP reset
        self.expect("handshake reset", self.session("mx") + [fail("mx", "closed")], reset)

        # Connection limits: one per address on "slow", six in all.
        def per_ip():
            a = self.c("slow", source="127.0.0.9")
            self.assertEqual(a.reply()[0], 220)
            b = self.c("slow", source="127.0.0.9")
            self.assertEqual(b.reply()[0], 421)
            self.assertTrue(b.closed())
            a.cmd("QUIT")
            self.assertTrue(a.closed())
        self.expect("per-IP limit", self.session("slow") + self.session("slow", accepted=False, backend=False) +
                    [conn("slow", "limit_per_ip")], per_ip)

        def total():
            held = [self.c("mx", source="127.0.0.%d" % (10 + i)) for i in range(6)]
            for h in held:
                self.assertEqual(h.reply()[0], 220)
            over = self.c("mx", source="127.0.0.20")
            code, raw = over.reply()
            self.assertEqual(code, 421, raw)
            self.assertTrue(over.closed())
            for h in held:
                h.cmd("QUIT")
                self.assertTrue(h.closed())
        self.expect("max_connections", self.session("mx") * 6 + self.session("mx", accepted=False, backend=False) +
                    [conn("mx", "limit")], total)

        # A client the listener's allow list does not name: 554, no backend.
        def not_allowed():
            c = self.c("sub", source="127.0.0.2")
            code, raw = c.reply()
            self.assertEqual(code, 554, raw)
            self.assertTrue(c.closed())
        self.expect("not allowed", self.session("sub", accepted=False, backend=False) + [conn("sub", "not_allowed")],
                    not_allowed)

        # No backend: 421 4.4.1.
        def no_backend():
            c = self.c("dead")
            code, raw = c.reply()
            self.assertEqual(code, 421, raw)
            self.assertIn(b"4.4.1", raw)
            self.assertTrue(c.closed())
        self.expect("backend unavailable", self.session("dead", backend=False) +
                    [conn("dead", "backend_unavailable")], no_backend)

        # A trusted balancer's connection that does not start with a PROXY header.
        def bad_header():
            c = self.c("lb")
            c.send(b"EHLO not-a-proxy-header\r\n")
            self.assertTrue(c.closed())
        self.expect("bad PROXY header", self.session("lb", accepted=False, backend=False, plain_end=None) +
                    [conn("lb", "proxy_header_error")], bad_header)

        # Every label combination of every counter has moved on some listener.
        text = scrape(self.mport)
        m = parse_metrics(text)
        seen = {}
        for (name, labels), v in m.items():
            if name.startswith("starttlsd_") and name.endswith("_total") and "reloads" not in name:
                key = (name, frozenset(kv for kv in labels if kv[0] != "listener"))
                seen[key] = seen.get(key, 0) + v
        unmoved = sorted("%s{%s}" % (k[0], ",".join("%s=%s" % kv for kv in sorted(k[1]))) for k, v in seen.items() if v == 0)
        self.assertEqual(unmoved, [], "families/labels no event moved")
        for h in ("handshake_duration", "backend_connect_duration", "session_duration"):
            self.assertGreater(value(m, "starttlsd_%s_seconds_count" % h), 0)
            self.assertEqual(value(m, "starttlsd_%s_seconds_bucket" % h, le="+Inf"),
                             value(m, "starttlsd_%s_seconds_count" % h))
        self.assertEqual(value(m, "starttlsd_connections_active", listener="mx"), 0)
        self.check_process_metrics(m)
        self.check_build_info(m)
        if not PROMTOOL:
            self.skipTest("promtool not installed (Debian package prometheus)")
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout + p.stderr, b"", "promtool has remarks (lint)")

    def test_a_client_that_hangs_up_during_the_handshake_is_a_failed_handshake(self):
        """STARTTLS, 220, then a FIN instead of a ClientHello: the handshake
        did not complete, so reason="closed" counts it (as a reset does)."""
        def hang_up():
            c = self.c("mx")
            c.reply()
            c.cmd("STARTTLS")
            c.close()
        self.expect("handshake abandoned", self.session("mx") + [
            ("starttlsd_tls_handshake_failures_total", dict(listener="mx", reason="closed"), 1)], hang_up)

    def check_process_metrics(self, m):
        pid = self.p.server_pids()[-1]
        with open("/proc/%d/limits" % pid) as f:
            soft = [l for l in f if l.startswith("Max open files")][0].split()[3]
        self.assertEqual(value(m, "process_max_fds"), float(soft))
        self.assertGreater(value(m, "process_open_fds"), 0)
        self.assertLess(abs(value(m, "process_open_fds") - len(os.listdir("/proc/%d/fd" % pid))), 5)
        with open("/proc/%d/status" % pid) as f:
            rss = [int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:")][0]
        self.assertLess(abs(value(m, "process_resident_memory_bytes") - rss), rss * 0.5)
        self.assertGreater(value(m, "process_virtual_memory_bytes"), value(m, "process_resident_memory_bytes"))
        with open("/proc/%d/stat" % pid) as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            btime = [int(l.split()[1]) for l in f if l.startswith("btime")][0]
        started = btime + start_ticks / os.sysconf("SC_CLK_TCK")
        self.assertLess(abs(value(m, "process_start_time_seconds") - started), 2.0)
        self.assertGreater(value(m, "process_cpu_seconds_total"), 0)

    def check_build_info(self, m):
        out = subprocess.run([BIN, "-V"], capture_output=True, text=True, check=True).stdout.split("\n")
        info = [dict(k[1]) for k in m if k[0] == "starttlsd_build_info"]
        self.assertEqual(len(info), 1)
        self.assertEqual(out[0], "starttlsd " + info[0]["version"])
        self.assertEqual(out[1], "libuv " + info[0]["libuv"])
        self.assertIn("API version %s)" % info[0]["tls"].rsplit(" ", 1)[1], out[2])


class MetricsAcrossProcessesTest(Base):
    """Counters live in memory the master shares with every serving process:
    a reload or a killed serving process never takes them back."""

    def test_counters_survive_reload_and_a_killed_serving_process(self):
        b = self.backend()
        mport = free_port()
        p = self.proxy(b.port, extra_global="metrics = 127.0.0.1:%d" % mport)
        scrapes, stop = [], threading.Event()

        def scraper():   # scrapes all along: no scrape may ever see a counter go down
            while not stop.is_set():
                try:
                    scrapes.append(counters(metrics(mport)))
                except (OSError, AssertionError):
                    pass    # a serving process that was just killed
        t = threading.Thread(target=scraper, daemon=True)
        t.start()
        self.addCleanup(t.join)
        self.addCleanup(stop.set)

        def messages(n):
            for _ in range(n):
                c = SrcClient(p.port)
                c.reply()
                c.cmd("EHLO a")
                c.starttls()
                c.cmd("EHLO a")
                self.assertEqual(c.message()[0], 250)
                c.cmd("QUIT")
                self.assertTrue(c.closed())
                c.close()

        accepted = lambda m: value(m, "starttlsd_messages_total", listener="test", result="accepted")
        sessions = lambda m: value(m, "starttlsd_session_duration_seconds_count")
        reloads = lambda m, r: value(m, "starttlsd_config_reloads_total", result=r)
        started = lambda: value(metrics(mport), "process_start_time_seconds")

        messages(3)
        wait_for(lambda: sessions(metrics(mport)) == 3, what="3 sessions counted")
        m0 = metrics(mport)
        self.assertEqual((accepted(m0), reloads(m0, "success"), reloads(m0, "failure")), (3, 0, 0))
        first_start = value(m0, "process_start_time_seconds")

        # A reload: a new serving process, the same counters, one more success.
        p.proc.send_signal(signal.SIGHUP)
        p.wait_log("event=reloaded generation=2")
        p.wait_log("generation=1 status=0 drained=yes")      # the old process is gone: its counters folded
        wait_for(lambda: started() != first_start, what="/metrics from the new serving process")
        m1 = metrics(mport)
        self.assertEqual(delta(counters(m0), counters(m1)),
                         {("starttlsd_config_reloads_total", frozenset({("result", "success")})): 1})
        self.assertGreaterEqual(value(m1, "starttlsd_config_last_reload_success_timestamp_seconds"),
                                value(m0, "starttlsd_config_last_reload_success_timestamp_seconds"))

        # More traffic in the new process, then it is killed: the master restarts
        # one, and what the dead one counted stays.
        messages(2)
        wait_for(lambda: sessions(metrics(mport)) == 5, what="5 sessions counted")
        m2 = metrics(mport)
        self.assertEqual(accepted(m2), 5)
        second_start = value(m2, "process_start_time_seconds")
        os.kill(p.server_pids()[-1], signal.SIGKILL)
        p.wait_log("event=restarted")
        wait_for(lambda: started() != second_start, what="/metrics from the restarted serving process")
        m3 = metrics(mport)
        self.assertEqual(delta(counters(m2), counters(m3)), {}, "a killed serving process took counts with it")
        messages(1)
        wait_for(lambda: accepted(metrics(mport)) == 6, what="the restarted process counting")

        # A broken file: refused, counted as a failure, the old one serves on.
        with open(p.config_path, "a") as f:
            f.write("[global\n")
        p.proc.send_signal(signal.SIGHUP)
        p.wait_log("event=reload_failed")
        m4 = metrics(mport)
        self.assertEqual((reloads(m4, "success"), reloads(m4, "failure")), (1, 1))
        self.assertEqual(value(m4, "starttlsd_config_last_reload_success_timestamp_seconds"),
                         value(m1, "starttlsd_config_last_reload_success_timestamp_seconds"))
        messages(1)
        wait_for(lambda: accepted(metrics(mport)) == 7, what="still serving after the refused reload")

        stop.set()
        t.join()
        self.assertGreater(len(scrapes), 10)
        for before, after in zip(scrapes, scrapes[1:]):
            back = {k: v for k, v in delta(before, after).items()
                    if v < 0 and k[0] != "starttlsd_connections_active"}
            self.assertEqual(back, {}, "counters went backwards between two scrapes")


# =====================================================================
# /healthz, /readyz and the HTTP server itself
# =====================================================================

class EndpointTest(Base):
    def start(self, **listener_backends):
        self.mport = free_port()
        self.lports = {n: free_port() for n in listener_backends}
        self.p = self.proxy(config=config_text(
            [dict(name=n, port=self.lports[n], backend=bp) for n, bp in listener_backends.items()],
            extra_global="metrics = 127.0.0.1:%d" % self.mport))

    def test_healthz_and_errors(self):
        b = self.backend()
        self.start(test=b.port)
        status, h, body = get(self.mport, "/healthz")
        self.assertEqual((status, body), (200, b"ok\n"))
        self.assertEqual(h["content-length"], "3")
        status, h, body = get(self.mport, "/healthz", "HEAD")
        self.assertEqual((status, body, h["content-length"]), (200, b"", "3"))
        status, h, body = get(self.mport, "/metrics", "HEAD")
        self.assertEqual((status, body), (200, b""))
        self.assertGreater(int(h["content-length"]), 1000)
        self.assertTrue(h["content-type"].startswith("text/plain; version=0.0.4"), h)
        self.assertEqual(get(self.mport, "/metrics?x=1")[0], 200)
        self.assertEqual(get(self.mport, "/")[0], 404)
        self.assertEqual(get(self.mport, "/metricsfoo")[0], 404)
        for method in ("POST", "PUT", "DELETE"):
            self.assertEqual(get(self.mport, "/metrics", method)[0], 405, method)
        status, h, body = http(self.mport, b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n")
        self.assertEqual(status, 431)
        # Just under the limit is fine.
        status, h, body = http(self.mport, b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 3900 + b"\r\n\r\n")
        self.assertEqual(status, 200)
        self.assertEqual(http(self.mport, b"\r\n\r\n")[0], 400)

    def test_readyz_follows_the_backend(self):
        alive = self.backend()
        gone = self.backend()
        gone_port = gone.port
        self.start(alive=alive.port, gone=gone_port)
        status, _, body = get(self.mport, "/readyz")
        self.assertEqual((status, body), (200, b"ready\n"))
        # A session through "gone" while its backend lives.
        c = SrcClient(self.lports["gone"])
        self.assertEqual(c.reply()[0], 220)
        ok_at = time.monotonic()
        c.close()
        gone.close()
        # A connect that worked counts for 30 s; one that fails afterwards
        # outweighs it. Both are kept in whole seconds of CLOCK_MONOTONIC (which
        # is Python's time.monotonic() on Linux), and a failure in the same
        # second as the last success does not count: wait for the next second.
        wait_for(lambda: time.monotonic() >= int(ok_at) + 1, what="the next second")
        c = SrcClient(self.lports["gone"])
        code, raw = c.reply()
        self.assertEqual(code, 421, raw)
        c.close()
        status, _, body = get(self.mport, "/readyz")
        self.assertEqual(status, 503, body)
        self.assertEqual(body.decode(), "listener gone: backend 127.0.0.1:%d: Connection refused\n" % gone_port)
        # The same, per listener, in /metrics (what the StarttlsdNotReady alert watches).
        m = metrics(self.mport)
        self.assertEqual((value(m, "starttlsd_ready", listener="alive"), value(m, "starttlsd_ready", listener="gone")),
                         (1, 0))
        # /healthz is about starttlsd itself, not its backends.
        self.assertEqual(get(self.mport, "/healthz")[0], 200)
        # It stays not ready while nothing listens (each /readyz tries again).
        self.assertEqual(get(self.mport, "/readyz")[0], 503)
        # The backend is back on its port: ready again, on the next request.
        back = socket.socket()
        back.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        back.bind(("127.0.0.1", gone_port))
        back.listen(8)
        self.addCleanup(back.close)
        status, _, body = get(self.mport, "/readyz")
        self.assertEqual((status, body), (200, b"ready\n"))
        self.assertEqual(value(metrics(self.mport), "starttlsd_ready", listener="gone"), 1)

    def test_readyz_without_traffic(self):
        port = free_port()    # nothing ever listened there
        self.start(nothing=port)
        status, _, body = get(self.mport, "/readyz")
        self.assertEqual(status, 503)
        self.assertIn(b"listener nothing: backend 127.0.0.1:%d: " % port, body)
        self.assertEqual(value(metrics(self.mport), "starttlsd_ready", listener="nothing"), 0)

    def test_idle_connections_delay_no_smtp_session_and_metrics_only_by_the_request_deadline(self):
        b = self.backend()
        self.start(test=b.port)
        t0 = time.time()
        hanging = [socket.create_connection(("127.0.0.1", self.mport), timeout=10) for _ in range(20)]
        self.addCleanup(lambda: [h.close() for h in hanging])
        # An SMTP session with a message goes through at once meanwhile.
        s0 = time.time()
        c = SrcClient(self.lports["test"])
        c.reply()
        c.cmd("EHLO a")
        c.starttls()
        c.cmd("EHLO a")
        self.assertEqual(c.message()[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertLess(time.time() - s0, 2.0, "an SMTP session waited for the metrics endpoint")
        # Beyond 16 connections the endpoint closes new ones at once; the 16 it
        # holds are closed by the 5 s request deadline.
        closed = {}
        pending = list(hanging)
        while pending and time.time() - t0 < 15:
            r, _, _ = select.select(pending, [], [], 0.5)
            for s in r:
                try:
                    d = s.recv(100)
                except OSError:
                    d = b""
                if not d:
                    closed[s] = time.time() - t0
                    pending.remove(s)
            if len(closed) == 4 and "scrape" not in closed:
                # While 16 are held: /metrics answers another client within the
                # deadline (retrying a connection that is refused at once).
                q0 = time.time()
                while True:
                    status, _, body = get(self.mport, "/metrics")
                    if status == 200:
                        break
                    self.assertLess(time.time() - q0, 8, "/metrics never answered")
                    time.sleep(0.05)  # pacing the retries of a refused scrape
                closed["scrape"] = time.time() - q0
                self.assertIn(b"starttlsd_connections_total", body)
        self.assertEqual(pending, [], "idle connections never closed")
        times = sorted(v for k, v in closed.items() if k != "scrape")
        self.assertLess(times[3], 1.5, "connections beyond 16 were not closed at once: %r" % times)
        self.assertTrue(all(4.5 < t < 8 for t in times[4:]), "16 held for the 5 s deadline: %r" % times)
        self.assertLess(closed["scrape"], 7.0)


# =====================================================================
# log_format = json
# =====================================================================

# Values that differ between two runs of the same session.
# A sender that needs quoting and escaping: a quote, a backslash, UTF-8.
SENDER = '<"odd\\"name\\\\\u00e9"@example.test>'.encode("utf-8")
VARYING = {"ts", "client", "pid", "config", "listen", "backend", "duration_ms", "cipher", "bytes_in", "bytes_out",
           "sid", "worker"}   # with several workers, which one takes the session varies


class JsonLogTest(Base):
    def run_session(self, fmt):
        """One whole session (STARTTLS with SNI, a message whose sender needs
        quoting, QUIT) through a fresh starttlsd; returns its log lines."""
        b = self.backend()
        p = self.proxy(b.port, extra_global="log_format = %s" % fmt, cls=LogProxy)
        c = SrcClient(p.port)
        c.reply()
        c.cmd("EHLO a")
        c.starttls(tls_ctx(ssl.TLSVersion.TLSv1_3), server_hostname="mx.example.test")
        c.cmd("EHLO a")
        self.assertEqual(c.message(sender=SENDER)[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertTrue(c.closed())
        p.wait_log("event=disconnect")
        p.stop()
        return p.stderr().splitlines()

    def test_json_lines_carry_the_text_form_keys_and_values(self):
        text, js = self.run_session("text"), self.run_session("json")
        self.assertGreater(len(js), 8)
        for line in js:
            obj = json.loads(line)     # every line, not only the session's
            for k in ("ts", "level", "event"):
                self.assertIn(k, obj, line)
            self.assertTrue(all(isinstance(v, str) for v in obj.values()), line)
            self.assertEqual(list(obj)[:3], ["ts", "level", "event"], line)
            self.assertRegex(obj["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        tp, jp = [kv_pairs(l) for l in text], [json_pairs(l) for l in js]
        # The master's and the serving process's first lines race each other:
        # compare the lines as multisets, each by its keys in order and by its
        # values that do not change from run to run.
        same = lambda pairs: (tuple(k for k, _ in pairs), tuple((k, v) for k, v in pairs if k not in VARYING))
        self.assertEqual(collections.Counter(same(t) for t in tp), collections.Counter(same(j) for j in jp))
        # The session's own lines come in the same order.
        session = lambda lines: [dict(p)["event"] for p in lines if "sid" in dict(p)]
        self.assertEqual(session(tp), session(jp))
        self.assertEqual(len(session(jp)), 11)
        events = {dict(p)["event"].decode(): dict(p) for p in jp}
        self.assertEqual(events["tls"]["sni"], b"mx.example.test")
        self.assertEqual(events["tls"]["version"], b"TLSv1.3")
        self.assertEqual(events["message"]["from"], SENDER)
        self.assertEqual(events["message"]["reply"], b"250 2.0.0 queued as M1")

    def test_config_error_and_warning_of_t_are_json(self):
        cert, key = dated_cert("soon.example.test", time.time() - 86400, time.time() + 5 * 86400 + 43200)
        for certificate, rc, event, key_ in (("/nonexistent/cert.pem", 1, "config_error", "error"),
                                             (cert, 0, "config_warning", "warning")):
            path = write_config(config_text([dict(name="a", port=free_port(), backend=free_port())],
                                            extra_global="log_format = json", tls=(certificate, key)))
            p = subprocess.run([BIN, "-t", "-c", path], capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, rc, p.stderr)
            lines = p.stderr.splitlines()
            self.assertEqual(len(lines), 1, p.stderr)
            obj = json.loads(lines[0])
            self.assertEqual((obj["event"], obj["level"]), (event, "error" if rc else "warn"))
            self.assertTrue(obj[key_].startswith("%s:%d: " % (path, line_of(path, "certificate ="))), obj)
            if rc:
                self.assertIn("/nonexistent/cert.pem", obj[key_])
            else:
                self.assertIn("expires in 5 days", obj[key_])
                self.assertIn("configuration OK", p.stdout)


# =====================================================================
# log_target = syslog
# =====================================================================

class SyslogTest(Base):
    def test_lines_reach_the_syslog_socket_then_stderr_when_it_is_gone(self):
        rx = SyslogReceiver()
        self.addCleanup(rx.close)
        b = self.backend()
        t0 = time.time()
        p = self.proxy(b.port, extra_global="log_target = syslog\nsyslog_socket = %s" % rx.path,
                       syslog=rx, cls=LogProxy)
        c = SrcClient(p.port)
        self.addCleanup(c.close)
        c.reply()
        c.cmd("EHLO a")
        c.send(b"STARTTLS\r\nNOOP\r\n")    # a warning: event=starttls_injection
        c.reply()
        c.close()
        p.wait_log("event=disconnect")
        with open(p.config_path, "a") as f:
            f.write("nonsense\n")
        p.proc.send_signal(signal.SIGHUP)     # an error: event=reload_failed
        p.wait_log("event=reload_failed")
        self.assertEqual(p.stderr(), "", "lines on stderr while syslog works")
        pids = {p.proc.pid, *p.server_pids()}
        seen = set()
        days = {time.strftime("%b %e", time.localtime(t)) for t in (t0, time.time())}   # local time, as syslog
        for d in rx.lines():
            m = SYSLOG_LINE.match(d)
            self.assertIsNotNone(m, d)
            pri, mon, day, hh, mm, ss, pid, text = m.groups()
            self.assertFalse(text.endswith("\n"), d)
            self.assertIn(int(pid), pids, d)
            level = re.match(r"ts=\S+ level=(\w+) event=", text).group(1)
            self.assertEqual(int(pri), 16 + SEVERITY[level], d)    # facility mail (2) * 8 + severity
            self.assertIn("%s %s" % (mon, day), days, d)
            seen.add(int(pri))
        self.assertTrue({22, 20, 19, 23} <= seen, seen)
        self.assertIn("event=starttls_injection", "".join(rx.lines()))
        self.assertIn("starttlsd[%d]: " % p.server_pids()[-1], "".join(rx.lines()))   # the serving process
        self.assertIn("starttlsd[%d]: " % p.proc.pid, "".join(rx.lines()))             # the master
        # The daemon goes away: lines go to stderr.
        rx.close()
        c = SrcClient(p.port)
        self.assertEqual(c.reply()[0], 220)
        c.cmd("QUIT")
        self.assertTrue(c.closed())
        wait_for(lambda: "event=disconnect" in p.stderr(), what=lambda: "lines on stderr: %r" % p.stderr())
        self.assertRegex(p.stderr(), r"(?m)^ts=\S+ level=info event=connect sid=\S+ listener=test client=127\.0\.0\.1:")

    def test_json_over_syslog(self):
        rx = SyslogReceiver()
        self.addCleanup(rx.close)
        b = self.backend()
        p = self.proxy(b.port, extra_global="log_target = syslog\nsyslog_socket = %s\nlog_format = json" % rx.path,
                       syslog=rx, cls=LogProxy)
        c = SrcClient(p.port)
        c.reply()
        c.cmd("QUIT")
        p.wait_log("event=disconnect")
        for d in rx.lines():
            m = SYSLOG_LINE.match(d)
            self.assertIsNotNone(m, d)
            obj = json.loads(m.group(8))
            self.assertEqual(int(m.group(1)), 16 + SEVERITY[obj["level"]])

    def test_unreachable_syslog_socket_at_start(self):
        path = write_config(config_text([dict(name="a", port=free_port(), backend=free_port())],
                                        extra_global="log_target = syslog\nsyslog_socket = /nonexistent/log"))
        p = subprocess.run([BIN, "-t", "-c", path], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 1)
        self.assertIn("syslog_socket /nonexistent/log: No such file or directory", p.stderr)


# =====================================================================
# certificate expiry
# =====================================================================

class ExpiryTest(Base):
    def test_soon_and_expired_certificates(self):
        now = time.time()
        soon = dated_cert("soon.example.test", now - 86400, now + 5 * 86400 + 43200)
        gone = dated_cert("expired.example.test", now - 10 * 86400, now - 86400)
        fine = make_cert()
        date = lambda cert: time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(not_after(cert)))
        # -t: the warnings, exit 0.
        for cert, want in ((soon, "expires in 5 days (%s)" % date(soon[0])),
                           (gone, "EXPIRED on %s: still served" % date(gone[0]))):
            path = write_config(config_text([dict(name="a", port=free_port(), backend=free_port())], tls=cert))
            p = subprocess.run([BIN, "-t", "-c", path], capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stderr, "%s:%d: warning: certificate %s %s%s\n" % (
                path, line_of(path, "certificate ="), cert[0], want,
                "" if "EXPIRED" not in want else ", but clients that check will refuse it; renew it"))
        path = write_config(config_text([dict(name="a", port=free_port(), backend=free_port())], tls=fine))
        p = subprocess.run([BIN, "-t", "-c", path], capture_output=True, text=True, timeout=20)
        self.assertEqual((p.returncode, p.stderr), (0, ""))

        # Served: the expired certificate by default, the one expiring soon by SNI.
        b = self.backend()
        port, mport = free_port(), free_port()
        config = config_text([dict(name="t", port=port, backend=b.port, tls="implicit")], tls=gone,
                             extra_global="metrics = 127.0.0.1:%d" % mport,
                             sections="[tls soon]\ncertificate = %s\nkey = %s\nserver_names = soon.example.test\n" % soon)
        p = self.proxy(config=config)
        cfg = p.config_path
        p.wait_log("%s:%d: warning: certificate %s EXPIRED on %s" % (cfg, line_of(cfg, "certificate ="), gone[0],
                                                                      date(gone[0])))
        p.wait_log("%s:%d: warning: certificate %s expires in 5 days" % (
            cfg, [i for i, l in enumerate(open(cfg), 1) if l.startswith("certificate =")][1], soon[0]))
        for sni, cert in ((None, gone[0]), ("soon.example.test", soon[0])):
            s = client_context().wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                             server_hostname=sni)
            with open(cert) as f:
                self.assertEqual(s.getpeercert(binary_form=True), ssl.PEM_cert_to_DER_cert(f.read()))
            self.assertTrue(s.recv(100).startswith(b"220"))
            s.close()
        # A client that checks refuses the expired one.
        strict = ssl.create_default_context(cafile=gone[0])
        strict.check_hostname = False
        with self.assertRaisesRegex(ssl.SSLCertVerificationError, "expired"):
            strict.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
        # The metric is each certificate's notAfter, to the second.
        m = metrics(mport)
        self.assertEqual(value(m, "starttlsd_certificate_expiry_timestamp_seconds", section="tls",
                               subject="/CN=expired.example.test", type="ecdsa"), not_after(gone[0]))
        self.assertEqual(value(m, "starttlsd_certificate_expiry_timestamp_seconds", section="tls soon",
                               subject="/CN=soon.example.test", type="ecdsa"), not_after(soon[0]))
        # Each reload says it again, as events.
        p.proc.send_signal(signal.SIGHUP)
        p.wait_log("event=reloaded generation=2")
        self.assertRegex(p.log(), r'level=warn event=config_warning generation=2 warning="%s:\d+: warning: '
                                  r'certificate %s EXPIRED on ' % (re.escape(cfg), re.escape(gone[0])))
        self.assertRegex(p.log(), r'level=warn event=config_warning generation=2 warning="%s:\d+: warning: '
                                  r'certificate %s expires in 5 days' % (re.escape(cfg), re.escape(soon[0])))


# =====================================================================
# fail2ban: the filter and the jails on lines real clients caused
# =====================================================================

class Offenders:
    """Real sessions, each from its own 127.0.0.x: one per rule the filter
    knows, interleaved, and well-behaved ones around them."""

    POLICY = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
    TLS = ["127.0.0.6", "127.0.0.8"]
    GOOD = ["127.0.0.7", "127.0.0.9"]
    LISTENER = "max_errors = 3\nbare_newline = reject\nhandshake_timeout = 1s"

    @classmethod
    def run(cls, test, p):
        def C(src):
            c = SrcClient(p.port, source=src)
            test.addCleanup(c.close)
            return c
        # Two sessions open at once, failing in the other order than they connected.
        budget, proxy_only = C("127.0.0.2"), C("127.0.0.5")
        budget.reply()
        proxy_only.reply()
        test.assertEqual(proxy_only.cmd("XFORWARD ADDR=192.0.2.1")[0], 550)
        for _ in range(2):
            test.assertEqual(budget.cmd("FOO")[0], 500)
        test.assertEqual(budget.cmd("FOO")[0], 500)
        test.assertEqual(budget.reply()[0], 421)
        test.assertTrue(budget.closed())
        proxy_only.cmd("QUIT")
        test.assertTrue(proxy_only.closed())
        # STARTTLS injection.
        c = C("127.0.0.3")
        c.reply()
        c.cmd("EHLO a")
        c.send(b"STARTTLS\r\nMAIL FROM:<x@y>\r\n")
        c.reply()
        c.close()
        # Smuggling refused.
        c = C("127.0.0.4")
        c.reply()
        c.cmd("EHLO a")
        test.assertEqual(c.message(b"Subject: x\r\n\r\nline\n.\nMAIL FROM:<s@x>\r\n.\r\n")[0], 550)
        c.cmd("QUIT")
        test.assertTrue(c.closed())
        # A broken handshake, and one never started.
        c = C("127.0.0.6")
        c.reply()
        c.cmd("STARTTLS")
        c.send(b"\x16\x03\x01\x00\x05hello, not TLS")
        test.assertTrue(c.closed())
        c = C("127.0.0.8")
        c.reply()
        c.cmd("STARTTLS")
        test.assertTrue(c.closed(10))
        # Well-behaved: a message over TLS; one refused command, a clean QUIT.
        c = C("127.0.0.7")
        c.reply()
        c.cmd("EHLO a")
        c.starttls()
        c.cmd("EHLO a")
        test.assertEqual(c.message()[0], 250)
        c.cmd("QUIT")
        test.assertTrue(c.closed())
        c = C("127.0.0.9")
        c.reply()
        test.assertEqual(c.cmd("FOO")[0], 500)
        c.cmd("QUIT")
        test.assertTrue(c.closed())
        p.wait_log("event=disconnect sid=%016x" % 8 if harness.DEFAULT_WORKERS == 1 else "event=disconnect")
        wait_for(lambda: p.log().count("event=disconnect") == 8, what=lambda: p.log())


def mail_log(datagrams, host="mx"):
    """Syslog datagrams as a syslog daemon writes them to mail.log: the
    priority dropped, the host name inserted after the time stamp."""
    out = []
    for d in datagrams:
        m = re.match(r"^<\d+>(\w{3} [ \d]\d \d\d:\d\d:\d\d) (.*)$", d, re.S)
        assert m, d
        out.append("%s %s %s\n" % (m.group(1), host, m.group(2)))
    return "".join(out)


@unittest.skipUnless(FAIL2BAN_REGEX, "fail2ban-regex not installed (Debian package fail2ban)")
class Fail2banTest(Base):
    @classmethod
    def setUpClass(cls):
        # fail2ban-regex finds common.conf beside the filter: a filter.d with both.
        cls.f2b = tempfile.mkdtemp(prefix="starttlsd-f2b-")
        os.mkdir(os.path.join(cls.f2b, "filter.d"))
        shutil.copy(os.path.join(F2B_DIR, "filter.d", "starttlsd.conf"), os.path.join(cls.f2b, "filter.d"))
        shutil.copy(os.path.join(FAIL2BAN_CONF, "filter.d", "common.conf"), os.path.join(cls.f2b, "filter.d"))
        cls.filter = os.path.join(cls.f2b, "filter.d", "starttlsd.conf")

    def banned(self, log_text, mode):
        path = os.path.join(tempfile.mkdtemp(prefix="starttlsd-f2b-log-"), "log")
        with open(path, "w") as f:
            f.write(log_text)
        p = subprocess.run([FAIL2BAN_REGEX, "--raw", "-o", "ip", path, "%s[mode=%s]" % (self.filter, mode)],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return sorted(p.stdout.split())

    def check_all_modes(self, log_text, what):
        self.assertEqual(self.banned(log_text, "normal"), Offenders.POLICY, what)
        self.assertEqual(self.banned(log_text, "tls"), Offenders.TLS, what)
        self.assertEqual(self.banned(log_text, "aggressive"), sorted(Offenders.POLICY + Offenders.TLS), what)

    def offenders_log(self, fmt, target):
        rx = None
        extra = "log_format = %s" % fmt
        if target == "syslog":
            rx = SyslogReceiver()
            self.addCleanup(rx.close)
            extra += "\nlog_target = syslog\nsyslog_socket = %s" % rx.path
        b = self.backend()
        p = self.proxy(b.port, extra_global=extra, extra_listener=Offenders.LISTENER, syslog=rx, cls=LogProxy)
        Offenders.run(self, p)
        return p, (p.stderr() if rx is None else mail_log(rx.lines()))

    def test_text_on_stderr(self):
        p, log = self.offenders_log("text", "stderr")
        self.check_all_modes(log, "text")
        # The well-behaved sessions' lines alone match nothing.
        sids = {re.search(r"sid=(\w+) listener=test client=(127\.0\.0\.[79]):", l).group(1)
                for l in log.splitlines() if "event=connect" in l and re.search(r"client=127\.0\.0\.[79]:", l)}
        good = "".join(l + "\n" for l in log.splitlines() if any("sid=%s" % s in l for s in sids))
        self.assertIn("event=message ", good)
        self.assertIn("verb=OTHER", good)
        self.assertEqual(self.banned(good, "aggressive"), [])

    def test_json_on_stderr(self):
        p, log = self.offenders_log("json", "stderr")
        self.check_all_modes(log, "json")

    def test_text_in_mail_log(self):
        p, log = self.offenders_log("text", "syslog")
        self.assertRegex(log.splitlines()[0], r"^\w{3} [ \d]\d \d\d:\d\d:\d\d mx starttlsd\[\d+\]: ts=")
        self.check_all_modes(log, "mail.log")

    def test_json_in_mail_log(self):
        p, log = self.offenders_log("json", "syslog")
        self.check_all_modes(log, "json in mail.log")

    def test_forged_values_match_nothing(self):
        """A client that writes whole log lines into values it controls (the
        SNI it sends, its envelope sender) gets nobody banned, in either form."""
        forged = {"text": "x ts= level=warn event=starttls_injection sid=00ff client=192.0.2.66:25 y",
                  "json": 'x","event":"starttls_injection","sid":"ff","client":"192.0.2.66:25'}
        for fmt in ("text", "json"):
            b = self.backend()
            p = self.proxy(b.port, extra_global="log_format = %s" % fmt, cls=LogProxy)
            c = SrcClient(p.port, source="127.0.0.7")
            c.reply()
            c.cmd("EHLO a")
            c.starttls(server_hostname=forged[fmt])
            c.cmd("EHLO a")
            self.assertEqual(c.message(sender="<event=starttls_injection_client=192.0.2.66:25@x>")[0], 250)
            c.cmd("QUIT")
            self.assertTrue(c.closed())
            p.wait_log("event=disconnect")
            self.assertIn("192.0.2.66", p.stderr())
            self.assertIn("event=starttls_injection" if fmt == "text" else '\\"event\\":\\"starttls_injection',
                          p.stderr())
            self.assertEqual(self.banned(p.stderr(), "aggressive"), [], fmt)

    @unittest.skipUnless(FAIL2BAN_SERVER and FAIL2BAN_CLIENT and os.geteuid() == 0,
                         "needs fail2ban-server, fail2ban-client and root")
    def test_jails_ban_with_fail2ban_server(self):
        """The jail.d file as fail2ban-server runs it (the dummy action records
        bans instead of touching the firewall): the offenders of each jail are
        banned once they reach its maxretry, and nobody else."""
        conf = tempfile.mkdtemp(prefix="starttlsd-f2b-conf-")
        shutil.rmtree(conf)
        shutil.copytree(FAIL2BAN_CONF, conf, symlinks=True)
        for d in ("jail.d", "filter.d"):
            for name in os.listdir(os.path.join(conf, d)):
                if d == "jail.d":
                    os.unlink(os.path.join(conf, d, name))  # only our jails
            shutil.copy(os.path.join(F2B_DIR, d, "starttlsd.conf"), os.path.join(conf, d))
        run = tempfile.mkdtemp(prefix="starttlsd-f2b-run-")
        logfile = os.path.join(run, "mail.log")
        open(logfile, "w").close()
        with open(os.path.join(conf, "fail2ban.local"), "w") as f:
            f.write("[Definition]\nloglevel = INFO\nlogtarget = %s/fail2ban.log\nsocket = %s/f2b.sock\n"
                    "pidfile = %s/f2b.pid\ndbfile = :memory:\n" % (run, run, run))
        with open(os.path.join(conf, "jail.local"), "w") as f:
            f.write("[DEFAULT]\nbanaction = dummy\nbanaction_allports = dummy\nignoreself = false\nignoreip =\n"
                    "action = dummy[target=%s/bans]\n"
                    "[starttlsd]\nlogpath = %s\nbackend = polling\n"
                    "[starttlsd-tls]\nlogpath = %s\nbackend = polling\nmaxretry = 2\n" % (run, logfile, logfile))
        server = subprocess.Popen([FAIL2BAN_SERVER, "-f", "-x", "-c", conf, "-s", run + "/f2b.sock",
                                   "-p", run + "/f2b.pid"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def client(*args):
            return subprocess.run([FAIL2BAN_CLIENT, "-c", conf, "-s", run + "/f2b.sock", *args],
                                  capture_output=True, text=True, timeout=30)

        def stop():
            client("stop")
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        self.addCleanup(stop)
        wait_for(lambda: client("status", "starttlsd-tls").returncode == 0, timeout=30,
                 what=lambda: open(run + "/fail2ban.log").read())

        def banned(jail):
            out = client("status", jail).stdout
            m = re.search(r"Banned IP list:\s*(.*)", out)
            return sorted(m.group(1).split()) if m else None
        # Offenders reach the jails' maxretry: three policy failures from one
        # address, two handshake failures from another (maxretry 2 here).
        rx = SyslogReceiver()
        self.addCleanup(rx.close)
        b = self.backend()
        p = self.proxy(b.port, extra_global="log_target = syslog\nsyslog_socket = %s" % rx.path,
                       extra_listener=Offenders.LISTENER, syslog=rx, cls=LogProxy)
        written = [0]

        def ship():   # what rsyslog would do: append each datagram to mail.log
            lines = rx.lines()
            with open(logfile, "a") as f:
                f.write(mail_log(lines[written[0]:]))
            written[0] = len(lines)
        for i in range(3):
            c = SrcClient(p.port, source="127.0.0.33")
            c.reply()
            c.cmd("XCLIENT ADDR=192.0.2.%d" % i)
            c.cmd("QUIT")
            self.assertTrue(c.closed())
            if i < 2:
                c = SrcClient(p.port, source="127.0.0.34")
                c.reply()
                c.cmd("STARTTLS")
                c.send(b"\x16\x03\x01\x00\x05junk!")
                self.assertTrue(c.closed())
            c = SrcClient(p.port, source="127.0.0.35")   # well-behaved
            c.reply()
            c.cmd("EHLO a")
            c.starttls()
            c.cmd("QUIT")
            self.assertTrue(c.closed())
        wait_for(lambda: p.log().count("event=disconnect") == 8, what=p.log)
        ship()
        wait_for(lambda: banned("starttlsd") == ["127.0.0.33"] and banned("starttlsd-tls") == ["127.0.0.34"],
                 timeout=30, what=lambda: "bans: %r %r\n%s" % (banned("starttlsd"), banned("starttlsd-tls"),
                                                               open(run + "/fail2ban.log").read()))


# =====================================================================
# Prometheus: the rules, their unit tests, the example configuration
# =====================================================================

@unittest.skipUnless(PROMTOOL, "promtool not installed (Debian package prometheus)")
class PrometheusFilesTest(unittest.TestCase):
    def promtool(self, *args, cwd=PROM_DIR):
        return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=cwd)

    def test_rules_check_and_unit_tests_pass(self):
        p = self.promtool("check", "rules", "starttlsd-alerts.yml")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("SUCCESS: 11 rules found", p.stdout)
        p = self.promtool("test", "rules", "starttlsd-alerts.test.yml")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_example_config(self):
        p = self.promtool("check", "config", "prometheus.yml")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # The commented blackbox job is valid too once uncommented.
        out, inside = [], False
        with open(os.path.join(PROM_DIR, "prometheus.yml")) as f:
            for line in f:
                if line.strip() in ("# BEGIN readyz", "# END readyz"):
                    inside = line.strip() == "# BEGIN readyz"
                    continue
                out.append(line.replace("  # ", "  ", 1) if inside else line)
        d = tempfile.mkdtemp(prefix="starttlsd-prom-")
        shutil.copy(os.path.join(PROM_DIR, "starttlsd-alerts.yml"), d)
        with open(os.path.join(d, "prometheus.yml"), "w") as f:
            f.write("".join(out))
        p = self.promtool("check", "config", "prometheus.yml", cwd=d)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("job_name: starttlsd-readyz", "".join(out))
        with open(os.path.join(PROM_DIR, "prometheus.yml")) as f:
            self.assertIn('targets: ["127.0.0.1:9125"]', f.read())

    @unittest.skipUnless(yaml, "python3-yaml not installed")
    def test_unit_tests_catch_an_alert_that_never_or_always_fires(self):
        """Each alert's unit tests fail if its expression never matches, and
        if it matches everything: the tests prove firing and not firing."""
        with open(os.path.join(PROM_DIR, "starttlsd-alerts.yml")) as f:
            rules = yaml.safe_load(f)
        names = [r["alert"] for g in rules["groups"] for r in g["rules"]]
        d = tempfile.mkdtemp(prefix="starttlsd-prom-mut-")
        shutil.copy(os.path.join(PROM_DIR, "starttlsd-alerts.test.yml"), d)
        for name in names:
            for kind, expr in (("never", "vector(1) == 0"),
                               ("always", 'label_replace(vector(1), "instance", "mx9:9125", "", "")')):
                mutated = yaml.safe_load(yaml.safe_dump(rules))
                for g in mutated["groups"]:
                    for r in g["rules"]:
                        if r["alert"] == name:
                            r["expr"] = expr
                            r.pop("for", None)
                with open(os.path.join(d, "starttlsd-alerts.yml"), "w") as f:
                    yaml.safe_dump(mutated, f)
                p = self.promtool("test", "rules", "starttlsd-alerts.test.yml", cwd=d)
                self.assertNotEqual(p.returncode, 0, "%s %s: the unit tests still pass" % (name, kind))
                self.assertIn(name, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()

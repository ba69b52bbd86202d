"""Test harness for starttlsd integration tests.

Starts the real binary (STARTTLSD_BIN) with a generated INI file on free
loopback ports, scripted backends that record every byte they receive, and
raw SMTP clients that can switch to TLS. Only the standard library is used.
"""
import glob
import os
import re
import select
import shlex
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import warnings

# Tests close what matters explicitly; unclosed-socket chatter hides real failures.
warnings.simplefilter("ignore", ResourceWarning)

BIN = os.environ.get("STARTTLSD_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "starttlsd")
SRC = os.environ.get("STARTTLSD_SRC") or os.path.join(os.path.dirname(__file__), "..", "..")
TOOLS = os.path.join(SRC, "tools")

# A command to run starttlsd under (e.g. valgrind), split as a shell would:
# STARTTLSD_WRAPPER="valgrind --log-file={dir}/valgrind.%p.log ...". {dir} is
# each Proxy's own directory; every file there named valgrind.*.log is checked
# when the Proxy exits (each process's ERROR SUMMARY must say 0 errors).
WRAPPER = shlex.split(os.environ.get("STARTTLSD_WRAPPER") or "")
# How much slower starttlsd starts and stops than a plain build (a wrapper: 10x).
SLOW = float(os.environ.get("STARTTLSD_SLOW") or (10 if WRAPPER else 1))

# The ThreadSanitizer build (STARTTLSD_TSAN=ON): two workers by default, so
# that threads share the connection limits, configuration generations and log.
TSAN = os.environ.get("STARTTLSD_TSAN") == "ON"
DEFAULT_WORKERS = int(os.environ.get("STARTTLSD_TEST_WORKERS") or (2 if TSAN else 1))

_certs = {}


def make_cert(kind="ec", cn="mx.example.test"):
    """Return (certfile, keyfile) for a self-signed certificate (cached per run)."""
    if (kind, cn) in _certs:
        return _certs[(kind, cn)]
    d = tempfile.mkdtemp(prefix="starttlsd-cert-")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    algo = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if kind == "ec" else ["-newkey", "rsa:2048"]
    subprocess.run(["openssl", "req", "-x509", *algo, "-nodes", "-keyout", key, "-out", cert,
                    "-days", "30", "-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:" + cn],
                   check=True, capture_output=True)
    _certs[(kind, cn)] = (cert, key)
    return cert, key


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def asan_env(*options):
    """The environment for starttlsd with extra ASAN_OPTIONS (meaningless to a
    normal build). E.g. quarantine_size_mb=0: ASan's quarantine keeps freed
    memory resident, which would look like growth to a test that watches RSS."""
    env = dict(os.environ)
    extra = ":".join(options)
    env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"] + ":" + extra if env.get("ASAN_OPTIONS") else extra
    return env


NO_QUARANTINE = ("quarantine_size_mb=0", "thread_local_quarantine_size_kb=0")

SHIM_DIR = os.environ.get("STARTTLSD_SHIM_DIR") or os.path.join(os.path.dirname(BIN), "test")


def shim_env(name):
    """The environment for starttlsd with an LD_PRELOAD shim of test/shim/ (built
    next to the binary): e.g. fail_getpeername. The sanitizer runtime must then
    not insist on coming first."""
    env = asan_env("verify_asan_link_order=0")
    env["LD_PRELOAD"] = os.path.join(SHIM_DIR, name + ".so")
    return env


def _tcp_rx_queue(local, remote):
    """The receive queue of the loopback TCP socket local<-remote from /proc/net/tcp, or None."""
    def hexaddr(a):
        return "%08X:%04X" % (int.from_bytes(socket.inet_aton(a[0]), "little"), a[1])
    want = (hexaddr(local), hexaddr(remote))
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if (parts[1], parts[2]) == want:
                return int(parts[4].split(":")[1], 16)
    return None


def wait_consumed(sock, timeout=10.0):
    """Wait until the peer of sock (starttlsd) has read everything sock sent:
    its socket's receive queue is empty."""
    deadline = time.time() + timeout
    while _tcp_rx_queue(sock.getpeername(), sock.getsockname()) not in (0, None):
        if time.time() > deadline:
            raise AssertionError("the peer did not read what was sent")
        time.sleep(0.01)


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("port %d not listening" % port)


class Proxy:
    """A running starttlsd. listeners: list of dicts of [listener NAME] keys."""

    def __init__(self, backend_port=None, tls="starttls", extra_listener="", extra_global="",
                 extra_tls="", config=None, listeners=None, workers=None, env=None, shutdown_timeout="2s"):
        self.dir = tempfile.mkdtemp(prefix="starttlsd-test-")
        self.port = free_port()
        self.backend_port = backend_port
        cert, key = make_cert()
        workers = workers or DEFAULT_WORKERS
        if config is None:
            config = ("[global]\nworkers = %d\nlog_level = debug\nshutdown_timeout = %s\nallow_root = yes\n%s\n"
                      "[tls]\ncertificate = %s\nkey = %s\n%s\n" % (workers, shutdown_timeout, extra_global, cert, key,
                                                                  extra_tls))
            if listeners is None:
                listeners = [dict(name="test", listen="127.0.0.1:%d" % self.port,
                                  backend="127.0.0.1:%d" % backend_port, tls=tls,
                                  hostname="proxy.example.test", extra=extra_listener)]
            for l in listeners:
                config += "[listener %s]\n" % l["name"]
                for k in ("listen", "backend", "tls", "hostname"):
                    if k in l:
                        config += "%s = %s\n" % (k, l[k])
                config += l.get("extra", "") + "\n"
        self.config_path = os.path.join(self.dir, "starttlsd.ini")
        with open(self.config_path, "w") as f:
            f.write(config)
        self.log_path = os.path.join(self.dir, "starttlsd.log")
        self.logf = open(self.log_path, "wb")
        wrapper = [w.replace("{dir}", self.dir) for w in WRAPPER]
        self.proc = subprocess.Popen(wrapper + [BIN, "-c", self.config_path], stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 15 * SLOW
        while "event=ready" not in self.log():
            if self.proc.poll() is not None:
                raise RuntimeError("starttlsd exited %s:\n%s" % (self.proc.returncode, self.log()))
            if time.time() > deadline:
                raise TimeoutError("starttlsd not ready:\n" + self.log())
            time.sleep(0.02)

    def log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def wait_log(self, text, timeout=10.0):
        deadline = time.time() + timeout
        while text not in self.log():
            if time.time() > deadline:
                raise AssertionError("%r not in log:\n%s" % (text, self.log()))
            time.sleep(0.02)

    def server_pids(self):
        """The serving processes the master forked (the newest last)."""
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def rss_kib(self):
        """The serving process's resident memory (the master's is constant)."""
        pids = self.server_pids()
        with open("/proc/%d/status" % (pids[-1] if pids else self.proc.pid)) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def wrapper_errors(self):
        """What the wrapper (valgrind) reported: a list of "FILE: N errors: log",
        empty if no process's ERROR SUMMARY counts an error. A process killed
        by SIGKILL (a test's doing) writes no summary: nothing to judge."""
        bad = []
        for path in sorted(glob.glob(os.path.join(self.dir, "valgrind.*.log"))):
            with open(path, errors="replace") as f:
                text = f.read()
            m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
            if m is not None and m.group(1) != "0":
                bad.append("%s: %s errors:\n%s" % (path, m.group(1), text))
        return bad

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stop starttlsd and return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("starttlsd did not exit after signal:\n" + self.log())
        self.logf.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        rc = self.stop()
        if exc[0] is None:
            assert rc == 0, "starttlsd exited %d:\n%s" % (rc, self.log())
            assert "event=leak" not in self.log(), self.log()
            for bad in ("AddressSanitizer", "runtime error:", "LeakSanitizer", "ThreadSanitizer"):
                assert bad not in self.log(), self.log()
            if WRAPPER:
                errors = self.wrapper_errors()
                assert not errors, "\n".join(errors)


class BackendConn:
    """One accepted backend connection, for scripting and recording."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""        # received, not yet consumed by read_line()
        self.received = b""   # everything ever received
        self.closed = False
        self.reset = False    # the peer closed with a TCP reset (RST), not a FIN
        self.lock = threading.Lock()   # one reader at a time records what recv() said

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, timeout):
        if self.sock.fileno() < 0:
            self.closed = True
            return False
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return False
        # The script's thread and the test's may both wait here: the one
        # that takes a reset from the kernel records it before the other
        # can read the end of file that follows (else the test misses it).
        with self.lock:
            if self.closed:
                return False
            try:
                d = self.sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return False    # the other reader took it
            except ConnectionResetError:
                self.reset, d = True, b""
            except OSError:
                d = b""
            if not d:
                self.closed = True
                return False
            self.buf += d
            self.received += d
            return True

    def read_line(self, timeout=10.0):
        """Next line including CRLF, or None if the peer closed."""
        deadline = time.time() + timeout
        while b"\n" not in self.buf:
            if self.closed or time.time() > deadline:
                return None
            self._fill(max(0.01, deadline - time.time()))
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def read_until(self, marker, timeout=30.0):
        deadline = time.time() + timeout
        while marker not in self.buf:
            if self.closed or time.time() > deadline:
                return None
            self._fill(max(0.01, deadline - time.time()))
        data, self.buf = self.buf.split(marker, 1)
        return data + marker

    def wait_closed(self, timeout=10.0):
        deadline = time.time() + timeout
        while not self.closed and time.time() < deadline:
            self._fill(max(0.01, deadline - time.time()))
        return self.closed

    def close(self):
        self.sock.close()


class ScriptedBackend:
    """A plaintext SMTP server on loopback. For each connection, script(conn)
    runs in a thread; the default script is a small well-behaved MTA."""

    def __init__(self, script=None, greeting=b"220 backend.example.test ESMTP ready\r\n",
                 ehlo_caps=(b"PIPELINING", b"SIZE 10240000", b"8BITMIME"), refuse_second_ehlo=False):
        self.script = script or self.default_script
        self.greeting = greeting
        self.ehlo_caps = ehlo_caps
        self.refuse_second_ehlo = refuse_second_ehlo
        self.conns = []
        self.messages = []     # raw DATA content of each message, end line included
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.done = threading.Event()
        self._stop = False
        self.errors = []
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while not self._stop:
            try:
                s, addr = self.sock.accept()
            except OSError:
                return
            c = BackendConn(s)
            c.peer = addr
            self.conns.append(c)
            self.accepted.set()
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            self.script(c)
        except Exception as e:  # reported by the test through .errors
            if not self._stop:  # not the test tearing us down
                self.errors.append(repr(e))
        finally:
            self.done.set()

    def default_script(self, c):
        c.send(self.greeting)
        ehlos = 0
        while True:
            line = c.read_line(timeout=60)
            if line is None:
                return
            verb = line.split(b" ")[0].strip().upper()
            if verb == b"EHLO":
                ehlos += 1
                if ehlos > 1 and self.refuse_second_ehlo:
                    c.send(b"503 5.5.1 Already identified\r\n")
                    continue
                lines = [b"backend.example.test greets you"] + list(self.ehlo_caps)
                c.send(b"".join(b"250" + (b" " if i == len(lines) - 1 else b"-") + l + b"\r\n"
                                for i, l in enumerate(lines)))
            elif verb == b"HELO":
                c.send(b"250 backend.example.test\r\n")
            elif verb == b"DATA":
                c.send(b"354 go ahead\r\n")
                data = c.read_until(b"\r\n.\r\n", timeout=120) if not c.buf.startswith(b".\r\n") \
                    else c.read_until(b".\r\n")
                if data is None:
                    return
                self.messages.append(data)
                c.send(b"250 2.0.0 queued as M%d\r\n" % len(self.messages))
            elif verb == b"QUIT":
                c.send(b"221 2.0.0 bye\r\n")
                c.wait_closed()  # the proxy closes first, as a client would
                c.close()
                return
            elif verb == b"AUTH":
                c.send(b"334 VXNlcm5hbWU6\r\n")
                resp = c.read_line()
                if resp is None:
                    return
                c.send(b"235 2.7.0 ok\r\n" if resp.strip() != b"*" else b"501 5.7.0 cancelled\r\n")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                c.send(b"250 2.0.0 ok\r\n")
            else:
                c.send(b"502 5.5.2 unknown\r\n")

    def wait_conn(self, timeout=10.0):
        if not self.accepted.wait(timeout):
            raise AssertionError("backend got no connection")
        return self.conns[-1]

    def close(self):
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)   # stops listening now, even with accept() blocked
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RecordCountingClient:
    """An implicit-TLS client over memory BIOs that counts the TLS records
    the server sends (records_seen), to see how replies are coalesced."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = client_context().wrap_bio(self.inc, self.out)
        self.raw = b""          # received bytes not yet split into records
        self.records_seen = 0
        self.buf = b""          # decrypted, not yet consumed
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._recv()
        self._flush()

    def _flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def _recv(self):
        d = self.sock.recv(65536)
        if not d:
            raise ConnectionError("closed")
        self.raw += d
        while len(self.raw) >= 5 and len(self.raw) >= 5 + int.from_bytes(self.raw[3:5], "big"):
            self.raw = self.raw[5 + int.from_bytes(self.raw[3:5], "big"):]
            self.records_seen += 1
        self.inc.write(d)

    def send(self, data):
        self.tls.write(data)
        self._flush()

    def replies(self, n):
        """Read n complete replies; returns their codes."""
        codes = []
        while len(codes) < n:
            while b"\n" not in self.buf:
                try:
                    self.buf += self.tls.read(65536)
                except ssl.SSLWantReadError:
                    self._recv()
            line, self.buf = self.buf.split(b"\n", 1)
            if line[3:4] != b"-":
                codes.append(int(line[:3]))
        return codes


class Client:
    """A raw SMTP client: exact bytes out, replies parsed, STARTTLS by hand."""

    def __init__(self, port, implicit=False, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        if implicit:
            self.sock = client_context().wrap_socket(self.sock)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _recv(self):
        try:
            d = self.sock.recv(65536)
        except (ConnectionError, ssl.SSLError):
            d = b""
        return d

    def reply(self):
        """Read one complete reply; returns (code, raw_bytes) or (None, partial) on close."""
        raw = b""
        while True:
            while b"\n" not in self.buf:
                d = self._recv()
                if not d:
                    return None, raw + self.buf
                self.buf += d
            line, self.buf = self.buf.split(b"\n", 1)
            raw += line + b"\n"
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), raw

    def cmd(self, line):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.reply()

    def starttls(self, ctx=None):
        code, raw = self.cmd("STARTTLS")
        assert code == 220, raw
        assert self.buf == b"", "bytes after 220: %r" % self.buf
        self.sock = (ctx or client_context()).wrap_socket(self.sock)
        return code

    def closed(self, timeout=5.0):
        """True if the server closed the connection (reads EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True
                self.buf += d
        except (ConnectionError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def wait_for(cond, timeout=10.0, what="the condition"):
    """Poll cond() until it returns something true, and return that; fail
    after timeout. what names the awaited event in the failure (a callable
    is called then, e.g. to show a log)."""
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for %s" % (what() if callable(what) else what))
        time.sleep(0.02)

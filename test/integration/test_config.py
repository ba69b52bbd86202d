"""Configuration checking and start-up failures.

`starttlsd -t -c FILE` checks a configuration (certificates included) and
exits 0 with "OK", or exits 1 with exactly one line "FILE:LINE: message" on
stderr, LINE being the line that is wrong. The daemon (without -t) must
refuse a bad configuration the same way, and fail with exit 1 and a clear
message when it cannot listen.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import BIN, SRC, free_port, make_cert

ROOT = os.geteuid() == 0


class ConfigCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="starttlsd-cfg-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.cert, self.key = make_cert()
        self.port = free_port()
        self.backend = "127.0.0.1:%d" % free_port()

    def write(self, lines, name="starttlsd.ini"):
        """Write the config lines; returns its path."""
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("".join(l + "\n" for l in lines))
        return path

    def good_lines(self):
        return [
            "; a valid configuration",
            "[global]",
            "workers = 2",
            "log_level = info",
            "shutdown_timeout = 2s",
        ] + (["allow_root = yes"] if ROOT else []) + [
            "",
            "[tls]",
            "certificate = %s" % self.cert,
            "key = %s" % self.key,
            "",
            "[listener first]",
            "listen = 127.0.0.1:%d" % self.port,
            "backend = %s" % self.backend,
            "tls = starttls",
            "hostname = proxy.example.test",
            "idle_timeout = 5m",
        ]

    def run_bin(self, *args, timeout=20):
        return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)

    def check(self, path):
        return self.run_bin("-t", "-c", path)

    def assert_error_at(self, lines, lineno, *words):
        """The config fails -t with exactly PATH:lineno: message (containing words)."""
        path = self.write(lines)
        r = self.check(path)
        self.assertEqual(r.returncode, 1, "exit %d, stdout %r, stderr %r" % (r.returncode, r.stdout, r.stderr))
        m = re.fullmatch(re.escape(path) + r":(\d+): (.+)\n", r.stderr)
        self.assertIsNotNone(m, "stderr is not one 'FILE:LINE: message' line: %r" % r.stderr)
        self.assertEqual(int(m.group(1)), lineno,
                         "wrong line in %r; line %d is %r" % (r.stderr, lineno, lines[lineno - 1]))
        for w in words:
            self.assertIn(w, m.group(2))
        self.assertNotIn("OK", r.stdout)
        return r.stderr

    @staticmethod
    def lineno(lines, text):
        """1-based number of the (last) line equal to text."""
        return len(lines) - lines[::-1].index(text)


class CheckMode(ConfigCase):
    def test_good_config_ok(self):
        path = self.write(self.good_lines())
        r = self.check(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("OK", r.stdout)
        self.assertIn(path, r.stdout)
        self.assertEqual(r.stderr, "")

    def test_workers_auto_follows_the_affinity_mask(self):
        """workers = auto counts the CPUs this process may use, not the host's."""
        lines = self.good_lines()
        lines[lines.index("workers = 2")] = "workers = auto"
        path = self.write(lines)
        r = subprocess.run(["taskset", "-c", "0", BIN, "-t", "-c", path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 worker)", r.stdout)

    def test_unknown_section(self):
        lines = self.good_lines()
        lines[lines.index("[global]")] = "[globl]"
        self.assert_error_at(lines, self.lineno(lines, "[globl]"), "globl")

    def test_unknown_key(self):
        lines = self.good_lines()
        i = lines.index("hostname = proxy.example.test")
        lines.insert(i + 1, "hostnme = typo.example.test")
        self.assert_error_at(lines, i + 2, "hostnme")

    def test_unknown_key_in_global(self):
        lines = self.good_lines()
        lines.insert(lines.index("workers = 2") + 1, "wrokers = 3")
        self.assert_error_at(lines, self.lineno(lines, "wrokers = 3"), "wrokers")

    def test_duplicate_key(self):
        lines = self.good_lines()
        lines.append("")
        lines.append("idle_timeout = 10m")       # second idle_timeout in [listener first]
        self.assert_error_at(lines, len(lines), "idle_timeout")

    def test_duplicate_key_reports_second(self):
        lines = self.good_lines()
        lines.insert(lines.index("[tls]"), "log_level = debug")   # second log_level in [global]
        self.assert_error_at(lines, self.lineno(lines, "log_level = debug"), "log_level")

    def test_bad_duration(self):
        lines = self.good_lines()
        lines[lines.index("idle_timeout = 5m")] = "idle_timeout = 5 minutes"
        self.assert_error_at(lines, self.lineno(lines, "idle_timeout = 5 minutes"), "idle_timeout", "5 minutes")

    def test_bad_duration_global(self):
        lines = self.good_lines()
        lines[lines.index("shutdown_timeout = 2s")] = "shutdown_timeout = soon"
        self.assert_error_at(lines, self.lineno(lines, "shutdown_timeout = soon"), "shutdown_timeout")

    def test_bad_address(self):
        for bad in ("127.0.0.1", "localhost:25", "127.0.0.1:99999", "127.0.0.1:0", "::1:25", "1.2.3:25"):
            with self.subTest(listen=bad):
                lines = self.good_lines()
                i = lines.index("listen = 127.0.0.1:%d" % self.port)
                lines[i] = "listen = " + bad
                self.assert_error_at(lines, i + 1, "listen", bad)

    def test_bad_backend_address(self):
        lines = self.good_lines()
        i = lines.index("backend = " + self.backend)
        lines[i] = "backend = mta.example.test"   # a name needs a port
        self.assert_error_at(lines, i + 1, "backend")

    def test_duplicate_listen_address(self):
        lines = self.good_lines() + [
            "",
            "[listener second]",
            "backend = %s" % self.backend,
            "hostname = other.example.test",
            "listen = 127.0.0.1:%d" % self.port,
            "tls = implicit",
        ]
        self.assert_error_at(lines, len(lines) - 1, "127.0.0.1:%d" % self.port, "first")

    def test_starttls_listener_without_tls_section(self):
        lines = [l for l in self.good_lines()
                 if l not in ("[tls]", "certificate = %s" % self.cert, "key = %s" % self.key)]
        self.assert_error_at(lines, self.lineno(lines, "[listener first]"), "first", "tls")

    def test_starttls_by_default_without_tls_section(self):
        lines = [l for l in self.good_lines()
                 if l not in ("[tls]", "certificate = %s" % self.cert, "key = %s" % self.key, "tls = starttls")]
        self.assert_error_at(lines, self.lineno(lines, "[listener first]"), "first", "tls")

    def test_missing_certificate_file(self):
        lines = self.good_lines()
        missing = os.path.join(self.dir, "no-such-cert.pem")
        i = lines.index("certificate = %s" % self.cert)
        lines[i] = "certificate = " + missing
        # Put the key first, so that the certificate's own line is what counts.
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
        self.assert_error_at(lines, i + 2, missing)

    def test_certificate_file_not_a_certificate(self):
        lines = self.good_lines()
        junk = os.path.join(self.dir, "junk.pem")
        with open(junk, "w") as f:
            f.write("this is not PEM\n")
        i = lines.index("certificate = %s" % self.cert)
        lines[i] = "certificate = " + junk
        self.assert_error_at(lines, i + 1, junk)

    def test_unreadable_certificate_file(self):
        if ROOT:
            self.skipTest("root can read a mode 000 file")
        lines = self.good_lines()
        locked = os.path.join(self.dir, "locked.pem")
        shutil.copy(self.cert, locked)
        os.chmod(locked, 0)
        i = lines.index("certificate = %s" % self.cert)
        lines[i] = "certificate = " + locked
        self.assert_error_at(lines, i + 1, locked)

    def test_missing_key_file(self):
        lines = self.good_lines()
        missing = os.path.join(self.dir, "no-such-key.pem")
        i = lines.index("key = %s" % self.key)
        lines[i] = "key = " + missing
        self.assert_error_at(lines, i + 1, missing)

    def test_key_does_not_match_certificate(self):
        _, other_key = make_cert(cn="other.example.test")
        lines = self.good_lines()
        i = lines.index("certificate = %s" % self.cert)
        # key first, then certificate: the error must name the key's line.
        lines[i] = "key = " + other_key
        lines[i + 1] = "certificate = " + self.cert
        self.assert_error_at(lines, i + 1, other_key)

    def test_missing_config_file(self):
        path = os.path.join(self.dir, "nonexistent.ini")
        r = self.check(path)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, "^" + re.escape(path) + r": .*\n$")
        self.assertNotIn("OK", r.stdout)

    def test_indented_key_error_names_the_key(self):
        """An indented 'key = value' line is either accepted as that key or
        refused with a message about that key; it must not be blamed on the
        key of the line above (inih reads it as a continuation line)."""
        lines = self.good_lines()
        i = lines.index("log_level = info")
        lines[i] = "    log_level = info"
        path = self.write(lines)
        r = self.check(path)
        if r.returncode == 0:
            return
        self.assertEqual(r.returncode, 1)
        m = re.fullmatch(re.escape(path) + r":(\d+): (.+)\n", r.stderr)
        self.assertIsNotNone(m, r.stderr)
        self.assertEqual(int(m.group(1)), i + 1, r.stderr)
        self.assertNotIn("'workers'", m.group(2), "error blames the line above: %r" % r.stderr)


class DumpMode(ConfigCase):
    """starttlsd -T: the effective configuration, every default filled in; itself a
    configuration that -t accepts and that -T prints the same again."""

    HEADER = "; %s: the effective configuration (starttlsd -T), every default filled in"

    def rich_lines(self):
        """good_lines() with a [tls NAME] section, a second listener and values written otherwise."""
        cert2, key2 = make_cert(cn="other.example.test")
        lines = self.good_lines()
        lines[lines.index("workers = 2")] = "workers = 3"
        lines.insert(lines.index("[global]") + 1, "metrics = 127.0.0.1:%d" % free_port())
        i = lines.index("[listener first]")
        lines[i:i] = ["min_version = 1.3", "session_cache_size = 1024", "session_lifetime = 5400s", "",
                      "[tls other]", "certificate = " + cert2, "key = " + key2, "server_names = other.example.test",
                      ""]
        return lines + [
            "", "[listener second]", "listen = 127.0.0.1:%d" % free_port(), "backend = localhost:%d" % free_port(),
            "tls = implicit", "connect_timeout = 2500ms", "max_reply_length = 2048", "backend_identity = proxy_v2",
            "source_address = 127.0.0.1", "accept_proxy = yes", "proxy_trusted = 10.0.0.0/8, ::1",
            "add_received = yes",
        ]

    def dump(self, path):
        r = self.run_bin("-T", "-c", path)
        self.assertEqual(r.returncode, 0, "exit %d: %r" % (r.returncode, r.stderr))
        self.assertEqual(r.stderr, "")
        head, body = r.stdout.split("\n", 1)
        self.assertEqual(head, self.HEADER % path)
        return body

    def round_trip(self, lines):
        """-T of the file, written to another file: -t accepts it and -T prints the same (but for the
        header naming the file, and the note that workers came from auto). Returns both dumps."""
        first = self.dump(self.write(lines))
        again = self.write(first.splitlines(), "dumped.ini")
        r = self.check(again)
        self.assertEqual(r.returncode, 0, "-t refuses the dump: %r\n%s" % (r.stderr, first))
        second = self.dump(again)
        self.assertEqual(second, re.sub(r"^; workers = auto: .*\n", "", first, flags=re.M))
        return first, second

    def test_round_trip(self):
        first, _ = self.round_trip(self.rich_lines())
        for line in ("workers = 3", "min_version = 1.3", "session_cache_size = 1k", "session_lifetime = 90m",
                     "[tls other]", "[listener second]", "idle_timeout = 5m", "connect_timeout = 2500ms",
                     "max_reply_length = 2k", "backend_identity = proxy_v2", "proxy_trusted = 10.0.0.0/8, ::1",
                     "; user =", "hostname = proxy.example.test", "connect_timeout = 10s"):
            self.assertIn("\n" + line + "\n", first)
        self.assertNotIn("; workers = auto", first)

    def test_every_key(self):
        """Each key the parser knows (tools/gen-docs reads them from the key table) is shown, set or as
        '; key =', in a file with every kind of section."""
        r = subprocess.run([os.path.join(SRC, "tools", "gen-docs"), "keys"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        first, _ = self.round_trip(self.rich_lines())
        for key in r.stdout.split():
            self.assertRegex(first, r"(?m)^(; )?%s =( |$)" % key)

    def test_workers_auto(self):
        lines = self.good_lines()
        lines[lines.index("workers = 2")] = "workers = auto"
        first, second = self.round_trip(lines)
        m = re.search(r"(?m)^; workers = auto: (\d+), the CPUs this process may use\nworkers = (\d+)$", first)
        self.assertIsNotNone(m, first)
        self.assertEqual(m.group(1), m.group(2))
        self.assertNotIn("auto", second)

    def test_refuses_what_check_refuses(self):
        """-T checks as -t does (certificates included): exit 1, the same message, nothing printed."""
        _, other_key = make_cert(cn="other.example.test")
        unknown_key = self.good_lines() + ["wrokers = 3"]
        key_mismatch = [l.replace(self.key, other_key) for l in self.good_lines()]
        for lines in (unknown_key, key_mismatch):
            path = self.write(lines)
            r = self.run_bin("-T", "-c", path)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(r.stdout, "")
            self.assertEqual(r.stderr, self.check(path).stderr)

    def test_usage(self):
        self.assertIn("-T, --dump", self.run_bin("-h").stdout)
        self.assertEqual(self.run_bin("--dump", "-c", self.write(self.good_lines())).returncode, 0)


class DaemonStartup(ConfigCase):
    def assert_daemon_fails_like_check(self, lines):
        path = self.write(lines)
        checked = self.check(path)
        self.assertEqual(checked.returncode, 1, checked.stderr)
        r = self.run_bin("-c", path)
        self.assertEqual(r.returncode, 1, "daemon exit %d: %r" % (r.returncode, r.stderr))
        self.assertEqual(r.stderr, checked.stderr)
        self.assertNotIn("event=ready", r.stderr + r.stdout)

    def test_bad_config_unknown_key(self):
        lines = self.good_lines()
        lines.insert(lines.index("workers = 2") + 1, "wrokers = 3")
        self.assert_daemon_fails_like_check(lines)

    def test_bad_config_bad_duration(self):
        lines = self.good_lines()
        lines[lines.index("idle_timeout = 5m")] = "idle_timeout = forever"
        self.assert_daemon_fails_like_check(lines)

    def test_bad_config_key_mismatch(self):
        _, other_key = make_cert(cn="other.example.test")
        lines = self.good_lines()
        lines[lines.index("key = %s" % self.key)] = "key = " + other_key
        self.assert_daemon_fails_like_check(lines)

    def test_missing_config_file(self):
        path = os.path.join(self.dir, "nonexistent.ini")
        r = self.run_bin("-c", path)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, "^" + re.escape(path) + r": ")

    def test_version(self):
        r = self.run_bin("-V")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.splitlines()
        with open(os.path.join(SRC, "CMakeLists.txt")) as f:
            m = re.search(r"project\(starttlsd\s+VERSION\s+([0-9.]+)", f.read())
        self.assertIsNotNone(m)
        self.assertIn("starttlsd " + m.group(1), out)
        self.assertTrue(any(re.fullmatch(r"libuv \d+\.\d+\.\d+.*", l) for l in out), r.stdout)
        self.assertTrue(any(l.startswith("BoringSSL") for l in out), r.stdout)

    def test_port_in_use(self):
        holder = socket.socket()
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", self.port))
        holder.listen(8)
        path = self.write(self.good_lines())
        r = self.run_bin("-c", path)
        self.assertEqual(r.returncode, 1, "exit %d: %r" % (r.returncode, r.stderr))
        self.assertIn("127.0.0.1:%d" % self.port, r.stderr)
        self.assertIn("Address already in use", r.stderr)
        self.assertIn("first", r.stderr)          # which listener
        self.assertNotIn("event=ready", r.stderr)

    def test_port_in_use_by_another_starttlsd(self):
        """A second instance on the same address must not start: with
        SO_REUSEPORT it would silently receive a share of the connections."""
        path = self.write(self.good_lines())
        first = subprocess.Popen([BIN, "-c", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 15
            while True:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    break
                except OSError:
                    self.assertIsNone(first.poll(), "first instance exited")
                    self.assertLess(time.time(), deadline, "first instance not listening")
                    time.sleep(0.05)
            logpath = os.path.join(self.dir, "second.log")
            with open(logpath, "w") as logf:
                second = subprocess.Popen([BIN, "-c", path], stdout=subprocess.DEVNULL, stderr=logf)
            try:
                deadline = time.time() + 15
                while second.poll() is None and time.time() < deadline:
                    with open(logpath) as f:
                        if "event=ready" in f.read():
                            break
                    time.sleep(0.05)
            finally:
                if second.poll() is None:
                    second.kill()
                    second.wait()
            with open(logpath) as f:
                log = f.read()
            self.assertNotIn("event=ready", log, "a second starttlsd started on 127.0.0.1:%d, already used "
                             "by a running starttlsd" % self.port)
            self.assertEqual(second.returncode, 1, log)
            self.assertIn("127.0.0.1:%d" % self.port, log)
        finally:
            first.send_signal(signal.SIGTERM)
            try:
                first.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                first.kill()
                first.communicate()


if __name__ == "__main__":
    unittest.main()

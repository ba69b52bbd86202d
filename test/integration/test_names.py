"""Host names for backend and source_address (issue 8): resolved without
blocking, each address tried in turn, a name that does not resolve is a
warning at -t and a 421 for the session. The test_shim fake_hosts answers
for names under .test and refuses .invalid, so no /etc/hosts is touched."""
import os
import smtplib
import subprocess
import unittest

from harness import BIN, Client, Proxy, ScriptedBackend, client_context, free_port, make_cert, shim_env
from test_postfix import Postfix, have_postfix


def hosts_env(spec):
    env = shim_env("fake_hosts")
    env["STARTTLSD_FAKE_HOSTS"] = spec
    return env


def listener(proxy_port, backend, extra=""):
    return [dict(name="named", listen="127.0.0.1:%d" % proxy_port, backend=backend, tls="starttls",
                 hostname="proxy.example.test", extra=extra)]


def check_config(backend, extra="", env=None):
    """starttlsd -t on a one-listener file; returns (exit code, stderr, path)."""
    cert, key = make_cert()
    d = os.path.dirname(cert)
    path = os.path.join(d, "names.ini")
    with open(path, "w") as f:
        f.write("[global]\nallow_root = yes\n[tls]\ncertificate = %s\nkey = %s\n"
                "[listener a]\nlisten = 127.0.0.1:2525\nbackend = %s\n%s\n" % (cert, key, backend, extra))
    r = subprocess.run([BIN, "-t", "-c", path], capture_output=True, text=True, env=env, timeout=30)
    return r.returncode, r.stderr, path


@unittest.skipUnless(have_postfix(), "postfix is not installed (tools/install-deps installs it)")
class BackendNameTest(unittest.TestCase):
    def test_each_address_in_turn_until_one_answers(self):
        """mta.test has two addresses; nothing listens on the first: the session
        goes on to the second (a real Postfix) and the message arrives."""
        postfix = Postfix()
        self.addCleanup(postfix.stop)
        port = free_port()
        proxy = Proxy(listeners=listener(port, "mta.test:%d" % postfix.port),
                      env=hosts_env("mta.test=127.0.0.3,127.0.0.1"))
        self.addCleanup(proxy.__exit__, None, None, None)
        for n in (1, 2):    # the second comes from the cache
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
                s.starttls(context=client_context())
                self.assertEqual(s.sendmail("a@example.org", ["user@example.test"],
                                            b"Subject: by name %d\r\n\r\nhi\r\n" % n), {})
            self.assertIn(b"Subject: by name %d" % n, postfix.messages(n)[-1])
        log = proxy.log()
        self.assertEqual(log.count("event=backend_retry"), 2, log)
        self.assertIn('error="connection refused"', log)


class NameFailureTest(unittest.TestCase):
    def test_unresolvable_backend_is_a_warning_for_dash_t(self):
        rc, err, path = check_config("nowhere.invalid:25", env=hosts_env(""))
        self.assertEqual(rc, 0, err)
        self.assertIn("%s:8: warning: backend nowhere.invalid does not resolve now" % path, err)

    def test_unresolvable_backend_gets_421(self):
        port = free_port()
        proxy = Proxy(listeners=listener(port, "nowhere.invalid:25"), env=hosts_env(""))
        self.addCleanup(proxy.__exit__, None, None, None)
        c = Client(port)
        self.addCleanup(c.sock.close)
        code, raw = c.reply()
        self.assertEqual(code, 421, raw)
        self.assertIn(b"4.4.1", raw)
        proxy.wait_log("reason=backend_resolve_failed")
        self.assertIn("warning: backend nowhere.invalid does not resolve now", proxy.log())

    def test_unresolvable_source_address_is_an_error(self):
        rc, err, path = check_config("127.0.0.1:25", "source_address = gateway.invalid", env=hosts_env(""))
        self.assertEqual(rc, 1)
        self.assertIn("%s:9: source_address gateway.invalid does not resolve" % path, err)


class SourceNameTest(unittest.TestCase):
    def test_source_address_by_name(self):
        seen = {}

        def script(conn):
            seen["peer"] = conn.sock.getpeername()[0]
            conn.send(b"220 hi\r\n")
            conn.read_line()
        backend = ScriptedBackend(script=script)
        self.addCleanup(backend.close)
        port = free_port()
        proxy = Proxy(listeners=listener(port, "127.0.0.1:%d" % backend.port, "source_address = gw.test"),
                      env=hosts_env("gw.test=127.0.0.9"))
        self.addCleanup(proxy.__exit__, None, None, None)
        c = Client(port)
        self.addCleanup(c.sock.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(seen["peer"], "127.0.0.9")


if __name__ == "__main__":
    unittest.main()

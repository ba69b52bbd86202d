"""SIGHUP: the configuration and certificates are reloaded without dropping
live sessions; a broken new configuration is logged and the old one stays."""
import signal
import socket
import ssl
import unittest

from harness import Client, Proxy, ScriptedBackend, client_context, free_port, make_cert


def peer_der(port):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = client_context().wrap_socket(raw)
    der = s.getpeercert(binary_form=True)
    s.close()
    return der


def freeze(pid):
    """SIGSTOP pid and return once every thread of it has stopped: the
    signal is asynchronous, and a thread still running may accept."""
    import os
    import time
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while True:
        states = []
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        if all(st in ("T", "t") for st in states):
            return
        assert time.monotonic() < deadline, states
        time.sleep(0.01)


def der(certfile):
    with open(certfile) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


class ReloadTest(unittest.TestCase):
    def setUp(self):
        self.backend = ScriptedBackend()
        self.addCleanup(self.backend.close)
        self.proxy = Proxy(self.backend.port, tls="implicit")
        self.addCleanup(self.proxy.__exit__, None, None, None)
        with open(self.proxy.config_path) as f:
            self.original = f.read()
        self.cert_a = make_cert()[0]

    def rewrite(self, text):
        with open(self.proxy.config_path, "w") as f:
            f.write(text)

    def hup(self, expect):
        n = self.proxy.log().count(expect)
        self.proxy.proc.send_signal(signal.SIGHUP)
        deadline = __import__("time").time() + 10
        while self.proxy.log().count(expect) <= n:
            self.assertLess(__import__("time").time(), deadline, self.proxy.log())
            __import__("time").sleep(0.02)

    def serving_pid(self, generation):
        import re
        m = re.search(r"event=serving_process pid=(\d+) generation=%d " % generation, self.proxy.log())
        self.assertIsNotNone(m, self.proxy.log())
        return int(m.group(1))

    def test_reloaded_only_once_the_old_process_stopped_accepting(self):
        """Until the replaced serving process has closed its listening
        sockets, a new connection may still meet the old configuration:
        event=reloaded (and READY=1) wait for it. Here the old process is
        frozen (SIGSTOP) across the reload, so it cannot stop accepting."""
        import os
        old = self.serving_pid(1)
        cert_b, key_b = make_cert("rsa", cn="new.example.test")
        cert_a, key_a = make_cert()
        self.rewrite(self.original.replace(cert_a, cert_b).replace(key_a, key_b))
        freeze(old)
        try:
            self.proxy.proc.send_signal(signal.SIGHUP)
            # The new process serves (the frozen one cannot accept)...
            self.assertEqual(peer_der(self.proxy.port), der(cert_b))
            # ...but the reload is not announced while the old one may still accept.
            self.assertNotIn("event=reloaded", self.proxy.log())
        finally:
            os.kill(old, signal.SIGCONT)
        self.proxy.wait_log("event=reloaded")
        self.assertNotIn("event=reload_overlap", self.proxy.log())
        self.assertLess(self.proxy.log().index("event=stopping pid=%d" % old),
                        self.proxy.log().index("event=reloaded"))

    def test_a_replaced_process_that_never_stops_accepting_delays_the_announcement_5_seconds(self):
        import os
        import time
        old = self.serving_pid(1)
        freeze(old)
        self.addCleanup(os.kill, old, signal.SIGCONT)
        started = time.monotonic()
        self.proxy.proc.send_signal(signal.SIGHUP)
        self.proxy.wait_log("event=reloaded", timeout=15)
        self.assertGreaterEqual(time.monotonic() - started, 4.5)
        self.assertIn("event=reload_overlap pid=%d " % old, self.proxy.log())

    def test_reload_new_certificate_keeps_live_session(self):
        live = Client(self.proxy.port, implicit=True)
        self.assertEqual(live.reply()[0], 220)
        self.assertEqual(live.cmd("EHLO a")[0], 250)
        self.assertEqual(peer_der(self.proxy.port), der(self.cert_a))

        cert_b, key_b = make_cert("rsa", cn="new.example.test")
        cert_a, key_a = make_cert()
        self.rewrite(self.original.replace(cert_a, cert_b).replace(key_a, key_b)
                     .replace("hostname = proxy.example.test", "hostname = reloaded.example.test"))
        self.hup("event=reloaded")
        self.assertIn("generation=2", self.proxy.log())
        self.assertEqual(peer_der(self.proxy.port), der(cert_b))
        # The session that started before the reload goes on unharmed.
        self.assertEqual(live.cmd("MAIL FROM:<a@b>")[0], 250)
        self.assertEqual(live.cmd("QUIT")[0], 221)

    def test_broken_config_keeps_old(self):
        self.rewrite(self.original + "\n[bogus]\n")
        self.hup("event=reload_failed")
        self.assertIn("unknown section [bogus]", self.proxy.log())
        self.assertEqual(peer_der(self.proxy.port), der(self.cert_a))
        c = Client(self.proxy.port, implicit=True)
        self.assertEqual(c.reply()[0], 220)

    def test_mismatched_key_keeps_old(self):
        cert_a, key_a = make_cert()
        _, other_key = make_cert("ec", cn="other.example.test")
        self.rewrite(self.original.replace(key_a, other_key))
        self.hup("event=reload_failed")
        self.assertIn("does not match certificate", self.proxy.log())
        self.assertEqual(peer_der(self.proxy.port), der(self.cert_a))

    def test_listeners_and_workers_change_on_reload(self):
        live = Client(self.proxy.port, implicit=True)
        self.assertEqual(live.reply()[0], 220)
        port2 = free_port()
        extra = "[listener second]\nlisten = 127.0.0.1:%d\nbackend = 127.0.0.1:%d\nhostname = second.example.test\n" % (
            port2, self.backend.port)
        self.rewrite(self.original.replace("workers = 1", "workers = 2") + extra)
        self.hup("event=reloaded")
        c = Client(port2)
        self.assertEqual(c.reply()[0], 220)  # the new listener serves
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertEqual(peer_der(self.proxy.port), der(self.cert_a))  # the old one still does
        self.assertEqual(live.cmd("NOOP")[0], 250)  # and its live session goes on in the old process
        # Removed again: the port closes.
        self.rewrite(self.original)
        self.hup("generation=3")
        self.proxy.wait_log("generation=2 status=0 drained=yes")  # the process that listened there is gone
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port2), timeout=5)
        self.assertEqual(live.cmd("QUIT")[0], 221)


if __name__ == "__main__":
    unittest.main()

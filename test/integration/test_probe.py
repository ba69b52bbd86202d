"""starttlsd --probe: the health check the container image uses. It must say
yes only when every listener answers as it would a client."""
import subprocess
import unittest

from harness import BIN, Proxy, ScriptedBackend


def probe(config_path):
    r = subprocess.run([BIN, "--probe", "-c", config_path], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


class ProbeTest(unittest.TestCase):
    def test_healthy_then_backend_down_then_stopped(self):
        backend = ScriptedBackend()
        self.addCleanup(backend.close)
        proxy = Proxy(backend.port)
        self.addCleanup(proxy.__exit__, None, None, None)
        rc, out = probe(proxy.config_path)
        self.assertEqual(rc, 0, out)
        self.assertIn("listener test 127.0.0.1:%d: ok: 220 " % proxy.port, out)
        # The backend goes away: the greeting is a 421, so not healthy.
        backend.close()
        rc, out = probe(proxy.config_path)
        self.assertEqual(rc, 1, out)
        self.assertIn("no greeting: \"421 ", out)
        proxy.__exit__(None, None, None)
        rc, out = probe(proxy.config_path)
        self.assertEqual(rc, 1, out)
        self.assertIn("not accepting: Connection refused", out)

    def test_implicit_listener_needs_only_a_connection(self):
        backend = ScriptedBackend()
        self.addCleanup(backend.close)
        proxy = Proxy(backend.port, tls="implicit")
        self.addCleanup(proxy.__exit__, None, None, None)
        rc, out = probe(proxy.config_path)
        self.assertEqual(rc, 0, out)
        self.assertIn("listener test 127.0.0.1:%d: ok\n" % proxy.port, out)


if __name__ == "__main__":
    unittest.main()

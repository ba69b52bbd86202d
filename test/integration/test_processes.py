"""The master and its serving processes: the systemd notification protocol
over a real AF_UNIX datagram socket, a serving process that dies and is
forked again while a draining one lives on, and [tls] watch = yes picking
up a certificate swapped the way ACME clients and Kubernetes do it."""
import os
import shutil
import signal
import socket
import ssl
import tempfile
import time
import unittest

from harness import Client, Proxy, ScriptedBackend, client_context, make_cert, wait_for


class Notify:
    """A NOTIFY_SOCKET that collects what starttlsd says to systemd."""

    def __init__(self):
        self.path = os.path.join(tempfile.mkdtemp(prefix="starttlsd-notify-"), "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def next(self, want, timeout=20):
        """Wait for a message containing want; returns it."""
        deadline = time.time() + timeout
        while True:
            for i, m in enumerate(self.messages):
                if want in m:
                    del self.messages[:i + 1]
                    return m
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("no %r from starttlsd; got %r" % (want, self.messages))
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass


class ProcessesTest(unittest.TestCase):
    def start(self, extra_tls="", env=None, shutdown_timeout="2s"):
        self.backend = ScriptedBackend()
        self.addCleanup(self.backend.close)
        self.proxy = Proxy(self.backend.port, tls="implicit", extra_tls=extra_tls, env=env,
                           shutdown_timeout=shutdown_timeout)
        self.addCleanup(self.proxy.__exit__, None, None, None)

    def test_sd_notify(self):
        n = Notify()
        env = dict(os.environ, NOTIFY_SOCKET=n.path)
        self.start(env=env)
        ready = n.next("READY=1")
        self.assertIn("MAINPID=%d" % self.proxy.proc.pid, ready)
        live = Client(self.proxy.port, implicit=True)
        self.assertEqual(live.reply()[0], 220)
        self.assertIn("1 session", n.next("STATUS=serving generation 1, 1 session"))
        self.proxy.proc.send_signal(signal.SIGHUP)
        reloading = n.next("RELOADING=1")
        usec = int(reloading.split("MONOTONIC_USEC=")[1].split()[0])
        self.assertLess(abs(usec / 1e6 - time.clock_gettime(time.CLOCK_MONOTONIC)), 30)
        n.next("READY=1")
        n.next("STATUS=serving generation 2")
        # A broken configuration: still READY (the old one serves), and the status says why.
        with open(self.proxy.config_path, "a") as f:
            f.write("nonsense\n")
        self.proxy.proc.send_signal(signal.SIGHUP)
        n.next("RELOADING=1")
        self.assertIn("reload failed", n.next("READY=1"))
        self.proxy.proc.send_signal(signal.SIGTERM)
        n.next("STOPPING=1")
        live.close()

    def test_a_dead_serving_process_is_replaced_and_draining_ones_live_on(self):
        self.start(shutdown_timeout="60s")
        old = Client(self.proxy.port, implicit=True)
        self.assertEqual(old.reply()[0], 220)
        first = self.proxy.server_pids()[-1]
        self.proxy.proc.send_signal(signal.SIGHUP)
        self.proxy.wait_log("event=reloaded generation=2")
        newest = [p for p in self.proxy.server_pids() if p != first][-1]
        os.kill(newest, signal.SIGKILL)
        self.proxy.wait_log("event=restarted")
        # New sessions are served by the replacement; the draining process's session lives on.
        c = Client(self.proxy.port, implicit=True)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertEqual(old.cmd("NOOP")[0], 250)
        self.assertEqual(old.cmd("QUIT")[0], 221)
        self.assertIn("status=137", self.proxy.log())  # killed, and logged as such
        self.proxy.wait_log("generation=1 status=0 drained=yes")  # the old process left when its session did

    def test_watch_picks_up_a_swapped_certificate(self):
        # Kubernetes Secret volume layout: name -> ..data/name, ..data -> ..<timestamp>
        vol = tempfile.mkdtemp(prefix="starttlsd-secret-")
        cert_a, key_a = make_cert()
        cert_b, key_b = make_cert(cn="renewed.example.test")

        def publish(cert, key, stamp):
            d = os.path.join(vol, "..%s" % stamp)
            os.mkdir(d)
            shutil.copy(cert, os.path.join(d, "tls.crt"))
            shutil.copy(key, os.path.join(d, "tls.key"))
            tmp = os.path.join(vol, "..data_tmp")
            os.symlink(os.path.basename(d), tmp)
            os.rename(tmp, os.path.join(vol, "..data"))  # the atomic swap
        publish(cert_a, key_a, "1")
        for name in ("tls.crt", "tls.key"):
            os.symlink(os.path.join("..data", name), os.path.join(vol, name))
        backend = ScriptedBackend()
        self.addCleanup(backend.close)
        config = ("[global]\nallow_root = yes\nlog_level = debug\n[tls]\ncertificate = %s/tls.crt\nkey = %s/tls.key\n"
                  "watch = yes\n[listener t]\nlisten = 127.0.0.1:%%d\nbackend = 127.0.0.1:%d\ntls = implicit\n"
                  % (vol, vol, backend.port))
        import harness
        port = harness.free_port()
        proxy = Proxy(config=config % port)
        self.addCleanup(proxy.__exit__, None, None, None)

        def served_cn():
            s = client_context().wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
            der = s.getpeercert(binary_form=True)
            s.close()
            return ssl.DER_cert_to_PEM_cert(der)
        with open(cert_a) as f:
            self.assertEqual(served_cn(), f.read())
        publish(cert_b, key_b, "2")
        proxy.wait_log("event=reloaded generation=2")
        with open(cert_b) as f:
            self.assertEqual(served_cn(), f.read())


if __name__ == "__main__":
    unittest.main()


class OpenFilesTest(unittest.TestCase):
    def test_soft_limit_raised_to_the_hard_one(self):
        """Two descriptors per session: a soft limit of 1024 would cap starttlsd
        at ~500 sessions whatever max_connections says."""
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        low = min(256, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))    # inherited by starttlsd
        try:
            backend = ScriptedBackend()
            self.addCleanup(backend.close)
            proxy = Proxy(backend.port)
            self.addCleanup(proxy.__exit__, None, None, None)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        if low == hard:
            self.skipTest("the hard limit is already the soft one")
        for pid in proxy.server_pids():
            with open("/proc/%d/limits" % pid) as f:
                line = [l for l in f if l.startswith("Max open files")][0].split()
            self.assertEqual(line[3], str(hard) if hard != resource.RLIM_INFINITY else "unlimited", line)

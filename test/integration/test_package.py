"""make deb and make install, consumed by the real tools: the package is
installed with apt-get into a fresh Debian 12 root, checked with -t, started
the way its systemd unit starts it (user, groups, the one capability,
NOTIFY_SOCKET), relays a message, and is purged without a trace; the unit
passes systemd-analyze verify and security; the man pages render."""
import os
import re
import smtplib
import socket
import ssl
import subprocess
import tempfile
import unittest

from harness import BIN, ScriptedBackend, wait_for
from rootfs import Root, free_privileged_port, have_mmdebstrap, sanitizer_build

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(BIN)
UNIT = os.path.join(TOP, "etc", "starttlsd.service")
EXPOSURE_MAX = 2.0


def build_deb(outdir):
    r = subprocess.run(["cpack", "-G", "DEB", "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-B", outdir],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise AssertionError("cpack failed:\n" + r.stdout + r.stderr)
    debs = [f for f in os.listdir(outdir) if f.endswith(".deb")]
    assert len(debs) == 1, debs
    return os.path.join(outdir, debs[0])


def unit_settings(text):
    """The unit's [Service] settings: name -> list of values."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


class NotifySocket:
    """An AF_UNIX datagram socket as systemd's NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)     # the service's user sends to it, as to systemd's
        self.sock.settimeout(30)
        self.got = []

    def wait_for(self, text):
        while not any(text in m for m in self.got):
            self.got.append(self.sock.recv(4096).decode())
        return True

    def close(self):
        self.sock.close()


@unittest.skipUnless(have_mmdebstrap(), "needs mmdebstrap and root (tools/install-deps installs it)")
@unittest.skipIf(sanitizer_build(), "the package is built from the normal build")
class DebPackageTest(unittest.TestCase):
    def test_install_check_run_relay_purge(self):
        tmp = tempfile.mkdtemp(prefix="starttlsd-deb-")
        deb = build_deb(tmp)
        info = subprocess.run(["dpkg-deb", "-f", deb, "Depends"], capture_output=True, text=True).stdout
        for dep in ("libuv1", "android-libboringssl", "libinih1"):
            self.assertIn(dep, info)

        root = Root()
        self.addCleanup(root.close)
        subprocess.run(["cp", deb, root.file("/tmp/starttlsd.deb")], check=True)
        root.run("apt-get", "update", "-qq")
        root.run("apt-get", "install", "-y", "-qq", "--no-install-recommends", "/tmp/starttlsd.deb")

        # What the package declared and created.
        conffiles = root.run("dpkg-query", "-W", "-f=${Conffiles}", "starttlsd").stdout
        self.assertIn("/etc/starttlsd/starttlsd.ini", conffiles)
        self.assertIn("ssl-cert", root.run("id", "-nG", "starttlsd").stdout.split())
        files = [f for f in root.run("dpkg", "-L", "starttlsd").stdout.splitlines()
                 if os.path.isfile(root.file(f))]
        self.assertIn("/usr/sbin/starttlsd", files)
        self.assertIn("/usr/share/man/man5/starttlsd.ini.5", files)

        # The packaged configuration checks as shipped (the snakeoil certificate).
        r = root.run("starttlsd", "-t")
        self.assertIn("/etc/starttlsd/starttlsd.ini: configuration OK (3 listeners", r.stdout)

        # An administrator moves the listeners (port 25 may be taken here) and
        # points the backend at the MTA; below 1024, so the capability is needed.
        backend = ScriptedBackend()
        self.addCleanup(backend.close)
        ini = root.file("/etc/starttlsd/starttlsd.ini")
        with open(ini) as f:
            text = f.read()
        port = free_privileged_port()
        text = text.replace("listen = 0.0.0.0:25\n", "listen = 127.0.0.1:%d\n" % port)
        text = text.replace("listen = 0.0.0.0:465\n", "listen = 127.0.0.1:%d\n" % (port + 1))
        text = text.replace("listen = 0.0.0.0:587\n", "listen = 127.0.0.1:%d\n" % (port + 2))
        text = text.replace("backend = 127.0.0.1:2525\n", "backend = 127.0.0.1:%d\n" % backend.port)
        with open(ini, "w") as f:
            f.write(text)

        # Start it as the unit does: its User, Group, SupplementaryGroups,
        # ambient capability and ExecStartPre/ExecStart, with a NOTIFY_SOCKET.
        with open(root.file("/usr/lib/systemd/system/starttlsd.service")) as f:
            unit = unit_settings(f.read())
        user, group = unit["User"][0], unit["Group"][0]
        cap = unit["AmbientCapabilities"][0].lower()
        as_unit = ["setpriv", "--reuid=" + user, "--regid=" + group, "--groups=" + unit["SupplementaryGroups"][0],
                   "--inh-caps=+" + cap[4:], "--ambient-caps=+" + cap[4:], "--bounding-set=-all,+" + cap[4:],
                   "--no-new-privs", "--"]
        root.run(*as_unit, *unit["ExecStartPre"][0].split())
        notify = NotifySocket(root.file("/run/notify"))
        self.addCleanup(notify.close)
        log = open(os.path.join(tmp, "starttlsd.log"), "w+")
        self.addCleanup(log.close)
        proc = root.popen(*as_unit, *unit["ExecStart"][0].split(), env={"NOTIFY_SOCKET": "/run/notify"}, log=log)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        notify.wait_for("READY=1")

        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE    # the snakeoil certificate
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.starttls(context=ctx)
            self.assertEqual(s.sendmail("a@example.org", ["b@example.test"], b"Subject: from the package\r\n\r\nhi\r\n"),
                             {})
        wait_for(lambda: backend.messages, what="the message at the backend")
        self.assertIn(b"Subject: from the package", backend.messages[0])
        uid = root.run("id", "-u", user).stdout.strip()
        with open("/proc/%d/status" % proc.pid) as f:
            self.assertIn("\nUid:\t%s\t" % uid, f.read())    # the master runs as the user, not root
        log.flush()
        log.seek(0)
        self.assertIn("event=ready", log.read())

        proc.terminate()
        self.assertEqual(proc.wait(timeout=60), 0)
        notify.wait_for("STOPPING=1")

        root.run("apt-get", "purge", "-y", "-qq", "starttlsd")
        self.assertFalse(os.path.exists(root.file("/etc/starttlsd")))
        self.assertNotEqual(root.run("getent", "passwd", "starttlsd", check=False).returncode, 0)
        self.assertEqual([f for f in files if os.path.exists(root.file(f))], [])
        status = root.run("dpkg-query", "-W", "-f=${Status}", "starttlsd", check=False).stdout
        self.assertNotIn("installed", status.replace("not-installed", ""))


class InstallTest(unittest.TestCase):
    def install(self, destdir, prefix="/usr"):
        r = subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], capture_output=True, text=True,
                           env=dict(os.environ, DESTDIR=destdir), timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def test_layout_and_the_config_is_kept(self):
        d = tempfile.mkdtemp(prefix="starttlsd-install-")
        self.install(d)
        for f in ("usr/sbin/starttlsd", "etc/starttlsd/starttlsd.ini", "usr/lib/systemd/system/starttlsd.service",
                  "usr/lib/sysusers.d/starttlsd.conf", "usr/share/man/man8/starttlsd.8",
                  "usr/share/man/man5/starttlsd.ini.5", "usr/share/doc/starttlsd/README.md",
                  "usr/share/doc/starttlsd/CHANGELOG.md", "usr/share/doc/starttlsd/LICENSE",
                  "usr/share/doc/starttlsd/starttlsd.ini.example"):
            self.assertTrue(os.path.isfile(os.path.join(d, f)), f)
        conf = os.path.join(d, "etc/starttlsd/starttlsd.ini")
        with open(conf, "a") as f:
            f.write("; the administrator's edit\n")
        out = self.install(d)
        self.assertIn("Keeping: " + conf, out)
        with open(conf) as f:
            self.assertIn("; the administrator's edit", f.read())
        # Another prefix: the unit names the binary there.
        d2 = tempfile.mkdtemp(prefix="starttlsd-install-")
        self.install(d2, "/opt/starttlsd")
        with open(os.path.join(d2, "opt/starttlsd/lib/systemd/system/starttlsd.service")) as f:
            self.assertIn("ExecStart=/opt/starttlsd/sbin/starttlsd --config /etc/starttlsd/starttlsd.ini", f.read())
        self.assertTrue(os.path.isfile(os.path.join(d2, "opt/starttlsd/sbin/starttlsd")))

    def test_sysusers_entry(self):
        d = tempfile.mkdtemp(prefix="starttlsd-install-")
        self.install(d)
        os.makedirs(os.path.join(d, "etc"), exist_ok=True)
        for f in ("passwd", "group"):
            open(os.path.join(d, "etc", f), "a").close()
        r = subprocess.run(["systemd-sysusers", "--root=" + d, os.path.join(d, "usr/lib/sysusers.d/starttlsd.conf")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(d, "etc/passwd")) as f:
            self.assertRegex(f.read(), r"(?m)^starttlsd:x:\d+:\d+:starttlsd SMTP TLS proxy:/nonexistent:/usr/sbin/nologin$")


class UnitTest(unittest.TestCase):
    def test_verify_is_clean(self):
        """systemd-analyze verify on the installed unit, with the binary and the
        man pages it names where the install put them."""
        d = tempfile.mkdtemp(prefix="starttlsd-unit-")
        r = subprocess.run(["cmake", "--install", BUILD, "--prefix", "/usr"], capture_output=True, text=True,
                           env=dict(os.environ, DESTDIR=d), timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(d, "usr/lib/systemd/system/starttlsd.service")) as f:
            unit = f.read().replace("/usr/sbin/starttlsd", os.path.join(d, "usr/sbin/starttlsd"))
        path = os.path.join(d, "starttlsd.service")
        with open(path, "w") as f:
            f.write(unit)
        env = dict(os.environ, MANPATH=os.path.join(d, "usr/share/man") + ":")
        r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True, env=env)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_security_exposure(self):
        r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", UNIT], capture_output=True,
                           text=True)
        m = re.search(r"Overall exposure level for starttlsd.service: (\d+\.\d)", r.stdout)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        self.assertLessEqual(float(m.group(1)), EXPOSURE_MAX, r.stdout)

    def test_the_unit_promises(self):
        with open(UNIT) as f:
            u = unit_settings(f.read())
        self.assertEqual(u["Type"], ["notify"])
        self.assertEqual(u["ExecStartPre"], ["/usr/sbin/starttlsd --test --config /etc/starttlsd/starttlsd.ini"])
        self.assertEqual(u["ExecReload"][0], "/usr/sbin/starttlsd --test --config /etc/starttlsd/starttlsd.ini")
        for k in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
            self.assertEqual(u[k], ["yes"], k)
        self.assertEqual(u["ProtectSystem"], ["strict"])
        self.assertEqual(u["CapabilityBoundingSet"], ["CAP_NET_BIND_SERVICE"])
        self.assertIn("@system-service", u["SystemCallFilter"][0])


class ManPageTest(unittest.TestCase):
    def render(self, page):
        path = os.path.join(BUILD, "man", page)
        r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH="100", LC_ALL="C.UTF-8"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")    # groff has nothing to say about the markup
        return r.stdout

    def test_pages_render_and_name_every_key(self):
        out = self.render("starttlsd.ini.5")
        keys = subprocess.run([os.path.join(TOP, "tools", "gen-docs"), "keys"], capture_output=True, text=True,
                              check=True).stdout.split()
        self.assertGreater(len(keys), 40)
        for k in keys:
            self.assertRegex(out, r"(?m)^ {7}%s\b" % re.escape(k), k)
        out = self.render("starttlsd.8")
        for opt in ("--config", "--test", "--probe", "--version", "--help", "SIGHUP", "NOTIFY_SOCKET"):
            self.assertIn(opt, out)

    def test_readme_and_pages_from_one_source(self):
        r = subprocess.run([os.path.join(TOP, "tools", "gen-docs"), "check"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()

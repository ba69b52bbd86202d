"""The container image, proven without a container engine: the Dockerfile's
runtime stage is replayed instruction by instruction on a root filesystem
that mmdebstrap builds from the same package list (etc/container/packages),
then starttlsd runs there as the image's non-root user with the image's
configuration, passes the image's HEALTHCHECK and relays a message to a real
Postfix reached by the service name the configuration uses."""
import json
import os
import re
import shlex
import shutil
import smtplib
import subprocess
import tempfile
import unittest

from harness import BIN, client_context, free_port, make_cert, wait_for
from rootfs import Root, have_mmdebstrap, sanitizer_build
from test_postfix import Postfix, have_postfix

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(BIN)


def read_packages():
    with open(os.path.join(TOP, "etc", "container", "packages")) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def dockerfile_stages():
    """The Dockerfile's stages: lists of (INSTRUCTION, argument), continuation lines joined."""
    with open(os.path.join(TOP, "Dockerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, arg = line.partition(" ")
        if word.upper() == "FROM":
            stages.append([])
        stages[-1].append((word.upper(), arg.strip()))
    return stages


class DockerfileTest(unittest.TestCase):
    def test_shape(self):
        build, run = dockerfile_stages()
        self.assertEqual(build[0], ("FROM", "debian:bookworm AS build"))
        self.assertEqual(run[0], ("FROM", "debian:bookworm-slim"))
        got = dict((k, v) for k, v in run)
        self.assertEqual(got["USER"], "starttlsd")
        self.assertEqual(got["EXPOSE"].split(), ["25", "465", "587"])
        self.assertIn("/tmp/packages", [a for w, a in run if w == "RUN"][0])    # the package list, first
        health = got["HEALTHCHECK"]
        self.assertEqual(json.loads(health[health.index("CMD") + 3:])[0], "/usr/sbin/starttlsd")
        self.assertIn(("COPY", "etc/container/packages /tmp/packages"), run)


@unittest.skipUnless(have_mmdebstrap(), "needs mmdebstrap and root (tools/install-deps installs it)")
@unittest.skipUnless(have_postfix(), "postfix is not installed (tools/install-deps installs it)")
@unittest.skipIf(sanitizer_build(), "the image is built from the normal build")
class ImageRootTest(unittest.TestCase):
    def replay_runtime_stage(self, root, staging):
        """Each instruction of the Dockerfile's last stage, applied to root.
        Returns (user, command, healthcheck command)."""
        user, entry, cmd, health = "root", [], [], None
        for word, arg in dockerfile_stages()[-1][1:]:
            if word == "COPY":
                parts = arg.split()
                src = staging if parts[0] == "--from=build" else os.path.join(TOP, parts[0])
                dst = root.file(parts[-1])
                if parts[0] == "--from=build":
                    subprocess.run(["cp", "-a", staging + "/.", root.path], check=True)
                else:
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    shutil.copy(src, dst)
            elif word == "RUN":
                root.run("sh", "-c", arg)
            elif word == "USER":
                user = arg
            elif word == "ENTRYPOINT":
                entry = json.loads(arg)
            elif word == "CMD":
                cmd = json.loads(arg)
            elif word == "HEALTHCHECK":
                health = json.loads(arg[arg.index("CMD") + 3:])
        return user, entry + cmd, health

    def stage_build_output(self):
        """What the build stage leaves in /staging: an install with prefix /usr,
        minus what its RUN line removes."""
        staging = tempfile.mkdtemp(prefix="starttlsd-staging-")
        os.chmod(staging, 0o755)    # it becomes the image's /
        r = subprocess.run(["cmake", "--install", BUILD, "--prefix", "/usr"], capture_output=True, text=True,
                           env=dict(os.environ, DESTDIR=staging))
        self.assertEqual(r.returncode, 0, r.stderr)
        build_run = [a for w, a in dockerfile_stages()[0] if w == "RUN"][-1]
        for path in re.findall(r"/staging(/\S+)", build_run):
            subprocess.run(["rm", "-rf", staging + path], check=True)
        return staging

    def test_image_root_runs_as_non_root_and_relays(self):
        root = Root(include=read_packages())
        self.addCleanup(root.close)
        staging = self.stage_build_output()
        self.addCleanup(shutil.rmtree, staging, True)
        user, command, health = self.replay_runtime_stage(root, staging)
        self.assertNotEqual(user, "root")
        self.assertFalse(os.path.exists(root.file("/usr/lib/systemd/system/starttlsd.service")))

        # What compose or Kubernetes provides: the certificate at the
        # Secret's paths, the MTA under its service name, host ports.
        postfix = Postfix("smtpd_authorized_xclient_hosts = 127.0.0.1")
        self.addCleanup(postfix.stop)
        cert, key = make_cert()
        for src, dst in ((cert, "/etc/starttlsd/tls/tls.crt"), (key, "/etc/starttlsd/tls/tls.key")):
            shutil.copy(src, root.file(dst))
            os.chmod(root.file(dst), 0o644)
        with open(root.file("/etc/hosts"), "a") as f:
            f.write("127.0.0.1 mta\n")
        ini = root.file("/etc/starttlsd/starttlsd.ini")
        with open(ini) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^backend = mta:2525$")
        ports = {}     # listener name -> host port

        def new_port(m):
            ports[m.group(1)] = free_port()
            return m.group(0).replace(m.group(2), "127.0.0.1:%d" % ports[m.group(1)])
        text = re.sub(r"(?ms)^\[listener (\w+)\].*?^listen = (0\.0\.0\.0:\d+)$", new_port, text)
        self.assertIn("smtp", ports)
        text = text.replace("backend = mta:2525", "backend = mta:%d" % postfix.port)
        with open(ini, "w") as f:
            f.write(text)

        log = open(os.path.join(staging, "starttlsd.log"), "w+")
        self.addCleanup(log.close)
        spec = "%s:%s" % (user, user)
        proc = subprocess.Popen(["chroot", "--userspec=" + spec, root.path, *command], stdout=log,
                                stderr=subprocess.STDOUT, env={"PATH": "/usr/sbin:/usr/bin"})
        self.addCleanup(lambda: proc.poll() is None and proc.kill())

        def healthy():
            return subprocess.run(["chroot", "--userspec=" + spec, root.path, *health], capture_output=True,
                                  timeout=30).returncode == 0
        wait_for(lambda: healthy() or proc.poll() is not None, timeout=30, what="the HEALTHCHECK")
        log.seek(0)
        self.assertIsNone(proc.poll(), log.read())
        with open("/proc/%d/status" % proc.pid) as f:
            uid = re.search(r"\nUid:\t(\d+)", f.read()).group(1)
        self.assertEqual(uid, root.run("id", "-u", user).stdout.strip())

        with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=30) as s:
            s.starttls(context=client_context())
            self.assertEqual(s.sendmail("a@example.org", ["user@example.test"],
                                        b"Subject: from the image\r\n\r\nhi\r\n"), {})
        self.assertIn(b"Subject: from the image", postfix.messages(1)[0])

        postfix.stop()
        wait_for(lambda: not healthy(), timeout=30, what="the HEALTHCHECK to fail without the MTA")
        proc.terminate()
        self.assertEqual(proc.wait(timeout=60), 0)


if __name__ == "__main__":
    unittest.main()

"""A fresh Debian 12 root filesystem for the package and container tests:
mmdebstrap builds it (apt's minimal variant plus the packages asked for),
chroot runs commands in it. It shares the host's network namespace, so a
starttlsd inside serves on the host's loopback."""
import os
import shutil
import socket
import subprocess
import tempfile

from harness import BIN


def have_mmdebstrap():
    return shutil.which("mmdebstrap") is not None and os.geteuid() == 0


def sanitizer_build():
    """True when BIN comes from an ASan/TSan build: such a binary needs the
    sanitizer runtimes, which a fresh root does not have; the normal build's
    tests cover the package and the image."""
    cache = os.path.join(os.path.dirname(BIN), "CMakeCache.txt")
    try:
        with open(cache) as f:
            text = f.read()
    except OSError:
        return False
    return "STARTTLSD_SANITIZE:BOOL=ON" in text or "STARTTLSD_TSAN:BOOL=ON" in text


def free_privileged_port():
    """A port below 1024 nothing listens on (binding it needs CAP_NET_BIND_SERVICE)."""
    for port in range(700, 1000):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port below 1024")


class Root:
    """A throwaway Debian 12 root under /var/tmp."""

    def __init__(self, include=()):
        self.path = tempfile.mkdtemp(prefix="starttlsd-root-", dir="/var/tmp")
        cmd = ["mmdebstrap", "--variant=apt", "--quiet"]
        if include:
            cmd.append("--include=" + ",".join(include))
        cmd += ["bookworm", self.path]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            self.close()
            raise RuntimeError("mmdebstrap failed:\n" + r.stdout + r.stderr)
        shutil.copy("/etc/resolv.conf", os.path.join(self.path, "etc/resolv.conf"))
        # Services installed by packages must not start inside the root.
        policy = os.path.join(self.path, "usr/sbin/policy-rc.d")
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
        subprocess.run(["mount", "-t", "proc", "proc", os.path.join(self.path, "proc")], check=True)
        self.mounted = True

    def file(self, path):
        """The host path of path inside the root."""
        return os.path.join(self.path, path.lstrip("/"))

    def run(self, *cmd, check=True, env=None, timeout=600):
        """Run cmd in the root (as root); returns the CompletedProcess (text)."""
        e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
        e.update(env or {})
        r = subprocess.run(["chroot", self.path, *cmd], capture_output=True, text=True, env=e, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("%s: exit %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
        return r

    def popen(self, *cmd, env=None, log=None):
        """Start cmd in the root; output to the file object log."""
        e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        e.update(env or {})
        return subprocess.Popen(["chroot", self.path, *cmd], stdout=log, stderr=subprocess.STDOUT, env=e)

    def close(self):
        if getattr(self, "mounted", False):
            subprocess.run(["umount", "-l", os.path.join(self.path, "proc")])
            self.mounted = False
        subprocess.run(["rm", "-rf", "--one-file-system", self.path])

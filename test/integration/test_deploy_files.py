"""The deployment files: etc/container/starttlsd.ini (the INI the container
runs), etc/compose.yaml and etc/kubernetes/*.yaml.

The INI must pass `starttlsd -t` (with its certificate paths pointed at a
temporary certificate) and suit a container: it listens on the ports the
Dockerfile EXPOSEs (25, 465, 587) and reaches the MTA on mta:2525. The YAML
files must hold what Docker Compose and Kubernetes require and agree with the
INI and with each other: ports, the sysctl that lets an unprivileged starttlsd
bind them, the MTA's port, mounts, the ConfigMap's copy of the INI, the
Secret's key names, probes. Reads files only; needs no Docker and no cluster. The YAML checks need
python3-yaml and are skipped without it. STARTTLSD_SRC points at another
checkout (or a copy with a file broken on purpose).
"""
import ipaddress
import os
import re
import subprocess
import tempfile
import unittest

import harness

try:
    import yaml
except ImportError:  # python3-yaml
    yaml = None

SRC = os.path.abspath(harness.SRC)
BIN = os.path.abspath(harness.BIN)
ETC = os.path.join(SRC, "etc")
INI_PATH = os.path.join(ETC, "container", "starttlsd.ini")
DOCKERFILE_PATH = os.path.join(SRC, "Dockerfile")
COMPOSE_PATH = os.path.join(ETC, "compose.yaml")
K8S_DIR = os.path.join(ETC, "kubernetes")

# Where the container image expects the certificate: the key names of a
# kubernetes.io/tls Secret, mounted as a directory.
CERT_PATH = "/etc/starttlsd/tls/tls.crt"
KEY_PATH = "/etc/starttlsd/tls/tls.key"
TLS_SECRET_KEYS = {"tls.crt", "tls.key"}

# Published port -> what its listener must be. starttlsd listens on these
# very ports inside the container (the image EXPOSEs them).
PUBLIC_PORTS = {25: "starttls", 465: "implicit", 587: "starttls"}

# The legacy MTA, as the INI names it: the compose service "mta", or the
# Pod's loopback through hostAliases. Not port 25: in the Pod the MTA shares
# starttlsd's network namespace, and starttlsd has 25.
BACKEND = ("mta", 2525)
# The stand-in MTAs (compose.yaml, deployment.yaml) take their SMTP port
# from this environment variable.
MTA_PORT_ENV = "MTA_PORT"

# Lets a process without CAP_NET_BIND_SERVICE bind ports from this value up,
# in its network namespace only.
PORT_SYSCTL = "net.ipv4.ip_unprivileged_port_start"

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
API_VERSIONS = {"Deployment": "apps/v1", "Service": "v1", "ConfigMap": "v1", "Secret": "v1",
                "Certificate": "cert-manager.io/v1"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def parse_ini(text):
    """starttlsd's INI syntax: a list of (section, {key: value}) in file order.
    Comments start with ; or #, inline ones with " ;"."""
    sections = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise ValueError("line %d: unclosed section header" % n)
            sections.append((line[1:-1].strip(), {}))
            continue
        key, sep, value = line.partition("=")
        if not sep or not sections:
            raise ValueError("line %d: not key = value inside a section" % n)
        sections[-1][1][key.strip()] = re.split(r"\s;", value, 1)[0].strip()
    return sections


def seconds(duration):
    """A starttlsd or compose duration ("30s", "1m30s", "500ms", "45") in seconds."""
    if isinstance(duration, (int, float)):
        return float(duration)
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|)", duration.strip())
    if not parts or "".join(a + b for a, b in parts) != duration.strip():
        raise ValueError("bad duration %r" % duration)
    return sum(float(a) * units[b] for a, b in parts)


def split_hostport(value):
    """"host:port" or "[v6]:port" -> (host, port)."""
    m = re.match(r"^\[([^\]]+)\]:(\d+)$", value) or re.match(r"^([^:\[\]]+):(\d+)$", value)
    if m is None:
        raise ValueError("not host:port: %r" % value)
    return m.group(1), int(m.group(2))


class Ini:
    """The container INI, parsed."""

    def __init__(self, path=INI_PATH):
        self.path = path
        self.text = read(path)
        self.sections = parse_ini(self.text)
        self.global_ = self.section("global")
        self.tls = self.section("tls")
        self.listeners = {name.split(None, 1)[1]: kv for name, kv in self.sections
                          if name.split(None, 1)[0] == "listener"}
        # Container port -> that listener's keys.
        self.by_port = {split_hostport(kv["listen"])[1]: kv for kv in self.listeners.values()}

    def section(self, name):
        for n, kv in self.sections:
            if n == name:
                return kv
        return {}

    def shutdown_timeout(self):
        return seconds(self.global_.get("shutdown_timeout", "30s"))

    def backend_hosts(self):
        return {split_hostport(kv["backend"]) for kv in self.listeners.values()}

    def hostnames(self):
        return {kv["hostname"] for kv in self.listeners.values() if "hostname" in kv}


def run_check(text, name="starttlsd.ini"):
    """`starttlsd -t` on text (written to a temporary file): (exit code, output)."""
    with tempfile.TemporaryDirectory(prefix="starttlsd-deploy-") as d:
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([BIN, "-t", "-c", path], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def exposed_ports(path=DOCKERFILE_PATH):
    """The ports the Dockerfile's last stage EXPOSEs."""
    text = re.sub(r"\\\n", " ", read(path))
    stages = re.split(r"(?mi)^\s*FROM\s", text)
    ports = set()
    for m in re.finditer(r"(?mi)^\s*EXPOSE\s+(.+)$", stages[-1]):
        for p in m.group(1).split():
            port, _, proto = p.partition("/")
            if proto in ("", "tcp"):
                ports.add(int(port))
    return ports


def yaml_comments(path):
    """The text of the comment lines of a YAML file."""
    return "\n".join(line.strip()[1:] for line in read(path).splitlines() if line.strip().startswith("#"))


class ContainerIniTest(unittest.TestCase):
    """etc/container/starttlsd.ini: valid, and right for a container."""

    @classmethod
    def setUpClass(cls):
        cls.ini = Ini()

    @unittest.skipUnless(os.access(BIN, os.X_OK), "no starttlsd binary at %s" % BIN)
    def test_passes_dash_t_with_a_certificate_at_its_paths(self):
        cert, key = harness.make_cert()
        text = self.ini.text
        for path in (CERT_PATH, KEY_PATH):
            self.assertIn(path, text, "the INI must read the certificate from the Secret's key names")
        text = text.replace(CERT_PATH, cert).replace(KEY_PATH, key)
        rc, out = run_check(text)
        self.assertEqual(rc, 0, out)
        self.assertIn("configuration OK (%d listeners" % len(self.ini.listeners), out)
        # A backend host name that does not resolve here (mta) is only a warning.
        for line in out.splitlines():
            if ": warning: " in line:
                self.assertRegex(line, r"warning: backend \S+ does not resolve now")

    @unittest.skipUnless(os.access(BIN, os.X_OK), "no starttlsd binary at %s" % BIN)
    def test_dash_t_reads_the_certificate_paths(self):
        # The check above means something only if -t looks at the files.
        if os.path.exists(CERT_PATH):
            self.skipTest("%s exists on this machine" % CERT_PATH)
        rc, out = run_check(self.ini.text)
        self.assertEqual(rc, 1, out)
        self.assertIn(CERT_PATH, out)

    def test_certificate_from_the_tls_secret_and_watched(self):
        self.assertEqual(self.ini.tls.get("certificate"), CERT_PATH)
        self.assertEqual(self.ini.tls.get("key"), KEY_PATH)
        self.assertEqual(self.ini.tls.get("watch"), "yes", "[tls] watch = yes: certificate renewals reload by themselves")

    def test_runs_as_whatever_unprivileged_user_the_container_has(self):
        # user = makes starttlsd insist on starting as root (or as that user);
        # the image (and Kubernetes' runAsUser) already run it unprivileged.
        for key in ("user", "group", "chroot"):
            self.assertNotIn(key, self.ini.global_, "[global] %s = has no place in the container INI" % key)
        self.assertIn(self.ini.global_.get("allow_root", "no"), ("no",),
                      "allow_root = no: started as root by mistake, starttlsd must refuse")

    def test_workers_are_a_number(self):
        # auto follows a cgroup v2 CPU quota, but compose sets none: there it
        # would count every CPU of the host.
        self.assertRegex(self.ini.global_.get("workers", "auto"), r"^[1-9][0-9]*$")

    def test_listeners(self):
        self.assertTrue(self.ini.listeners, "no [listener NAME] section")
        for name, kv in self.ini.listeners.items():
            with self.subTest(listener=name):
                host, port = split_hostport(kv["listen"])
                self.assertIn(host, ("0.0.0.0", "::"), "listen on every address of the container")
                self.assertIn(port, PUBLIC_PORTS, "starttlsd listens on the public ports themselves")
                self.assertEqual(kv.get("tls", "starttls"), PUBLIC_PORTS[port], "the wrong TLS mode for port %d" % port)
                bhost, bport = split_hostport(kv["backend"])
                self.assertEqual((bhost, bport), BACKEND,
                                 "backend = %s:%d (compose service; hostAliases in the Pod)" % BACKEND)
                self.assertTrue(kv.get("backend_identity", "none") != "none" or "source_address" in kv,
                                "every session reaches the MTA from starttlsd's address: without "
                                "backend_identity (or source_address) it is an open relay")
                self.assertEqual(kv.get("accept_proxy", "no"), "no")
        modes = {kv.get("tls", "starttls") for kv in self.ini.listeners.values()}
        self.assertEqual(modes, {"starttls", "implicit"})

    def test_listen_ports_are_the_exposed_ports(self):
        self.assertEqual(set(self.ini.by_port), set(PUBLIC_PORTS))
        self.assertEqual(len(self.ini.by_port), len(self.ini.listeners), "two listeners on one port")
        self.assertEqual(exposed_ports(), set(self.ini.by_port), "the Dockerfile's EXPOSE = the INI's listen ports")

    def test_backend_is_not_a_listen_port(self):
        # In the Pod starttlsd and the MTA share one network namespace: the
        # MTA cannot listen where starttlsd does.
        for host, port in self.ini.backend_hosts():
            self.assertNotIn(port, self.ini.by_port, "backend %s:%d is one of starttlsd's own ports" % (host, port))


@unittest.skipUnless(yaml is not None, "python3-yaml is not installed")
class ComposeTest(unittest.TestCase):
    """etc/compose.yaml."""

    @classmethod
    def setUpClass(cls):
        cls.ini = Ini()
        with open(COMPOSE_PATH, encoding="utf-8") as f:
            cls.compose = yaml.safe_load(f)
        cls.services = cls.compose.get("services") or {}
        cls.proxy = cls.services.get("starttlsd") or {}
        cls.comments = yaml_comments(COMPOSE_PATH)

    def mounts(self, service):
        """(type, source, target, read_only) of each of service's volumes."""
        out = []
        for v in service.get("volumes", []):
            if isinstance(v, str):
                parts = v.split(":")
                self.assertIn(len(parts), (2, 3), v)
                source, target = parts[0], parts[1]
                ro = len(parts) == 3 and "ro" in parts[2].split(",")
                kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            else:
                kind, source, target, ro = v.get("type"), v.get("source"), v.get("target"), bool(v.get("read_only"))
                if kind == "bind":
                    self.assertIs((v.get("bind") or {}).get("create_host_path"), False,
                                  "%s: a missing source must be an error, not a new empty directory" % source)
            out.append((kind, source, target, ro))
        return out

    def published(self):
        """{published port: container port} of starttlsd."""
        ports = {}
        for p in self.proxy.get("ports", []):
            if isinstance(p, (str, int)):
                spec = str(p)
                self.assertNotIn("-", spec, "port ranges")
                spec, _, proto = spec.partition("/")
                self.assertIn(proto, ("", "tcp"))
                parts = spec.split(":")
                self.assertGreaterEqual(len(parts), 2, "%s: publish with host:container" % p)
                ports[int(parts[-2])] = int(parts[-1])
            else:
                self.assertIn(p.get("protocol", "tcp"), ("tcp",))
                ports[int(p["published"])] = int(p["target"])
        return ports

    def test_services(self):
        self.assertIn("starttlsd", self.services)
        for name, s in self.services.items():
            with self.subTest(service=name):
                self.assertTrue(s.get("image") or s.get("build"), "%s: image or build" % name)
                self.assertIn(s.get("restart"), ("always", "unless-stopped", "on-failure"))

    def test_build_from_the_repository(self):
        build = self.proxy.get("build")
        self.assertIsInstance(build, dict)
        context = os.path.normpath(os.path.join(ETC, build.get("context", ".")))
        self.assertEqual(context, os.path.normpath(SRC), "build context: the repository root")
        self.assertTrue(os.path.isfile(os.path.join(context, build.get("dockerfile", "Dockerfile"))),
                        "no %s in the build context" % build.get("dockerfile", "Dockerfile"))

    def test_backend_is_a_service_and_not_published(self):
        for host, port in self.ini.backend_hosts():
            with self.subTest(backend=host):
                self.assertIn(host, self.services, "backend %s is no service of compose.yaml" % host)
                self.assertFalse(self.services[host].get("ports"),
                                 "the plaintext MTA must be reachable only through starttlsd")
                deps = self.proxy.get("depends_on") or []
                self.assertIn(host, deps)

    def test_ports_match_the_ini(self):
        ports = self.published()
        self.assertEqual(set(ports), set(PUBLIC_PORTS))
        self.assertEqual(set(ports.values()), set(self.ini.by_port), "container ports = the INI's listen ports")
        for public, inner in ports.items():
            with self.subTest(port=public):
                self.assertEqual(inner, public, "published as the port the container listens on (%d:%d)" % (public, public))
                self.assertEqual(self.ini.by_port[inner].get("tls", "starttls"), PUBLIC_PORTS[public])
        self.assertEqual(self.ini.by_port[ports[587]].get("require_tls"), "yes", "587: require_tls = yes")
        self.assertNotEqual(self.ini.by_port[ports[25]].get("require_tls"), "yes", "never on a public MX")

    def test_unprivileged_ports_sysctl(self):
        # starttlsd runs without capabilities (test_shutdown_and_security), so
        # it binds the INI's ports only if the sysctl allows it.
        self.assertNotEqual(self.proxy.get("network_mode"), "host", "no sysctl is possible on the host's network")
        sysctls = self.proxy.get("sysctls")
        if isinstance(sysctls, list):
            sysctls = dict(item.split("=", 1) for item in sysctls)
        self.assertIsInstance(sysctls, dict, "starttlsd: sysctls: %s: 0" % PORT_SYSCTL)
        self.assertIn(PORT_SYSCTL, sysctls)
        self.assertLessEqual(int(str(sysctls[PORT_SYSCTL]).strip()), min(self.ini.by_port),
                             "%s must allow the lowest listen port" % PORT_SYSCTL)

    def test_mta_listens_on_the_backend_port(self):
        for host, port in self.ini.backend_hosts():
            with self.subTest(backend=host):
                env = self.services[host].get("environment") or {}
                if isinstance(env, list):
                    env = dict(item.split("=", 1) for item in env)
                self.assertIn(MTA_PORT_ENV, env, "the stand-in MTA's SMTP port")
                self.assertEqual(int(env[MTA_PORT_ENV]), port, "the MTA must listen where the INI's backend points")
                self.assertIn("$$" + MTA_PORT_ENV, yaml.safe_dump(self.services[host].get("command")),
                              "the stand-in's command must use %s" % MTA_PORT_ENV)

    def test_command_reads_the_mounted_ini(self):
        config = self.config_arg()
        for kind, source, target, ro in self.mounts(self.proxy):
            if kind == "bind" and config.startswith(target.rstrip("/") + "/"):
                host = os.path.join(ETC, source, os.path.relpath(config, target))
                self.assertEqual(os.path.realpath(host), os.path.realpath(INI_PATH))
                self.assertTrue(ro, "the configuration is mounted read-only")
                return
        self.fail("%s is not in a bind mount" % config)

    def test_certificate_directory_mounted_read_only(self):
        for path in (self.ini.tls["certificate"], self.ini.tls["key"]):
            with self.subTest(path=path):
                found = [m for m in self.mounts(self.proxy) if m[0] == "bind" and os.path.dirname(path) == m[2].rstrip("/")]
                self.assertTrue(found, "mount the directory of %s (a file mount never sees a replaced file)" % path)
                self.assertTrue(found[0][3], "certificates are mounted read-only")

    def test_mounted_host_paths_exist_or_are_documented(self):
        declared = self.compose.get("volumes") or {}
        for name, service in self.services.items():
            for kind, source, target, ro in self.mounts(service):
                with self.subTest(service=name, source=source):
                    if kind == "volume":
                        self.assertIn(source, declared, "named volume %s is not declared" % source)
                        continue
                    self.assertEqual(kind, "bind")
                    self.assertFalse(os.path.isabs(source), "host paths relative to etc/, inside the repository")
                    if not os.path.exists(os.path.join(ETC, source)):
                        self.assertIn(source, self.comments, "%s: neither in the repository nor documented" % source)

    def config_arg(self):
        argv = list(self.proxy.get("entrypoint") or []) + list(self.proxy.get("command") or [])
        self.assertEqual(argv[:1], ["/usr/sbin/starttlsd"])
        self.assertIn("-c", argv)
        return argv[argv.index("-c") + 1]

    def test_healthcheck(self):
        hc = self.proxy.get("healthcheck") or {}
        self.assertFalse(hc.get("disable"))
        test = hc.get("test")
        self.assertIsInstance(test, list)
        self.assertIn(test[0], ("CMD", "CMD-SHELL"))
        if "--probe" in test or "-p" in test:
            # starttlsd's own probe, of the file it serves (not the image's copy).
            self.assertEqual(test[1], "/usr/sbin/starttlsd")
            self.assertIn("-c", test)
            self.assertEqual(test[test.index("-c") + 1], self.config_arg())
        else:
            # A shell TCP check: of a listener, waiting for the greeting.
            cmd = " ".join(test[1:])
            m = re.search(r"/dev/tcp/127\.0\.0\.1/(\d+)", cmd)
            self.assertIsNotNone(m, "a TCP check of a listener")
            self.assertIn(int(m.group(1)), self.ini.by_port)
            self.assertIn("220", cmd, "it waits for the greeting")
        for key in ("interval", "timeout"):
            self.assertLess(seconds(hc[key]), 120)

    def test_no_accidental_interpolation(self):
        # Compose replaces $NAME / ${NAME} in every value itself; a shell
        # variable must be written $$NAME.
        def strings(v):
            if isinstance(v, str):
                yield v
            elif isinstance(v, dict):
                for x in v.values():
                    yield from strings(x)
            elif isinstance(v, list):
                for x in v:
                    yield from strings(x)
        for name, s in self.services.items():
            for v in strings(s):
                with self.subTest(service=name, value=v[:40]):
                    self.assertNotIn("$", v.replace("$$", ""))

    def test_shutdown_and_security(self):
        self.assertGreater(seconds(self.proxy.get("stop_grace_period", "10s")), self.ini.shutdown_timeout(),
                           "stop_grace_period must let sessions drain for shutdown_timeout")
        self.assertIs(self.proxy.get("read_only"), True)
        self.assertIn("ALL", self.proxy.get("cap_drop") or [])
        self.assertFalse(self.proxy.get("cap_add"))
        self.assertFalse(self.proxy.get("privileged"))
        self.assertNotIn(str(self.proxy.get("user", "starttlsd")).split(":")[0], ("root", "0"))

    def test_xclient_from_a_fixed_address(self):
        if not any(kv.get("backend_identity") == "xclient" for kv in self.ini.listeners.values()):
            self.skipTest("no backend_identity = xclient")
        nets = self.proxy.get("networks")
        self.assertIsInstance(nets, dict, "a fixed address for the MTA to authorize")
        for net, conf in nets.items():
            addr = (conf or {}).get("ipv4_address")
            if addr is None:
                continue
            subnets = [c["subnet"] for c in ((self.compose.get("networks") or {}).get(net) or {}).get("ipam", {}).get("config", [])]
            self.assertTrue(any(ipaddress.ip_address(addr) in ipaddress.ip_network(s) for s in subnets), addr)
            for host, port in self.ini.backend_hosts():
                self.assertIn(addr, yaml.safe_dump(self.services[host]), "the MTA must authorize XCLIENT from %s" % addr)
            return
        self.fail("starttlsd has no ipv4_address")


@unittest.skipUnless(yaml is not None, "python3-yaml is not installed")
class KubernetesTest(unittest.TestCase):
    """etc/kubernetes/*.yaml."""

    @classmethod
    def setUpClass(cls):
        cls.ini = Ini()
        cls.docs = []
        for name in sorted(os.listdir(K8S_DIR)):
            if name.endswith((".yaml", ".yml")):
                with open(os.path.join(K8S_DIR, name), encoding="utf-8") as f:
                    cls.docs += [(name, d) for d in yaml.safe_load_all(f) if d is not None]

    def kind(self, kind):
        return [d for _, d in self.docs if isinstance(d, dict) and d.get("kind") == kind]

    def one(self, kind):
        found = self.kind(kind)
        self.assertEqual(len(found), 1, "exactly one %s" % kind)
        return found[0]

    def pod(self):
        return self.one("Deployment")["spec"]["template"]

    def starttlsd(self):
        c = [c for c in self.pod()["spec"]["containers"] if c.get("name") == "starttlsd"]
        self.assertEqual(len(c), 1, "one container named starttlsd")
        return c[0]

    def container_port(self, container, port):
        """A probe's or Service's port (number or name) -> the container port number."""
        for p in container.get("ports", []):
            if port in (p.get("name"), p["containerPort"]):
                return p["containerPort"]
        self.fail("port %r is not a port of container %s" % (port, container["name"]))

    def volume(self, name):
        for v in self.pod()["spec"].get("volumes", []):
            if v["name"] == name:
                return v
        self.fail("no volume %s" % name)

    def mount_for(self, container, path):
        """(volume mount, path inside it) holding path."""
        for m in container.get("volumeMounts", []):
            if path.startswith(m["mountPath"].rstrip("/") + "/"):
                return m, os.path.relpath(path, m["mountPath"])
        self.fail("%s is not on a volume of container %s" % (path, container["name"]))

    def test_every_object_has_the_required_keys(self):
        self.assertTrue(self.docs, "no YAML documents in etc/kubernetes")
        seen = set()
        for fname, d in self.docs:
            with self.subTest(file=fname, kind=d.get("kind")):
                self.assertIsInstance(d, dict)
                for key in ("apiVersion", "kind", "metadata"):
                    self.assertIn(key, d)
                self.assertIn(d["kind"], API_VERSIONS)
                self.assertEqual(d["apiVersion"], API_VERSIONS[d["kind"]])
                name = d["metadata"].get("name")
                self.assertIsInstance(name, str)
                self.assertRegex(name, DNS1123_LABEL if d["kind"] == "Service" else DNS1123_SUBDOMAIN)
                self.assertNotIn((d["kind"], name), seen, "duplicate")
                seen.add((d["kind"], name))
        for kind in ("Deployment", "Service", "ConfigMap", "Certificate"):
            self.assertTrue(self.kind(kind), "no %s" % kind)

    def test_deployment_selector_matches_the_pod(self):
        spec = self.one("Deployment")["spec"]
        match = spec["selector"]["matchLabels"]
        self.assertTrue(match)
        labels = spec["template"]["metadata"]["labels"]
        for k, v in match.items():
            self.assertEqual(labels.get(k), v, "selector %s=%s is not a label of the Pod" % (k, v))

    def test_containers(self):
        containers = self.pod()["spec"]["containers"]
        names = [c.get("name") for c in containers]
        self.assertEqual(len(names), len(set(names)))
        self.assertGreaterEqual(len(containers), 2, "the MTA and starttlsd")
        for c in containers:
            with self.subTest(container=c.get("name")):
                self.assertRegex(c.get("name") or "", DNS1123_LABEL)
                self.assertTrue(c.get("image"))
                pnames = [p["name"] for p in c.get("ports", []) if "name" in p]
                self.assertEqual(len(pnames), len(set(pnames)))
                for p in pnames:
                    self.assertRegex(p, r"^[a-z0-9-]{1,15}$")
                for m in c.get("volumeMounts", []):
                    self.volume(m["name"])
                # Kubernetes itself replaces $(NAME) in command and args.
                for arg in list(c.get("command") or []) + list(c.get("args") or []):
                    self.assertNotRegex(arg.replace("$$", ""), r"\$\([A-Za-z_][A-Za-z0-9_]*\)")

    def test_volumes_name_objects_defined_here(self):
        configmaps = {d["metadata"]["name"]: d for d in self.kind("ConfigMap")}
        secrets = {d["metadata"]["name"] for d in self.kind("Secret")}
        secrets |= {d["spec"]["secretName"] for d in self.kind("Certificate")}
        for v in self.pod()["spec"].get("volumes", []):
            with self.subTest(volume=v["name"]):
                if "configMap" in v:
                    self.assertIn(v["configMap"]["name"], configmaps)
                    data = configmaps[v["configMap"]["name"]].get("data", {})
                    for item in v["configMap"].get("items", []):
                        self.assertIn(item["key"], data)
                if "secret" in v:
                    self.assertIn(v["secret"]["secretName"], secrets)
                    for item in v["secret"].get("items", []):
                        self.assertIn(item["key"], TLS_SECRET_KEYS)

    def test_configmap_is_the_container_ini(self):
        c = self.starttlsd()
        args = list(c.get("command") or []) + list(c.get("args") or [])
        self.assertEqual(args[:1], ["/usr/sbin/starttlsd"])
        config = args[args.index("-c") + 1]
        mount, key = self.mount_for(c, config)
        self.assertNotIn("subPath", mount, "a subPath mount never sees ConfigMap updates")
        cm = self.volume(mount["name"]).get("configMap")
        self.assertIsNotNone(cm, "%s is not on a ConfigMap volume" % config)
        data = [d for d in self.kind("ConfigMap") if d["metadata"]["name"] == cm["name"]][0]["data"]
        self.assertIn(key, data)
        self.assertEqual(data[key], self.ini.text,
                         "configmap.yaml's %s differs from etc/container/starttlsd.ini" % key)

    def test_certificate_from_the_secret_volume(self):
        c = self.starttlsd()
        volumes = set()
        for path in (self.ini.tls["certificate"], self.ini.tls["key"]):
            with self.subTest(path=path):
                mount, key = self.mount_for(c, path)
                self.assertNotIn("subPath", mount, "a subPath mount never sees a renewed certificate")
                self.assertTrue(mount.get("readOnly"))
                secret = self.volume(mount["name"]).get("secret")
                self.assertIsNotNone(secret, "%s is not on a Secret volume" % path)
                self.assertIn(key, TLS_SECRET_KEYS)
                # The files are root's, in group fsGroup: a non-root starttlsd
                # reads them through "other" or through fsGroup.
                mode = secret.get("defaultMode", 0o644)
                fs_group = (self.pod()["spec"].get("securityContext") or {}).get("fsGroup")
                self.assertTrue(mode & 0o004 or (mode & 0o040 and fs_group is not None),
                                "defaultMode %o: starttlsd cannot read %s" % (mode, path))
                volumes.add(secret["secretName"])
        certs = [d for d in self.kind("Certificate") if d["spec"]["secretName"] in volumes]
        self.assertTrue(certs, "no Certificate writes the Secret %s" % volumes)
        for cert in certs:
            self.assertTrue(cert["spec"].get("issuerRef", {}).get("name"))
            self.assertTrue(self.ini.hostnames() <= set(cert["spec"].get("dnsNames", [])),
                            "the certificate must name every listener's hostname")

    def mta(self):
        """The containers of the Pod other than starttlsd: the MTA."""
        others = [c for c in self.pod()["spec"]["containers"] if c.get("name") != "starttlsd"]
        self.assertEqual(len(others), 1, "one MTA container besides starttlsd")
        return others[0]

    def test_starttlsd_ports_and_probes(self):
        c = self.starttlsd()
        ports = {p["containerPort"] for p in c.get("ports", [])}
        self.assertEqual(ports, set(self.ini.by_port), "container ports = the INI's listen ports")
        self.assertEqual(ports, exposed_ports(), "container ports = the Dockerfile's EXPOSE")
        for probe in ("livenessProbe", "readinessProbe"):
            with self.subTest(probe=probe):
                self.assertIn(probe, c)
                self.assertIn("tcpSocket", c[probe])
                self.assertIn(self.container_port(c, c[probe]["tcpSocket"]["port"]), self.ini.by_port)

    def test_starttlsd_security_and_resources(self):
        c = self.starttlsd()
        pod_sc = self.pod()["spec"].get("securityContext") or {}
        sc = c.get("securityContext") or {}
        self.assertIs(sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")), True)
        self.assertNotEqual(sc.get("runAsUser", pod_sc.get("runAsUser")), 0)
        self.assertIs(sc.get("readOnlyRootFilesystem"), True)
        self.assertIs(sc.get("allowPrivilegeEscalation"), False)
        self.assertFalse(sc.get("privileged"))
        self.assertIn("ALL", (sc.get("capabilities") or {}).get("drop", []))
        self.assertFalse((sc.get("capabilities") or {}).get("add"))
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            self.assertIn("memory", res.get(kind, {}), kind)
        self.assertIn("cpu", res["requests"])
        self.assertEqual(str(res["limits"].get("cpu")), self.ini.global_.get("workers"),
                         "workers in the INI = the CPU limit")

    def test_unprivileged_ports_sysctl(self):
        # starttlsd drops every capability (test_starttlsd_security_and_resources):
        # only the Pod's sysctl lets it bind ports below 1024.
        spec = self.pod()["spec"]
        self.assertFalse(spec.get("hostNetwork"), "no sysctl is possible on the node's network")
        sysctls = {s["name"]: s["value"] for s in (spec.get("securityContext") or {}).get("sysctls", [])}
        self.assertIn(PORT_SYSCTL, sysctls, "the Pod's securityContext.sysctls")
        value = sysctls[PORT_SYSCTL]
        self.assertIsInstance(value, str, "a sysctl's value is a string")
        self.assertLessEqual(int(value), min(self.ini.by_port), "%s must allow the lowest listen port" % PORT_SYSCTL)
        for c in self.pod()["spec"]["containers"]:
            with self.subTest(container=c.get("name")):
                # Container securityContexts have no sysctls field.
                self.assertNotIn("sysctls", c.get("securityContext") or {})

    def test_mta_listens_on_the_backend_port(self):
        c = self.mta()
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        for host, port in self.ini.backend_hosts():
            with self.subTest(backend=host):
                self.assertIn(MTA_PORT_ENV, env, "the stand-in MTA's SMTP port")
                self.assertEqual(int(env[MTA_PORT_ENV]), port, "the MTA must listen where the INI's backend points")
                self.assertIn("$" + MTA_PORT_ENV, " ".join(list(c.get("command") or []) + list(c.get("args") or [])),
                              "the stand-in's command must use %s" % MTA_PORT_ENV)
                self.assertEqual(env.get("MTA_INTERFACES"), "loopback-only",
                                 "in the Pod the MTA listens on loopback only")
                self.assertFalse(c.get("ports"), "the MTA's port is not one the Pod declares")

    def test_backend_resolves_inside_the_pod(self):
        spec = self.pod()["spec"]
        aliases = {h: a["ip"] for a in spec.get("hostAliases", []) for h in a.get("hostnames", [])}
        own = set(self.ini.by_port)
        for host, port in self.ini.backend_hosts():
            with self.subTest(backend=host):
                try:
                    ip = ipaddress.ip_address(host)
                except ValueError:
                    self.assertIn(host, aliases, "backend %s must resolve in the Pod (hostAliases)" % host)
                    ip = ipaddress.ip_address(aliases[host])
                self.assertTrue(ip.is_loopback, "the MTA is in the same Pod: loopback")
                self.assertNotIn(port, own)

    def test_shutdown_grace(self):
        spec = self.pod()["spec"]
        pre = (self.starttlsd().get("lifecycle") or {}).get("preStop") or {}
        cmd = (pre.get("exec") or {}).get("command") or []
        delay = float(cmd[1]) if cmd[:1] == ["sleep"] else seconds((pre.get("sleep") or {}).get("seconds", 0))
        self.assertGreater(spec.get("terminationGracePeriodSeconds", 30), delay + self.ini.shutdown_timeout(),
                           "terminationGracePeriodSeconds must cover preStop and shutdown_timeout")

    def test_service(self):
        svc = self.one("Service")
        spec = svc["spec"]
        self.assertIn(spec.get("type"), ("LoadBalancer", "NodePort"))
        self.assertEqual(spec.get("externalTrafficPolicy"), "Local", "keep the client's address")
        labels = self.pod()["metadata"]["labels"]
        self.assertTrue(spec["selector"])
        for k, v in spec["selector"].items():
            self.assertEqual(labels.get(k), v, "the Service selects no Pod of the Deployment")
        c = self.starttlsd()
        ports = {}
        for p in spec["ports"]:
            self.assertEqual(p.get("protocol", "TCP"), "TCP")
            ports[p["port"]] = self.container_port(c, p.get("targetPort", p["port"]))
        self.assertEqual(set(ports), set(PUBLIC_PORTS))
        for public, inner in ports.items():
            with self.subTest(port=public):
                self.assertEqual(inner, public, "the Service publishes the port starttlsd listens on")
                self.assertEqual(self.ini.by_port[inner].get("tls", "starttls"), PUBLIC_PORTS[public])
        self.assertEqual(self.ini.by_port[ports[587]].get("require_tls"), "yes")


if __name__ == "__main__":
    unittest.main()

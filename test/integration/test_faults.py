"""The "nothing lost" fault campaign: messages go through starttlsd to a real
Postfix (TLS off, delivering to a maildir) while the backend connection, the
clients and starttlsd's own processes fail in every way we can provoke.
tools/faultshim sits between starttlsd and Postfix for the backend faults.

After each scenario the ledger of every message sent so far is compared with
the maildir (each message carries a unique token in its Message-ID):
- a 2xx after the final "." -> exactly one copy, byte for byte;
- anything else -> no copy, except inside the RFC 1047 window (the final "."
  was sent, no 2xx came back): then one copy is allowed, and starttlsd must
  have logged that session's message as event=delivery_unconfirmed;
- every event=delivery_unconfirmed belongs to a message whose final "." the
  client sent and which got no 2xx.
"""
import itertools
import json
import os
import random
import re
import resource
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from harness import TOOLS, Client, Proxy, client_context, free_port, wait_for
from test_postfix import Postfix, body_of, have_postfix

SHIM = os.path.join(TOOLS, "faultshim")
TIMEOUTS = "data_timeout = 3s\nidle_timeout = 4s\nhandshake_timeout = 4s\nconnect_timeout = 3s\n"
RST = b"\x01\x00\x00\x00\x00\x00\x00\x00"   # struct linger {1, 0}: close() resets


class Shim:
    """A running tools/faultshim in front of target_port."""

    def __init__(self, target_port, plan=(), port=None, extra=()):
        self.port = port or free_port()
        self.events_path = tempfile.mktemp(prefix="faultshim-", suffix=".jsonl")
        self.proc = subprocess.Popen([SHIM, "--listen", "127.0.0.1:%d" % self.port,
                                      "--target", "127.0.0.1:%d" % target_port,
                                      "--plan", ",".join(plan) or "pass", "--events", self.events_path, *extra],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("faultshim: listening on 127.0.0.1:%d" % self.port), line

    def events(self):
        try:
            with open(self.events_path) as f:
                return [json.loads(l) for l in f if l.strip()]
        except FileNotFoundError:
            return []

    def settled_events(self, n):
        """The records of n connections: the shim writes one once both sides
        of a connection are over, which may come after starttlsd's session ended."""
        return wait_for(lambda: len(self.events()) >= n and self.events(), 10,
                        lambda: "%d shim records: %r" % (n, self.events()))

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        self.proc.stdout.close()


class Msg:
    """One message of the ledger and what its client saw."""

    def __init__(self, token, body, proxy, scenario):
        self.token, self.body, self.proxy, self.scenario = token, body, proxy, scenario
        self.port = None          # the client's local port (maps to starttlsd's sid)
        self.dot_sent = False     # the whole content and its final "." were written
        self.outcome = "lost_before_dot"   # 2xx, 4xx, 5xx, lost_before_dot, lost_after_dot

    def __repr__(self):
        return "<%s %s %s dot_sent=%s>" % (self.token, self.scenario, self.outcome, self.dot_sent)


def stuffed(body):
    return b"".join(b"." + l if l.startswith(b".") else l for l in body.splitlines(keepends=True))


class Session:
    """A client of the campaign: STARTTLS, then a message step by step."""

    def __init__(self, port, timeout=20.0):
        self.c = Client(port, timeout=timeout)
        self.port = self.c.sock.getsockname()[1]

    def hello(self):
        """Greeting, EHLO, STARTTLS, EHLO; True if all went well."""
        if self.c.reply()[0] != 220 or self.c.cmd("EHLO client.example")[0] != 250:
            return False
        code, _ = self.c.cmd("STARTTLS")
        if code != 220:
            return False
        self.c.sock = client_context().wrap_socket(self.c.sock)
        return self.c.cmd("EHLO client.example")[0] == 250

    def envelope(self):
        return (self.c.cmd("MAIL FROM:<sender@example.org>")[0] == 250 and
                self.c.cmd("RCPT TO:<user@example.test>")[0] == 250)

    def data(self):
        return self.c.cmd("DATA")[0] == 354

    def finish(self, m):
        """Send m's content and final dot; record what the client saw."""
        m.port = self.port
        try:
            self.c.send(stuffed(m.body) + b".\r\n")
        except (OSError, ssl.SSLError):
            return m
        m.dot_sent = True
        code, _ = self.c.reply()
        m.outcome = "lost_after_dot" if code is None else "%dxx" % (code // 100)
        return m

    def reset(self):
        self.c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
        self.c.close()

    def close(self):
        self.c.close()


@unittest.skipUnless(have_postfix(), "postfix is not installed (tools/install-deps installs it)")
class FaultCampaign(unittest.TestCase):
    """One Postfix for the whole campaign; the ledger grows scenario by scenario."""

    @classmethod
    def setUpClass(cls):
        cls.postfix = Postfix()
        cls.msgs = []
        cls.numbers = itertools.count()     # thread-safe: the load threads share it
        cls.proxies = []
        cls.rng = random.Random(1047)

    @classmethod
    def tearDownClass(cls):
        cls.postfix.stop()

    # --- the ledger ---

    def half_sent(self, proxy, scenario):
        """A session inside DATA: half of a 60000-byte message sent and read by starttlsd."""
        m = self.new_msg(proxy, scenario, size=60000)
        s = Session(proxy.port)
        m.port = s.port
        self.assertTrue(s.hello() and s.envelope() and s.data())
        s.c.send(stuffed(m.body)[:30000])
        harness.wait_consumed(s.c.sock)
        return m, s

    def new_msg(self, proxy, scenario, size=None):
        token = "F%04d-%s" % (next(self.numbers), scenario)
        size = size if size is not None else self.rng.randrange(200, 20000)
        head = (b"Message-ID: <%s@faults.example.test>\r\nFrom: sender@example.org\r\nTo: user@example.test\r\n"
                b"Subject: fault campaign %s\r\n\r\n.leading dot\r\n..two dots\r\n" % (token.encode(), token.encode()))
        lines, n = [head], len(head)
        rnd = random.Random(token)
        while n < size:
            line = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 .") for _ in range(rnd.randrange(0, 200)))
            lines.append(line + b"\r\n")
            n += len(line) + 2
        m = Msg(token, b"".join(lines) + b"end " + token.encode() + b"\r\n", proxy, scenario)
        self.msgs.append(m)
        if proxy not in self.proxies:
            self.proxies.append(proxy)
        return m

    def send(self, proxy, scenario, size=None):
        """One whole message on its own connection; returns its Msg."""
        m = self.new_msg(proxy, scenario, size)
        try:
            s = Session(proxy.port)
        except OSError:
            return m        # refused: nothing sent
        m.port = s.port
        try:
            if s.hello() and s.envelope() and s.data():
                s.finish(m)
            if m.outcome.startswith("2"):
                s.c.cmd("QUIT")
        except (OSError, ssl.SSLError):
            pass
        finally:
            s.close()
        return m

    def start_proxy(self, backend_port, extra="", **kw):
        p = Proxy(backend_port, extra_listener=TIMEOUTS + extra, **kw)
        self.addCleanup(p.__exit__, None, None, None)
        return p

    def start_shim(self, plan=(), **kw):
        sh = Shim(self.postfix.port, plan, **kw)
        self.addCleanup(sh.stop)
        return sh

    # --- the invariant ---

    def maildir(self):
        """token -> list of delivered message bodies (as the client sent them, LF line ends)."""
        found = {}
        root = os.path.join(self.postfix.dir, "mail")
        for sub in ("new", "cur"):
            d = os.path.join(root, sub)
            for name in os.listdir(d) if os.path.isdir(d) else ():
                with open(os.path.join(d, name), "rb") as f:
                    data = f.read()
                t = re.search(rb"^Message-ID: <([^@>]+)@faults\.example\.test>", data, re.M)
                found.setdefault(t.group(1).decode() if t else "?" + name, []).append(body_of(data))
        return found

    def postfix_idle(self):
        """Postfix has ended every SMTP session and its queue is empty."""
        log = self.postfix.maillog()
        if len(re.findall(r"smtpd\[\d+\]: connect from", log)) != len(re.findall(r"smtpd\[\d+\]: disconnect from", log)):
            return False
        q = os.path.join(self.postfix.dir, "queue")
        return not any(files for sub in ("maildrop", "incoming", "active", "deferred", "hold")
                       for _, _, files in os.walk(os.path.join(q, sub)))

    def sessions_over(self, proxy):
        log = proxy.log()
        return log.count("event=connect ") == log.count("event=disconnect ")

    def settle(self, proxies=()):
        """Wait until the proxies' sessions and Postfix are done and every 2xx message arrived."""
        for p in proxies:
            wait_for(lambda: self.sessions_over(p), 30, lambda: "sessions to end:\n" + p.log()[-3000:])
        want = [m.token for m in self.msgs if m.outcome == "2xx"]
        wait_for(lambda: self.postfix_idle() and all(t in self.maildir() for t in want), 60,
                 lambda: "Postfix to deliver %s:\n%s" % (
                     [t for t in want if t not in self.maildir()], self.postfix.maillog()[-3000:]))

    def unconfirmed(self, proxy):
        """The client ports of the sessions starttlsd logged event=delivery_unconfirmed for."""
        log = proxy.log()
        ports = dict(re.findall(r"event=connect sid=(\w+) .*client=127\.0\.0\.1:(\d+)", log))
        out = []
        for sid in re.findall(r"event=delivery_unconfirmed sid=(\w+)", log):
            self.assertIn(sid, ports, "delivery_unconfirmed for an unknown session:\n" + log)
            out.append(int(ports[sid]))
        return out

    def check(self, proxies=()):
        """The invariant over the whole ledger; returns the scenario's counts of outcomes."""
        self.settle(proxies)
        found = self.maildir()
        known = {m.token for m in self.msgs}
        self.assertFalse([t for t in found if t not in known], "unknown messages in the maildir")
        unconfirmed = {}
        for p in self.proxies:
            for port in self.unconfirmed(p):
                unconfirmed[(id(p), port)] = True
        by_conn = {(id(m.proxy), m.port): m for m in self.msgs}
        for key in unconfirmed:
            m = by_conn.get(key)
            self.assertIsNotNone(m, "delivery_unconfirmed for a session that sent no message")
            self.assertTrue(m.dot_sent and m.outcome != "2xx",
                            "%r logged delivery_unconfirmed, but its client %s" % (
                                m, "saw a 2xx" if m.dot_sent else "never sent the final dot"))
        for m in self.msgs:
            copies = found.get(m.token, [])
            self.assertLessEqual(len(copies), 1, "%r delivered %d times" % (m, len(copies)))
            if m.outcome == "2xx":
                self.assertEqual(len(copies), 1, "%r: accepted but not delivered" % m)
                self.assertEqual(copies[0], m.body.replace(b"\r\n", b"\n"), "%r: altered" % m)
            elif copies:
                self.assertTrue(m.dot_sent, "%r: delivered, but its client never sent the final dot" % m)
                self.assertIn((id(m.proxy), m.port), unconfirmed,
                              "%r: delivered without a 2xx and not logged delivery_unconfirmed:\n%s" % (
                                  m, m.proxy.log()[-3000:]))
                self.assertEqual(copies[0], m.body.replace(b"\r\n", b"\n"), "%r: altered" % m)
        counts = {}
        for m in self.msgs:
            counts.setdefault(m.scenario, {}).setdefault(m.outcome, 0)
            counts[m.scenario][m.outcome] += 1
        return counts

    def delivered(self, m):
        return m.token in self.maildir()

    # --- backend faults, through the shim ---

    def test_backend_faults(self):
        plan = ["reset:before_greeting", "reset:in_data", "reset:after_dot", "reset:after_250",
                "delay:30", "stall:1000", "bytewise", "noread", "pass"]
        shim = self.start_shim(plan)
        proxy = self.start_proxy(shim.port)
        got = {}
        for fault in plan:
            size = 4 << 20 if fault == "noread" else None
            m = self.send(proxy, fault.replace(":", "-"), size=size)
            got[fault] = m
        self.check([proxy])
        events = {e["fault"]: e for e in shim.settled_events(len(plan))}
        for fault in plan:
            self.assertTrue(events[fault]["reached"], events[fault])
        o = {f: m.outcome for f, m in got.items()}
        # Where the fault leaves the message whole, the client must get its 2xx.
        for fault in ("reset:after_250", "delay:30", "stall:1000", "bytewise", "pass"):
            self.assertEqual(o[fault], "2xx", (fault, o))
        # Cut before the end: refused (421) or lost, never accepted.
        for fault in ("reset:before_greeting", "reset:in_data", "noread"):
            self.assertIn(o[fault], ("4xx", "lost_before_dot"), (fault, o))
            self.assertFalse(self.delivered(got[fault]), fault)
        # The duplicate window: Postfix has it (the shim saw its 250), the client does not.
        self.assertEqual(events["reset:after_dot"]["backend_reply"], 250, events["reset:after_dot"])
        self.assertIn(o["reset:after_dot"], ("4xx", "lost_after_dot"), o)
        self.assertTrue(self.delivered(got["reset:after_dot"]))
        self.assertIn("reason=backend_", "".join(l for l in proxy.log().splitlines()
                                                 if "event=delivery_unconfirmed" in l))
        self.assertRegex(proxy.log(), r"event=disconnect sid=\w+ reason=\w*timeout")   # noread ended by data_timeout

    def test_random_backend_faults(self):
        """--rate: a seeded mix of all faults over a few more messages."""
        shim = self.start_shim(extra=("--rate", "0.7", "--seed", "7"))
        proxy = self.start_proxy(shim.port)
        msgs = [self.send(proxy, "random", size=300000 if i % 5 == 0 else None) for i in range(14)]
        self.check([proxy])
        faults = [e["fault"] for e in shim.settled_events(len(msgs))]
        self.assertGreater(len(set(faults)), 3, faults)
        self.assertTrue(any(m.outcome == "2xx" for m in msgs))

    # --- client faults ---

    def test_client_faults(self):
        proxy = self.start_proxy(self.postfix.port)
        lost_before = self.postfix.maillog().count("lost connection after DATA")
        ended = []

        def gone(s, how="fin"):
            (s.reset if how == "rst" else s.close)()
            ended.append(s.port)

        # Before EHLO, after the greeting.
        s = Session(proxy.port)
        self.assertEqual(s.c.reply()[0], 220)
        gone(s)
        # Mid-handshake after STARTTLS: half a ClientHello.
        s = Session(proxy.port)
        s.c.reply()
        s.c.cmd("EHLO client.example")
        self.assertEqual(s.c.cmd("STARTTLS")[0], 220)
        bio_in, bio_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = client_context().wrap_bio(bio_in, bio_out)
        with self.assertRaises(ssl.SSLWantReadError):
            tls.do_handshake()
        hello = bio_out.read()
        s.c.send(hello[:len(hello) // 2])
        harness.wait_consumed(s.c.sock)
        gone(s)
        # After MAIL.
        s = Session(proxy.port)
        self.assertTrue(s.hello())
        self.assertEqual(s.c.cmd("MAIL FROM:<sender@example.org>")[0], 250)
        gone(s, "rst")
        # Mid-DATA: a FIN, a reset, a TLS close_notify.
        for how in ("fin", "rst", "close_notify"):
            m, s = self.half_sent(proxy, "mid-data-" + how)
            if how == "close_notify":
                s.c.sock.settimeout(5)
                try:
                    s.c.sock = s.c.sock.unwrap()
                except (OSError, ssl.SSLError):
                    pass
            gone(s, how)
        # Right after the final dot, before the reply: the duplicate window.
        # (A reply already written to the client's socket counts as received,
        # so the backend's replies are slowed down to keep the window open.)
        slow = self.start_shim(["delay:150"])
        slow_proxy = self.start_proxy(slow.port)
        m = self.new_msg(slow_proxy, "after-dot-rst")
        s = Session(slow_proxy.port)
        m.port = s.port
        self.assertTrue(s.hello() and s.envelope() and s.data())
        s.c.send(stuffed(m.body) + b".\r\n")
        m.dot_sent, m.outcome = True, "lost_after_dot"
        harness.wait_consumed(s.c.sock)
        gone(s, "rst")
        slow_proxy.wait_log("event=delivery_unconfirmed")
        self.assertRegex(slow_proxy.log(), r"event=delivery_unconfirmed sid=\w+ size=\d+ reply=- reason=client_")
        # Connect and never speak: the idle deadline ends it.
        silent = Session(proxy.port)
        self.assertEqual(silent.c.reply()[0], 220)
        # A client that stops reading replies, with a message in the pipeline.
        m = self.new_msg(proxy, "no-reader")
        reader = self.no_reader(proxy, m)
        # Still served: a normal message after all that.
        ok = self.send(proxy, "after-client-faults")
        self.assertEqual(ok.outcome, "2xx")
        proxy.wait_log("reason=idle_timeout", 15)
        reader.join(30)
        self.assertFalse(reader.is_alive())
        self.assertTrue(silent.c.closed(10))
        silent.close()
        self.check([proxy, slow_proxy])
        # Mid-DATA clients: the backend connection was reset, so Postfix saw no end of message.
        log = self.postfix.maillog()
        self.assertEqual(log.count("lost connection after DATA") - lost_before, 3, log[-3000:])

    def no_reader(self, proxy, m, commands=90):
        """A client with a small receive buffer that pipelines a message and
        NOOPs (fewer than Postfix's junk command limit) and reads nothing until starttlsd gives up on it."""
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(20)
        sock.connect(("127.0.0.1", proxy.port))
        m.port = sock.getsockname()[1]
        c = Client.__new__(Client)
        c.sock, c.buf = sock, b""
        assert c.reply()[0] == 220 and c.cmd("EHLO a")[0] == 250 and c.cmd("STARTTLS")[0] == 220
        c.sock = client_context().wrap_socket(sock)

        def run():
            try:
                c.send(b"EHLO client.example\r\nMAIL FROM:<sender@example.org>\r\nRCPT TO:<user@example.test>\r\n"
                       b"DATA\r\n" + stuffed(m.body) + b".\r\n")
                m.dot_sent = True
                m.outcome = "lost_after_dot"
                c.send(b"NOOP\r\n" * commands)
            except (OSError, ssl.SSLError):
                pass
            # starttlsd gave up on us: read what reached us.
            c.sock.settimeout(20)
            codes = []
            while len(codes) < 5:
                code, _ = c.reply()
                if code is None:
                    break
                codes.append(code)
            if len(codes) == 5:
                m.outcome = "%dxx" % (codes[4] // 100)
            c.close()
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    # --- process faults ---

    def serving_pid(self, proxy):
        return wait_for(lambda: proxy.server_pids() and proxy.server_pids()[-1], 10, "a serving process")

    def cpu_ticks(self, pid):
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])    # utime + stime

    def test_descriptor_exhaustion(self):
        proxy = self.start_proxy(self.postfix.port)
        pid = self.serving_pid(proxy)
        nfds = len(os.listdir("/proc/%d/fd" % pid))
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (nfds + 6, nfds + 6))   # room for 3 sessions
        held = []
        for _ in range(3):
            s = Session(proxy.port)
            self.assertEqual(s.c.reply()[0], 220)
            held.append(s)
        # Saturated: more clients than descriptors. They wait; starttlsd must not spin.
        waiting = [socket.create_connection(("127.0.0.1", proxy.port), timeout=10) for _ in range(4)]
        ticks = self.cpu_ticks(pid)
        start = time.monotonic()
        waiting[0].settimeout(1.5)
        try:
            first = waiting[0].recv(1)
        except socket.timeout:
            first = None
        elapsed = time.monotonic() - start
        spent = (self.cpu_ticks(pid) - ticks) / os.sysconf("SC_CLK_TCK")
        self.assertLess(spent, 0.3 * elapsed, "starttlsd busy while out of descriptors:\n" + proxy.log()[-3000:])
        self.assertIsNone(first, "a client was answered (or dropped) with no descriptor free:\n" + proxy.log()[-3000:])
        proxy.wait_log("event=accept_paused listener=test")
        # Free the descriptors: the waiting clients are served, in turn.
        for s in held:
            s.c.cmd("QUIT")
            s.close()
        for w in waiting:
            w.settimeout(10)
            self.assertTrue(w.recv(512).startswith(b"220"), proxy.log()[-3000:])
            w.sendall(b"QUIT\r\n")
            w.close()
        proxy.wait_log("event=accept_resumed")
        m = self.send(proxy, "after-emfile")
        self.assertEqual(m.outcome, "2xx")
        self.check([proxy])

    def test_backend_down_and_back(self):
        shim = self.start_shim()
        proxy = self.start_proxy(shim.port)
        m, s = self.half_sent(proxy, "backend-killed-mid-data")
        shim.stop(signal.SIGKILL)
        s.finish(m)
        s.close()
        self.assertIn(m.outcome, ("4xx", "lost_before_dot", "lost_after_dot"))
        down = [self.send(proxy, "backend-down") for _ in range(2)]
        for d in down:
            self.assertEqual(d.outcome, "lost_before_dot")   # 421 greeting: no message started
        self.assertIn("backend_connect_failed", proxy.log())
        back = self.start_shim(port=shim.port)
        m = self.send(proxy, "backend-back")
        self.assertEqual(m.outcome, "2xx", proxy.log()[-2000:])
        wait_for(lambda: [e["fault"] for e in back.events()] == ["pass"], 10, "the new shim to relay it")
        self.check([proxy])

    def load(self, proxy, scenario, clients=3, each=4):
        """Clients sending messages in parallel threads; returns (threads, msgs)."""
        msgs = []

        def run():
            for _ in range(each):
                msgs.append(self.send(proxy, scenario))
        threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
        for t in threads:
            t.start()
        return threads, msgs

    def test_sighup_storm(self):
        proxy = self.start_proxy(self.postfix.port, shutdown_timeout="20s")
        threads, msgs = self.load(proxy, "sighup-storm", clients=3, each=5)
        for n in range(2, 12):
            proxy.proc.send_signal(signal.SIGHUP)
            proxy.wait_log("event=reloaded generation=%d" % n)
        for t in threads:
            t.join(60)
        self.assertEqual([m.outcome for m in msgs], ["2xx"] * len(msgs))
        self.check([proxy])

    def test_sigterm_under_load(self):
        proxy = Proxy(self.postfix.port, extra_listener=TIMEOUTS, shutdown_timeout="3s")
        threads, msgs = self.load(proxy, "sigterm", clients=3, each=30)
        wait_for(lambda: sum(m.outcome == "2xx" for m in msgs) >= 3, 30, "the load to get going")
        self.assertEqual(proxy.stop(), 0, proxy.log()[-3000:])
        for t in threads:
            t.join(60)
        self.proxies.append(proxy)
        self.check()
        self.assertNotIn("event=leak", proxy.log())

    def test_serving_process_killed(self):
        proxy = self.start_proxy(self.postfix.port)
        victim = self.serving_pid(proxy)
        inflight = []
        for _ in range(2):
            m, s = self.half_sent(proxy, "killed-mid-data")
            inflight.append((m, s))
        os.kill(victim, signal.SIGKILL)
        proxy.wait_log("event=restarted")
        for m, s in inflight:
            s.finish(m)
            s.close()
            self.assertIn(m.outcome, ("lost_before_dot", "lost_after_dot"))
        m = self.send(proxy, "after-kill")
        self.assertEqual(m.outcome, "2xx", proxy.log()[-2000:])
        self.assertNotEqual(self.serving_pid(proxy), victim)
        # The killed process logged no disconnects; only Postfix's side can settle.
        self.check()


if __name__ == "__main__":
    unittest.main()

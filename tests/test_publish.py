"""edge-run's MQTT publisher against a real broker: Debian's mosquitto on 127.0.0.1, started per test on a
free port (``make test`` installs it: .ci/system-packages); skips, saying so, only when the mosquitto binary is not installed."""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from edgekit.edge.core.errors import EdgekitError, MissingExtraError
from edgekit.edge.outputs.publish import Publisher, parse_url

mqtt = pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is not installed: pip install 'edgekit[mqtt]'")

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None)
needs_broker = pytest.mark.skipif(MOSQUITTO is None, reason="no mosquitto binary: apt-get install mosquitto "
                                                             "mosquitto-clients (make test does)")


# Started as root, mosquitto drops to the user 'mosquitto', who cannot read the test's private files
# (password file, certificates): stay root then (the option is ignored when not started as root).
AS_USER = "user root\n" if os.geteuid() == 0 else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout: float, what: str, step: float = 0.01):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


class Broker:
    """A mosquitto process on 127.0.0.1:port, persistence off, that can be stopped and started again."""

    def __init__(self, root, port: int):
        self.root, self.port, self.proc = root, port, None
        self.conf = root / "mosquitto.conf"
        self.conf.write_text(f"{AS_USER}listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                             "max_queued_messages 0\n"    # unbounded: a lagging test subscriber loses nothing
                             "log_dest stderr\nlog_type error\nlog_type warning\n")

    def start(self):
        self.log = open(self.root / "mosquitto.log", "a")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=self.log, stderr=self.log)
        end = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > end:
                    raise AssertionError(f"mosquitto did not start: {(self.root / 'mosquitto.log').read_text()}")
                time.sleep(0.02)

    def stop(self, how: str = "term", during_hang=lambda: None):
        """``term``: a clean stop; ``hang``: frozen for 0.3 s (connections open, nothing read or acknowledged,
        so messages pile up in flight), then killed: what was in flight is lost by the broker."""
        if self.proc and self.proc.poll() is None:
            if how == "hang":
                self.proc.send_signal(signal.SIGSTOP)
                time.sleep(0.3)
                during_hang()
                self.proc.kill()
            else:
                self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path, free_port()).start()
    yield b
    b.stop()


class Subscriber:
    """A paho client that records every message on ``topics`` (decoded JSON), connected before it returns."""

    def __init__(self, port: int, *topics: str, qos: int = 0):
        self.messages: list[tuple[str, object]] = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.c.on_message = self._message
        subscribed = threading.Event()
        self.c.on_subscribe = lambda *a: subscribed.set()
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        self.c.subscribe([(t, qos) for t in topics])
        assert subscribed.wait(5), "no SUBACK"

    def _message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, json.loads(msg.payload)))

    def on(self, topic: str) -> list:
        with self.lock:
            return [m for t, m in self.messages if t == topic]

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def url(port: int, topic: str = "edgekit/test") -> str:
    return f"mqtt://127.0.0.1:{port}/{topic}"


# -- URLs and arguments -----------------------------------------------------------------------------------
def test_urls_parse():
    assert parse_url("mqtt://broker.local/sensors/pump1") == {
        "scheme": "mqtt", "tls": False, "host": "broker.local", "port": 1883, "topic": "sensors/pump1"}
    assert parse_url("mqtts://10.0.0.2:8884/a%20b") == {
        "scheme": "mqtts", "tls": True, "host": "10.0.0.2", "port": 8884, "topic": "a b"}
    assert parse_url("MQTTS://[::1]/t")["port"] == 8883 and parse_url("mqtts://[::1]/t")["host"] == "::1"


@pytest.mark.parametrize("bad, words", [
    ("mqtt://host", "no topic"),
    ("mqtt://host/", "no topic"),
    ("mqtt:///topic", "no broker host"),
    ("mqtt://host:99999/t", "bad port '99999'"),
    ("mqtt://host:0/t", "bad port '0'"),
    ("mqtt://host:http/t", "bad port 'http'"),
    ("mqtt://host/sensors/+/x", "wildcard"),
    ("mqtt://host/sensors/#", "topic 'sensors/#' has a wildcard"),
    ("mqtt://host/sensors%23", "wildcard"),
    ("mqtt://host/$SYS/x", "belong to the broker"),
    ("mqtt://host/a/", "ends with '/'"),
    ("http://host/t", "scheme 'http://' is not MQTT"),
    ("ws://host/t", "not MQTT"),
    ("host/t", "no scheme"),
    ("mqtt://host/t?retain=1", "unexpected"),
])
def test_bad_urls_are_one_line_errors(bad, words):
    with pytest.raises(EdgekitError) as e:
        parse_url(bad)
    assert words in e.value.message and "\n" not in str(e.value)
    with pytest.raises(EdgekitError):
        Publisher(bad)


def test_a_password_in_the_url_is_refused_and_not_echoed():
    with pytest.raises(EdgekitError) as e:
        parse_url("mqtt://ann:s3cret@host/t")
    assert "s3cret" not in str(e.value) and "EDGEKIT_MQTT_PASSWORD" in str(e.value)


@pytest.mark.parametrize("kw, words", [
    ({"qos": 3}, "--qos 3"),
    ({"queue_size": 0}, "--publish-queue 0"),
    ({"password": "pw"}, "needs a user"),
    ({"ca_file": "/etc/hostname"}, "give an mqtts:// URL"),
])
def test_bad_arguments_are_one_line_errors(kw, words):
    with pytest.raises(EdgekitError) as e:
        Publisher("mqtt://127.0.0.1/t", **kw)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_missing_ca_file_is_named(tmp_path):
    with pytest.raises(EdgekitError, match="nope.pem: No such file"):
        Publisher("mqtts://127.0.0.1/t", ca_file=str(tmp_path / "nope.pem"))


def test_without_paho_the_extra_is_named(monkeypatch):
    for m in ("paho", "paho.mqtt", "paho.mqtt.client"):
        monkeypatch.setitem(sys.modules, m, None)          # what a runtime-only install sees
    with pytest.raises(MissingExtraError) as e:
        Publisher("mqtt://127.0.0.1/t")
    assert str(e.value) == ("--publish needs the 'paho-mqtt' package, which is not installed: "
                            "pip install 'edgekit[mqtt]'")


# -- against the broker -----------------------------------------------------------------------------------
@needs_broker
def test_messages_arrive_in_order_and_the_status_is_retained(broker):
    sub = Subscriber(broker.port, "edgekit/test", "edgekit/test/status", qos=1)
    n = 3000
    p = Publisher(url(broker.port), queue_size=n, status={"model": "kws_int8.tflite", "rate": 8000})
    wait_for(lambda: p.connected, 20, "the publisher to connect")
    t0 = time.perf_counter()
    for i in range(n):
        p.publish({"seq": i, "label": "yes", "score": 0.5 + i / (2 * n)})
    wait_for(lambda: p.stats()["published"] == n, 20, "every message acknowledged")
    acked = time.perf_counter() - t0
    wait_for(lambda: len(sub.on("edgekit/test")) >= n, 20, "the subscriber to receive every message")
    received = time.perf_counter() - t0
    final = p.close({"windows": n, "dropped": 0})
    assert final == {"published": n, "dropped": 0, "pending": 0}
    got = sub.on("edgekit/test")
    assert [m["seq"] for m in got] == list(range(n))
    assert got[7] == {"seq": 7, "label": "yes", "score": 0.5 + 7 / (2 * n)}
    time.sleep(0.2)
    status = sub.on("edgekit/test/status")
    assert status[0]["state"] == "online" and status[0]["model"] == "kws_int8.tflite" and status[0]["rate"] == 8000
    assert status[-1]["state"] == "stopped" and status[-1]["summary"] == {"windows": n, "dropped": 0}
    assert status[-1]["stats"] == final and status[-1]["started"] == status[0]["started"]
    assert "offline" not in [s["state"] for s in status]           # a clean close: no will
    sub.close()
    late = Subscriber(broker.port, "edgekit/test/status")          # retained: a newcomer gets the last one
    wait_for(lambda: late.on("edgekit/test/status"), 20, "the retained status")
    assert late.on("edgekit/test/status") == [status[-1]]
    late.close()
    print(f"\nthroughput QoS 1: {n} messages acknowledged in {acked:.3f} s ({n / acked:.0f}/s), "
          f"received by the subscriber in {received:.3f} s")


@needs_broker
def test_the_will_says_offline_when_the_publisher_is_killed(broker):
    script = textwrap.dedent(f"""
        import sys, time
        from edgekit.edge.outputs.publish import Publisher
        p = Publisher({url(broker.port)!r}, status={{"model": "m.tflite", "rate": 100}})
        while not p.connected:
            time.sleep(0.01)
        p.publish({{"seq": 0}})
        while p.stats()["published"] < 1:
            time.sleep(0.01)
        print("ready", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        sub = Subscriber(broker.port, "edgekit/test/status")
        wait_for(lambda: sub.on("edgekit/test/status"), 20, "the retained online status")
        assert sub.on("edgekit/test/status")[0]["state"] == "online"
        proc.kill()                                                 # no close(), no DISCONNECT
        proc.wait(5)
        wait_for(lambda: len(sub.on("edgekit/test/status")) >= 2, 20, "the last will")
        will = sub.on("edgekit/test/status")[1]
        assert will["state"] == "offline" and will["model"] == "m.tflite"
        sub.close()
        late = Subscriber(broker.port, "edgekit/test/status")
        wait_for(lambda: late.on("edgekit/test/status"), 20, "the retained will")
        assert late.on("edgekit/test/status")[0]["state"] == "offline"
        late.close()
    finally:
        proc.kill()
        proc.wait()


@needs_broker
def test_a_full_queue_drops_the_oldest_and_keeps_the_newest(tmp_path):
    b = Broker(tmp_path, free_port())                              # not started: the broker is down
    p = Publisher(url(b.port), queue_size=10)
    times = []
    for i in range(50):
        t = time.perf_counter()
        p.publish({"seq": i})
        times.append(time.perf_counter() - t)
    assert p.stats() == {"published": 0, "dropped": 40, "pending": 10}
    assert len(times) == 50                           # every call returned with no broker (speed: benchmarks/)
    try:
        wait_for(lambda: p.failed_connects >= 1, 20, "a failed connection attempt")
        b.start()                                                  # before the next attempt, 1 s later
        sub = Subscriber(b.port, "edgekit/test", qos=1)
        wait_for(lambda: p.stats()["published"] == 10, 20, "the queued messages to go out")
        wait_for(lambda: len(sub.on("edgekit/test")) >= 10, 20, "the subscriber to receive them")
        assert [m["seq"] for m in sub.on("edgekit/test")] == list(range(40, 50))
        assert p.close() == {"published": 10, "dropped": 40, "pending": 0}
        sub.close()
    finally:
        b.stop()


@needs_broker
@pytest.mark.parametrize("how", ["term", "hang"])
def test_a_broker_restart_mid_stream_loses_nothing_silently_and_never_blocks(broker, how):
    subs = [Subscriber(broker.port, "edgekit/test")]
    p = Publisher(url(broker.port), queue_size=400)
    wait_for(lambda: p.connected, 20, "the publisher to connect")
    sent, times, phase = 0, {"up": [], "down": []}, ["up"]
    stop = threading.Event()

    def stream():                                   # a 500 Hz sensor stream
        nonlocal sent
        while not stop.is_set():
            t = time.perf_counter()
            p.publish({"seq": sent})
            times[phase[0]].append(time.perf_counter() - t)
            sent += 1
            time.sleep(0.002)

    th = threading.Thread(target=stream)
    th.start()
    try:
        time.sleep(0.7)
        phase[0] = "down"
        hung = {}
        broker.stop(how, during_hang=lambda: hung.update(p.stats()))
        if how == "hang":                           # sent, unacknowledged, then lost by the broker: resent later
            assert hung["pending"] >= 100, hung
        wait_for(lambda: not p.connected, 20, "the publisher to notice")
        wait_for(lambda: p.failed_connects >= 1, 20, "a failed reconnection")
        down_for = 0.8
        time.sleep(down_for)                        # the next attempt comes 2 s after the failed one
        broker.start()
        subs.append(Subscriber(broker.port, "edgekit/test"))
        wait_for(lambda: p.connected, 20, "the publisher to reconnect")
        phase[0] = "up"
        time.sleep(0.7)
    finally:
        stop.set()
        th.join()
    final = p.close(timeout=5)
    time.sleep(0.3)
    assert final["published"] + final["dropped"] + final["pending"] == sent
    assert final["pending"] == 0 and final["dropped"] > 0         # the outage overflowed the 400-message queue
    seqs = [m["seq"] for s in subs for m in s.on("edgekit/test")]
    first = list(dict.fromkeys(seqs))               # QoS 1 may deliver a resent message twice
    assert set(first) <= set(range(sent))
    assert len(first) == final["published"]         # every acknowledged message arrived
    assert first == sorted(first)                   # in order, across the reconnect too
    missing = sorted(set(range(sent)) - set(first))
    assert len(missing) == final["dropped"]
    assert missing[-1] - missing[0] + 1 == len(missing)           # one run: the oldest of the outage
    for s in subs:
        s.close()
    down, up = sorted(times["down"]), sorted(times["up"])
    assert down and up                                # publish() went on while the broker was away (the
                                                      # call times are printed; speed is benchmarks/publish.py's)
    print(f"\n[{how}] publish() while the broker was down: {len(down)} calls, p50 {statistics.median(down) * 1e6:.1f} µs, "
          f"max {down[-1] * 1e6:.0f} µs; while up: p50 {statistics.median(up) * 1e6:.1f} µs, "
          f"max {up[-1] * 1e6:.0f} µs; sent {sent}, {final}")


# -- through edge-run --------------------------------------------------------------------------------------
from conftest import bin_path, run  # noqa: E402

WINDOW_BYTES = 10000 * 2            # one window of the tiny STFT model, as int16 PCM on stdin


def _edge_run_args(tiny_run, *args):
    return [bin_path("edge-run"), "--model", str(tiny_run / "stft" / "stft_int8.tflite"), "--json", *args]


def _pcm(n_windows: int, seed: int) -> bytes:
    import numpy as np
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n_windows * 10000) * 3000).astype("<i2").tobytes()


class Streamer:
    """edge-run reading int16 PCM from our pipe: its stdout lines are collected as they come."""

    def __init__(self, args, env=None):
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     bufsize=0, env=env)
        self.lines: list[dict] = []
        self.err: list[str] = []
        self._t = [threading.Thread(target=self._read, daemon=True),
                   threading.Thread(target=self._read_err, daemon=True)]
        for t in self._t:
            t.start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            self.lines.append(json.loads(raw))

    def _read_err(self):
        for raw in iter(self.proc.stderr.readline, b""):
            self.err.append(raw.decode())

    def feed(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def results(self):
        return [x for x in self.lines if "summary" not in x]

    def finish(self, timeout=60):
        self.proc.stdin.close()
        self.proc.wait(timeout)
        for t in self._t:
            t.join(5)
        assert self.proc.returncode == 0, "".join(self.err)
        return self.results(), self.lines[-1]["summary"]


@needs_broker
def test_edge_run_publishes_every_result_as_it_prints_it(broker, tiny_run):
    """Every JSON object edge-run prints arrives on the topic, equal and in order; the summary counts them, and
    the retained status holds the model, the rate and the summary."""
    sub = Subscriber(broker.port, "plant/pump1", "plant/pump1/status", qos=1)
    p = run(*_edge_run_args(tiny_run, "--source", "synthetic", "--duration", str(300 * 10000 / 12800),
                            "--publish", url(broker.port, "plant/pump1")))
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    results, s = lines[:-1], lines[-1]["summary"]
    assert len(results) == 300
    assert s["publish"] == {"to": f"mqtt://127.0.0.1:{broker.port}/plant/pump1", "qos": 1, "published": 300,
                            "dropped": 0, "pending": 0, "failed_connects": 0}
    wait_for(lambda: len(sub.on("plant/pump1")) >= 300, 20, "every result on the topic")
    assert sub.on("plant/pump1") == results
    wait_for(lambda: sub.on("plant/pump1/status") and sub.on("plant/pump1/status")[-1]["state"] == "stopped", 20,
             "the final status")
    status = sub.on("plant/pump1/status")[-1]
    assert status["model"] == "stft_int8.tflite" and status["rate"] == 12800 and status["task"] == "stft"
    assert status["summary"]["windows"] == 300 and status["stats"]["published"] == 300
    sub.close()
    text = run(bin_path("edge-run"), "--model", str(tiny_run / "stft" / "stft_int8.tflite"), "--quiet", "--source",
               "synthetic", "--duration", "1", "--publish", url(broker.port, "plant/pump1"), "--qos", "0")
    assert f"published 1 to mqtt://127.0.0.1:{broker.port}/plant/pump1 (QoS 0): 0 dropped, 0 pending" in text.stdout


@needs_broker
def test_events_only_publishes_the_events(broker, tiny_run):
    sub = Subscriber(broker.port, "plant/pump1", qos=1)
    p = run(*_edge_run_args(tiny_run, "--source", "synthetic", "--duration", str(200 * 10000 / 12800),
                            "--events-only", "--min-count", "1", "--average", "0.8", "--threshold", "0.3",
                            "--publish", url(broker.port, "plant/pump1")))
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    events, s = lines[:-1], lines[-1]["summary"]
    assert events and all(set(e) == {"event", "t", "score"} for e in events)
    assert s["publish"]["published"] == len(events) == sum(s["events"].values())
    wait_for(lambda: len(sub.on("plant/pump1")) >= len(events), 20, "the events on the topic")
    assert sub.on("plant/pump1") == events
    sub.close()


@needs_broker
@pytest.mark.parametrize("how", ["term", "hang"])
def test_edge_run_streams_on_through_a_broker_restart_and_counts_every_result(broker, tiny_run, how):
    """The broker stops (cleanly, or frozen then killed with messages in flight) while edge-run streams:
    results keep coming out meanwhile, and after the restart every result is either delivered (in order) or
    counted as dropped; the queue (50) overflows during the outage."""
    subs = [Subscriber(broker.port, "edgekit/test", qos=1)]
    s = Streamer(_edge_run_args(tiny_run, "--source", "stdin", "--publish", url(broker.port), "--publish-queue",
                                "50"))
    try:
        s.feed(_pcm(40, 1))
        wait_for(lambda: len(subs[0].on("edgekit/test")) >= 40, 30, "the first 40 results on the topic")
        if how == "hang":
            s.feed(_pcm(30, 2))                      # sent while the broker is frozen: in flight, unacknowledged
            broker.stop("hang", during_hang=lambda: wait_for(lambda: len(s.results()) >= 70, 30, "70 lines"))
        else:
            broker.stop("term")
        before = len(s.results())
        s.feed(_pcm(120, 3))                         # the stream goes on: its lines come out with no broker
        wait_for(lambda: len(s.results()) >= before + 120, 30, "edge-run's lines while the broker is down")
        assert any("lost the broker" in e for e in s.err), s.err
        broker.start()
        subs.append(Subscriber(broker.port, "edgekit/test", qos=1))
        end, k = time.monotonic() + 60, 0             # stream on, one window at a time, until it is back
        while not any("again" in e for e in s.err):
            assert time.monotonic() < end, f"edge-run did not reconnect: {s.err}"
            s.feed(_pcm(1, 100 + k))
            k += 1
            time.sleep(0.05)
        s.feed(_pcm(30, 4))
        results, summary = s.finish()
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
    pub = summary["publish"]
    n = len(results)
    assert n == summary["windows"] == (190 if how == "term" else 220) + k
    assert pub["published"] + pub["dropped"] + pub["pending"] == n
    assert pub["dropped"] > 0 and pub["pending"] == 0, (pub, s.err)
    assert any("dropped" in e and "counted in the summary" in e for e in s.err)
    time.sleep(0.3)
    got = list(dict.fromkeys(json.dumps(m, sort_keys=True) for sub in subs for m in sub.on("edgekit/test")))
    want = [json.dumps(r, sort_keys=True) for r in results]
    assert len(got) == pub["published"]
    index = {w: i for i, w in enumerate(want)}
    seq = [index[g] for g in got]                    # every message is one of the printed results ...
    assert seq == sorted(seq)                        # ... in order, across the reconnect too
    missing = sorted(set(range(n)) - set(seq))
    assert len(missing) == pub["dropped"]
    for sub in subs:
        sub.close()


@needs_broker
def test_a_broker_that_is_down_never_stops_the_stream(tmp_path, tiny_run):
    """Nothing listens: edge-run streams all its windows, warns once, and counts what it could not send."""
    port = free_port()
    p = run(*_edge_run_args(tiny_run, "--source", "synthetic", "--duration", str(20 * 10000 / 12800),
                            "--publish", url(port), "--publish-queue", "5"))
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    s = lines[-1]["summary"]
    assert len(lines) - 1 == s["windows"] == 20
    assert s["publish"]["published"] == 0 and s["publish"]["dropped"] == 15 and s["publish"]["pending"] == 5
    assert "5 results not delivered" in p.stderr and "15 results dropped" in p.stderr


def _password_broker(root, port, users):
    pw = root / "passwd"
    for i, (u, secret) in enumerate(users.items()):
        subprocess.run(["mosquitto_passwd", "-b", *([] if i else ["-c"]), str(pw), u, secret], check=True,
                       capture_output=True)
    os.chmod(pw, 0o600)
    b = Broker(root, port)
    b.conf.write_text(f"{AS_USER}listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\npersistence false\n"
                      "log_dest stderr\nlog_type error\n")
    return b.start()


@needs_broker
@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="no mosquitto_passwd (package mosquitto)")
def test_a_login_from_the_environment_or_a_file_and_never_echoed(tmp_path, tiny_run):
    b = _password_broker(tmp_path, free_port(), {"pi": "s3cret-Pw"})
    try:
        args = _edge_run_args(tiny_run, "--source", "synthetic", "--duration", "2", "--publish", url(b.port),
                              "--mqtt-user", "pi")
        env = {**os.environ, "EDGEKIT_MQTT_PASSWORD": "s3cret-Pw"}
        ok = run(*args, env=env)
        assert json.loads(ok.stdout.splitlines()[-1])["summary"]["publish"]["published"] == 2
        (tmp_path / "pw").write_text("s3cret-Pw\n")
        ok = run(*args, "--mqtt-password-file", str(tmp_path / "pw"))
        assert json.loads(ok.stdout.splitlines()[-1])["summary"]["publish"]["published"] == 2
        bad = run(*args, env={**os.environ, "EDGEKIT_MQTT_PASSWORD": "wrong-Pw"})
        s = json.loads(bad.stdout.splitlines()[-1])["summary"]["publish"]
        assert s["published"] == 0 and s["pending"] == 2
        assert "refused the connection" in bad.stderr and "Not authorized" in bad.stderr
        for p in (ok, bad):
            assert "s3cret" not in p.stdout + p.stderr and "wrong-Pw" not in p.stdout + p.stderr
        no_user = run(*args[:-2], env=env, check=False)
        assert no_user.returncode == 2 and "needs a user: give --mqtt-user" in no_user.stderr
    finally:
        b.stop()


@needs_broker
@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl to make a test certificate")
def test_mqtts_with_a_ca_file(tmp_path, tiny_run):
    """TLS for real: a CA and a server certificate for 127.0.0.1 made here; the broker speaks only TLS."""
    d = tmp_path
    sh = lambda *a: subprocess.run(a, check=True, capture_output=True, cwd=d)   # noqa: E731
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=edgekit test CA",
       "-keyout", "ca.key", "-out", "ca.pem")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
       "-out", "server.csr")
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    sh("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
       "-days", "2", "-extfile", "ext", "-out", "server.pem")
    port = free_port()
    b = Broker(d, port)
    b.conf.write_text(f"{AS_USER}listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\ncafile {d}/ca.pem\n"
                      f"certfile {d}/server.pem\nkeyfile {d}/server.key\nlog_dest stderr\nlog_type error\n")
    b.start()
    try:
        args = _edge_run_args(tiny_run, "--source", "synthetic", "--duration", "2",
                              "--publish", f"mqtts://127.0.0.1:{port}/secure")
        ok = run(*args, "--ca-file", str(d / "ca.pem"))
        assert json.loads(ok.stdout.splitlines()[-1])["summary"]["publish"]["published"] == 2
        (d / "other.pem").write_bytes((d / "ca.pem").read_bytes())
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=someone else",
           "-keyout", "o.key", "-out", "other.pem")
        untrusted = run(*args, "--ca-file", str(d / "other.pem"))
        s = json.loads(untrusted.stdout.splitlines()[-1])["summary"]["publish"]
        assert s["published"] == 0 and s["pending"] == 2 and s["failed_connects"] >= 1
        plain = run(*_edge_run_args(tiny_run, "--source", "synthetic", "--duration", "1", "--ca-file", "x.pem",
                                    "--publish", url(port)), check=False)
        assert plain.returncode == 2 and "give an mqtts:// URL" in plain.stderr
    finally:
        b.stop()


@pytest.mark.parametrize("args, words", [
    (["--publish", "http://h/t"], "scheme 'http://' is not MQTT"),
    (["--publish", "mqtt://u:pw@h/t"], "holds credentials"),
    (["--mqtt-user", "pi"], "are for --publish"),
    (["--publish", "mqtt://h/t", "--qos", "3"], "--qos"),
    (["--publish", "mqtt://h/t", "--mqtt-user", "u", "--mqtt-password-file", "/nonexistent/pw"], "No such file"),
])
def test_edge_run_publish_flag_errors_are_one_line(tiny_run, args, words):
    p = run(*_edge_run_args(tiny_run, "--source", "synthetic", "--duration", "1", *args), check=False)
    assert p.returncode == 2 and words in p.stderr and p.stderr.count("\n") == 1 and p.stdout == ""
    assert "pw@" not in p.stderr


@needs_broker
def test_the_retained_status_is_refreshed_with_the_stream_so_far(broker):
    from edgekit.edge.outputs.sinks import NullSink, PublishingSink
    sub = Subscriber(broker.port, "edgekit/test/status", qos=1)
    p = Publisher(url(broker.port), status={"model": "m.tflite"})
    wait_for(lambda: p.connected, 20, "the publisher to connect")
    sink = PublishingSink(NullSink(), p, status_every=0.2)
    for i in range(5):
        sink.result({"t": i, "label": "yes"})
    sink.event({"event": "yes", "t": 4.0, "score": 0.9})
    time.sleep(0.25)
    sink.result({"t": 5, "label": "no"})            # the first result after 0.2 s refreshes the status
    wait_for(lambda: any("summary" in m for m in sub.on("edgekit/test/status")), 20, "a refreshed status")
    s = [m for m in sub.on("edgekit/test/status") if "summary" in m][0]
    assert s["state"] == "online" and s["model"] == "m.tflite"
    assert s["summary"]["results"] == 6 and s["summary"]["events"] == {"yes": 1}
    assert sum(s["summary"]["publish"].values()) == 7 and s["summary"]["running_s"] >= 0.2
    p.close({"windows": 6})
    sub.close()


@needs_broker
def test_a_stop_signal_while_flushing_keeps_the_summary(tiny_run):
    """The stream is over and edge-run waits (up to 2 s) for a broker that is not there: a SIGTERM then
    (systemd stopping the service) still gets the summary written, and exit status 0."""
    s = Streamer(_edge_run_args(tiny_run, "--source", "stdin", "--publish", url(free_port())))
    try:
        s.feed(_pcm(3, 5))
        s.proc.stdin.close()
        wait_for(lambda: len(s.lines) >= 3, 30, "the three results")
        s.proc.send_signal(signal.SIGTERM)        # inside the flush: the results are out, the summary is not
        s.proc.wait(30)
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
    for t in s._t:
        t.join(5)
    assert s.proc.returncode == 0, "".join(s.err)
    assert "summary" in s.lines[-1] and s.lines[-1]["summary"]["publish"]["pending"] == 3

"""Publish a stream's results over MQTT (``--publish mqtt://HOST[:PORT]/TOPIC``) without ever stalling it.

:class:`Publisher` hands each result (one compact JSON object, as the JSON sink writes it) to a bounded
queue and returns at once; a sender thread publishes from the queue while the broker is connected. A broker that is down
or goes away never blocks the stream: paho-mqtt's network thread connects in the background and reconnects with back-off
(1 s doubling to 30 s), and while it is away the queue fills; when it is full the *oldest* message is dropped and
counted.

Delivery, counted by :meth:`Publisher.stats` (``published + dropped + pending`` is every message given to
:meth:`~Publisher.publish`):

- ``published``: with QoS 1 or 2, acknowledged by the broker; with QoS 0 (no acknowledgement exists),
  written to the connection.
- ``dropped``: pushed out of a full queue (the oldest first), or refused by the client library.
- ``pending``: still queued, or sent and not yet acknowledged.

Messages in flight when the connection drops are never lost silently: with QoS >= 1 they stay in flight and are sent
again (flagged DUP) on reconnect, before any newer message, so the broker may see a message twice but order is kept;
with QoS 0 the unsent ones go back to the front of the queue. Whatever is left at
:meth:`~Publisher.close` is reported as pending.

``TOPIC/status`` carries a retained JSON status: ``{"state": "online", ...}`` (the caller's ``status``
fields, e.g. model, rate, ``started``) on every connect and, from edge-run (:class:`PublishingSink`), every
:data:`STATUS_EVERY` s with ``summary``: the stream so far (``running_s``, ``results``, ``events``,
``publish``); ``{"state": "stopped", ..., "summary", "stats"}`` at a clean close, and ``{"state": "offline", ...}`` as the last will the broker publishes when the device
vanishes without closing (killed, powered off, network lost: within 1.5 keep-alives, 22 s).

paho-mqtt (``pip install 'edgekit[mqtt]'``) is imported only when a publisher is made.
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

from edgekit.edge.core.errors import EdgekitError, MissingExtraError

PORTS = {"mqtt": 1883, "mqtts": 8883}
KEEPALIVE = 15          # s: a vanished device's will is published within 1.5× this
WINDOW = 200            # messages sent and not yet acknowledged, at most
STATUS_EVERY = 60.0     # s: the retained status is refreshed with the stream so far (edge-run --publish)
BATCH = 200             # results: the sender wakes when this many wait, else every TICK s, and sends them all:
TICK = 0.25             # one thread switch per batch, not per message (per message cost 8 % of a fast stream)


def parse_url(url: str) -> dict[str, Any]:
    """``mqtt://HOST[:PORT]/TOPIC`` or ``mqtts://...`` (TLS) → {"scheme", "tls", "host", "port", "topic"}."""
    text = str(url)
    hint = "give mqtt://HOST[:PORT]/TOPIC or mqtts://HOST[:PORT]/TOPIC"
    try:
        parts = urlsplit(text.strip())
    except ValueError as e:                         # e.g. an unclosed IPv6 bracket
        raise EdgekitError(f"--publish: not a valid URL ({e}): {hint}") from None
    scheme = parts.scheme.lower()
    if scheme not in PORTS:
        what = f"scheme '{parts.scheme}://'" if parts.scheme else "no scheme"
        raise EdgekitError(f"--publish: {what} is not MQTT: {hint}")
    if "@" in parts.netloc:       # never echo it: it may hold a password
        raise EdgekitError("--publish: the URL holds credentials; give the user with --mqtt-user and the password "
                           "in EDGEKIT_MQTT_PASSWORD or --mqtt-password-file, not in the URL")
    shown = text.strip()
    if not parts.hostname:
        raise EdgekitError(f"--publish {shown}: no broker host: {hint}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is None:
        port = PORTS[scheme]
    if not 1 <= port <= 65535:
        raise EdgekitError(f"--publish {shown}: bad port '{parts.netloc.rpartition(':')[2]}': give 1 to 65535")
    raw_topic = shown.split("/", 3)[3] if shown.count("/") >= 3 else ""
    if "?" in raw_topic or parts.query:
        raise EdgekitError(f"--publish {shown}: unexpected '?' part: {hint}")
    topic = unquote(raw_topic)
    if not topic:
        raise EdgekitError(f"--publish {shown}: no topic: {hint}")
    if "+" in topic or "#" in topic:
        raise EdgekitError(f"--publish {shown}: topic '{topic}' has a wildcard (+ or #), which subscribers use; "
                           "give a plain topic such as sensors/pump1")
    if topic.startswith("$"):
        raise EdgekitError(f"--publish {shown}: topics starting with '$' belong to the broker; give another topic")
    if topic.endswith("/"):
        raise EdgekitError(f"--publish {shown}: topic '{topic}' ends with '/': drop the trailing slash")
    if "\x00" in topic or len(topic.encode("utf-8")) > 65000:
        raise EdgekitError(f"--publish {shown}: the topic is not a valid MQTT topic (NUL character or too long)")
    return {"scheme": scheme, "tls": scheme == "mqtts", "host": parts.hostname, "port": port, "topic": topic}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


class Publisher:
    """Results to ``TOPIC`` on an MQTT broker, through a bounded queue that never blocks the caller."""

    def __init__(self, url: str, *, qos: int = 1, queue_size: int = 1000, user: str | None = None,
                 password: str | None = None, ca_file: str | None = None, client_id: str | None = None,
                 status: dict | None = None):
        self.url = parse_url(url)
        if qos not in (0, 1, 2):
            raise EdgekitError(f"--qos {qos}: give 0, 1 or 2")
        if not isinstance(queue_size, int) or queue_size < 1:
            raise EdgekitError(f"--publish-queue {queue_size}: give a number of messages, 1 or more")
        if password is not None and not user:
            raise EdgekitError("an MQTT password needs a user: give --mqtt-user")
        if ca_file is not None and not self.url["tls"]:
            raise EdgekitError("--ca-file is for TLS: give an mqtts:// URL")
        if ca_file is not None:
            try:
                open(ca_file, "rb").close()
            except OSError as e:
                raise EdgekitError(f"--ca-file {ca_file}: {e.strerror or e}") from None
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise MissingExtraError("--publish", "paho-mqtt", "mqtt") from None
        self._mqtt = mqtt
        self.topic = self.url["topic"]
        self.status_topic = f"{self.topic}/status"
        self.qos = qos
        self.queue_size = queue_size
        self._status = {"started": _now(), **(status or {})}
        self._summary: dict | None = None

        self._cv = threading.Condition()
        self._queue: deque[str] = deque()
        self._inflight: dict[int, str] = {}        # mid → payload, in sending order
        self._early: set[int] = set()              # acknowledged before publish() returned its mid
        self._published = 0
        self._dropped = 0
        self.connected = False                     # to the broker, now
        self._hold = False                         # after a reconnect: the resent messages go first
        self._epoch = 0                            # connections lost so far
        self.failed_connects = 0                   # connection attempts that failed (broker down or unreachable)
        self.last_error: str | None = None         # why the last connection attempt failed, for a warning
        self._status_mids: set[int] = set()        # status messages: not results, not counted
        self._stopping = False
        self._closed = False
        self._gone = threading.Event()             # on_disconnect after our own disconnect()

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "", protocol=mqtt.MQTTv311,
                        clean_session=True)
        if user:
            c.username_pw_set(user, password)
        if self.url["tls"]:
            import ssl
            try:
                c.tls_set(ca_certs=ca_file)
            except (OSError, ssl.SSLError) as e:
                raise EdgekitError(f"--ca-file {ca_file}: not a CA certificate file ({e})") from None
        c.max_inflight_messages_set(WINDOW + 4)    # our window and the status messages: paho never queues
        c.reconnect_delay_set(1, 30)
        c.will_set(self.status_topic, _compact({"state": "offline", **self._status}), qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        self._client = c
        c.connect_async(self.url["host"], self.url["port"], keepalive=KEEPALIVE)
        c.loop_start()
        self._sender = threading.Thread(target=self._send_loop, name="edgekit-mqtt-sender", daemon=True)
        self._sender.start()

    @property
    def where(self) -> str:
        """The broker and topic, with the port made explicit: ``mqtt://HOST:PORT/TOPIC``."""
        u = self.url
        return f"{u['scheme']}://{u['host']}:{u['port']}/{u['topic']}"

    def __repr__(self) -> str:
        return f"Publisher({self.where}, qos={self.qos})"

    # -- the stream's side ----------------------------------------------------------------------------------
    def publish(self, obj: Any, urgent: bool = False) -> None:
        """Queue one result (a JSON-able object, or JSON text) and return at once; a full queue drops its oldest.

        Results leave in batches (within :data:`TICK` s); an ``urgent`` message (an event) wakes the sender at once,
        with whatever waits before it."""
        text = obj if isinstance(obj, str) else _compact(obj)
        with self._cv:
            if self._closed:
                self._dropped += 1
                return
            if len(self._queue) >= self.queue_size:
                self._queue.popleft()
                self._dropped += 1
            self._queue.append(text)
            if urgent or len(self._queue) >= BATCH:
                self._cv.notify()

    def stats(self) -> dict[str, int]:
        """{"published", "dropped", "pending"}: see the module's docstring for what each counts."""
        with self._cv:
            return {"published": self._published, "dropped": self._dropped,
                    "pending": len(self._queue) + len(self._inflight)}

    def update_status(self, summary: dict) -> None:
        """Publish the retained ``online`` status again with ``summary`` (the stream so far), if connected;
        a reconnect publishes the latest one too."""
        with self._cv:
            if self._closed:
                return
            self._summary = summary
            if not self.connected:
                return
        info = self._client.publish(self.status_topic, self._status_payload(), qos=1, retain=True)
        self._forget_status(info.mid)

    def close(self, summary: dict | None = None, timeout: float = 2.0) -> dict[str, int]:
        """Flush what can be sent within ``timeout`` s, publish ``summary`` in the retained status, disconnect
        cleanly (the broker does not send the will) and return :meth:`stats`."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cv:
            if self._closed:
                return self.stats()
            self._closed = True                    # publish() from now on counts as dropped
            self._summary = summary
            self._cv.notify_all()                  # the sender: send what waits now
            while self._queue or self._inflight:   # connected, or maybe by the deadline: keep trying
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(min(left, 0.05))
            self._stopping = True
            self._cv.notify_all()
        self._sender.join(max(0.0, deadline - time.monotonic()) + 0.5)
        final = self.stats()
        was_connected = self.connected
        if was_connected:
            info = self._client.publish(self.status_topic, _compact(
                {"state": "stopped", **self._status, "summary": summary, "stats": final}), qos=1, retain=True)
            self._forget_status(info.mid)
            left = deadline - time.monotonic()
            if left > 0 and info.rc == self._mqtt.MQTT_ERR_SUCCESS:
                try:
                    info.wait_for_publish(left)
                except (RuntimeError, ValueError):
                    pass
        self._client.disconnect()
        if was_connected:                          # the DISCONNECT packet goes out before the thread stops
            self._gone.wait(max(0.05, min(0.5, deadline - time.monotonic())))
        stopper = threading.Thread(target=self._client.loop_stop, daemon=True)   # bounded: a connect may hang
        stopper.start()
        stopper.join(max(0.1, deadline - time.monotonic()))
        return final

    # -- the sender thread ----------------------------------------------------------------------------------
    def _send_loop(self) -> None:
        mqtt = self._mqtt
        while True:
            with self._cv:
                while not self._stopping and not (self.connected and not self._hold and self._queue
                                                  and len(self._inflight) < WINDOW):
                    self._cv.wait(TICK)
                if self._stopping:
                    return
                text = self._queue.popleft()
                epoch = self._epoch
            try:
                info = self._client.publish(self.topic, text, qos=self.qos)
                rc, mid = info.rc, info.mid
            except (ValueError, TypeError):        # too large for MQTT
                rc, mid = None, None
            with self._cv:
                kept = rc == mqtt.MQTT_ERR_SUCCESS or (rc == mqtt.MQTT_ERR_NO_CONN and self.qos > 0)
                if kept and mid in self._early:
                    self._early.discard(mid)
                    self._published += 1
                elif kept and not (self.qos == 0 and epoch != self._epoch):
                    self._inflight[mid] = text     # paho holds QoS >= 1 messages across a reconnect
                elif rc in (mqtt.MQTT_ERR_NO_CONN, mqtt.MQTT_ERR_SUCCESS):
                    self._queue.appendleft(text)   # QoS 0 caught by a lost connection: not sent, again later
                    self._trim()
                else:
                    self._dropped += 1
                self._cv.notify_all()

    def _trim(self) -> None:
        while len(self._queue) > self.queue_size:
            self._queue.popleft()
            self._dropped += 1

    # -- paho's network thread ------------------------------------------------------------------------------
    def _status_payload(self) -> str:
        s = {"state": "online", **self._status}
        if self._summary is not None:
            s["summary"] = self._summary
        return _compact(s)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:                 # refused: bad user or password, not authorised
            with self._cv:
                self.failed_connects += 1
                self.last_error = f"the broker refused the connection: {reason_code}"
            return
        info = client.publish(self.status_topic, self._status_payload(), qos=1, retain=True)
        self._forget_status(info.mid)             # its PUBACK is read by this thread, after this returns
        with self._cv:
            self.connected = True
            self.last_error = None
            self._hold = bool(self._inflight)      # paho resends these after this callback returns
            self._cv.notify_all()

    def _on_connect_fail(self, client, userdata) -> None:
        with self._cv:
            self.failed_connects += 1
            self.last_error = f"cannot reach {self.url['host']}:{self.url['port']}"
            self._cv.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._cv:
            self.connected = False
            self._epoch += 1
            if self.qos == 0 and self._inflight:   # unwritten QoS 0 packets are discarded on reconnect
                self._queue.extendleft(reversed(list(self._inflight.values())))
                self._inflight.clear()
                self._trim()
            self._cv.notify_all()
        if self._stopping:
            self._gone.set()

    def _forget_status(self, mid: int) -> None:
        with self._cv:
            if mid in self._early:
                self._early.discard(mid)
            else:
                self._status_mids.add(mid)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._cv:
            if mid in self._status_mids:
                self._status_mids.discard(mid)
            elif self._inflight.pop(mid, None) is not None:
                self._published += 1
            else:
                self._early.add(mid)               # acknowledged before its publish() call returned
            if not self._inflight:
                self._hold = False
            if not self._inflight or len(self._inflight) == WINDOW // 2:
                self._cv.notify_all()              # close() waits for none in flight; the sender for room


def read_password(path: str | None, env: dict | None = None) -> str | None:
    """The MQTT password: the first line of ``--mqtt-password-file`` if given, else ``EDGEKIT_MQTT_PASSWORD``
    (never a flag, so it shows in no process list or shell history; never echoed)."""
    import os
    env = os.environ if env is None else env
    if path is None:
        return env.get("EDGEKIT_MQTT_PASSWORD") or None
    try:
        with open(path, "rb") as f:
            data = f.read(4097)
    except OSError as e:
        raise EdgekitError(f"--mqtt-password-file {path}: {e.strerror or e}") from None
    if len(data) > 4096:
        raise EdgekitError(f"--mqtt-password-file {path}: over 4 KB; give a file holding only the password")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise EdgekitError(f"--mqtt-password-file {path}: not UTF-8 text; give a file holding only the "
                           "password") from None
    password = text.splitlines()[0] if text.strip() else ""
    if not password:
        raise EdgekitError(f"--mqtt-password-file {path}: the file is empty; write the password on its first line")
    return password


def summary_of(publisher: Publisher, stats: dict[str, int]) -> dict[str, Any]:
    """The ``publish`` part of edge-run's summary."""
    return {"to": publisher.where, "qos": publisher.qos, **stats, "failed_connects": publisher.failed_connects}

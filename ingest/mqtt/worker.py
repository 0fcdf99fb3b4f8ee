"""The ingest worker: MQTT 5 in, COPY to TimescaleDB, acknowledgement only after commit.

Two threads share one batch:
- the network thread runs paho's loop; ``on_message`` decodes each message into COPY text (or a
  dead letter) and appends it to the open batch;
- the writer thread closes the batch when it is full or old enough, stores it in one transaction
  through the batch writer (``ingest.core.writer``, shared with the HJ 212 gateway: connection, retry,
  isolation of a refused message, the registry) and only then sends the PUBACKs.

Memory is bounded twice: by MQTT 5 Receive Maximum (the broker never has more than that many
unacknowledged messages out to us) and in bytes (``max_pending_bytes``: with that much payload held,
the network thread stops reading until a commit frees room; we announce the broker's packet limit as
our Maximum Packet Size, so one packet never exceeds it). While the database is slow or down the stream
stops at the broker, which keeps the messages in our persistent session. A broker disconnect bumps a
generation counter: acks of messages from an earlier connection are never sent on a later one (the
broker redelivers those messages, and the readings' key makes the second copy a no-op).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import threading
import time
from collections import deque
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.core import repo, secrets
from ingest.core.backoff import Backoff
from ingest.core.batches import BeforeCommit
from ingest.core.decoded import Accepted, Rejected
from ingest.core.settings import HJ212LoggerSettings, IngestSettings
from ingest.core.writer import BatchWriter, Registry, Totals
from ingest.hj212 import records as hj212_records
from ingest.hj212 import split as hj212_split
from ingest.hj212.session import PartLimit
from ingest.hj212.split import Refused
from ingest.mqtt import jsonv1, mqttio
from ingest.mqtt.batch import SOURCE, Ack, Batch, Messages, add, collect
from ingest.mqtt.mqttio import FastClient

log = logging.getLogger(__name__)


class IngestWorker:
    def __init__(
        self,
        settings: IngestSettings,
        database_url: str,
        mqtt_host: str,
        mqtt_port: int,
        before_commit: BeforeCommit | None = None,
        hj212: HJ212LoggerSettings | None = None,
        credentials: tuple[str, str] | None = None,  # (username, password) on a broker with accounts
    ) -> None:
        self.settings = settings
        # the PW and split-packet rules of raw HJ 212 frames (the gateway's, OUTFALL_HJ212_*)
        self.hj212 = hj212 if hj212 is not None else HJ212LoggerSettings()
        self.credentials = credentials
        self.database_url = database_url
        self.mqtt_host, self.mqtt_port = mqtt_host, mqtt_port
        self.writer = BatchWriter(
            database_url, settings.client_id, before_commit, settings.intake, item="message"
        )
        self._lock = threading.Lock()
        self._batch = Batch()
        self._generation = 0
        self._draining = threading.Event()
        self._stopped = threading.Event()
        limit = PartLimit(self.hj212.split_parts_per_logger, self.hj212.split_parts_total)
        self._splits = hj212_split.SplitPackets(limit, max_age=settings.split_max_age_s)  # network thread
        self.subscribed = threading.Event()  # set once the broker has confirmed our subscription
        # Committed batches' acks go to the network thread, the only thread that touches the client.
        self._acks: deque[list[Ack]] = deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._writer_done = threading.Event()
        self.held_in_writer = 0
        self.bytes_in_writer = 0
        self._paused = False  # network thread only: reading stopped at max_pending_bytes
        self.client = self._make_client()
        self._network = threading.Thread()  # the MQTT network thread, started by run()
        self.failed = False  # set when a thread of the worker died: the process exits with status 1

    @property
    def counters(self) -> Totals:
        return self.writer.totals

    # --- network thread -------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        client = FastClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.settings.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        if self.credentials is not None:
            client.username_pw_set(*self.credentials)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = lambda *_args: self.subscribed.set()
        # We drive writes from our own loop; without this paho writes from whichever thread queues a packet.
        client.on_socket_register_write = lambda *_args: None
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry_s
        props.ReceiveMaximum = self.settings.receive_maximum
        props.MaximumPacketSize = self.settings.max_packet_bytes
        return props

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: Properties | None
    ) -> None:
        if reason.is_failure:
            log.warning("broker refused connection: %s", reason)
            return
        with self._lock:
            self._generation += 1
        topics = self.settings.topics()
        if self.settings.share_group:
            group = subscription_group(self.settings.share_group)
            topics = [f"$share/{group}/{topic}" for topic in topics]
        client.subscribe([(topic, 1) for topic in topics])
        log.info("connected to %s:%d, subscribed to %s", self.mqtt_host, self.mqtt_port, ", ".join(topics))

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: Properties | None
    ) -> None:
        with self._lock:
            self._generation += 1
        if not self._draining.is_set():
            log.warning("disconnected from broker: %s", reason)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if self._draining.is_set():
            return  # not acknowledged: the broker redelivers it to the next session
        payload = bytes(msg.payload)
        ack = (msg.mid, msg.qos, self._generation)  # the network thread is the only one changing it
        topic = msg.topic
        if topic.startswith(hj212_records.TOPIC_PREFIX):
            self._on_hj212(topic, payload, ack)
            return
        # the hot path: one JSON v1 message, one entry in the open batch
        result = self._decode(topic, payload, datetime.now(UTC), self.writer.registry)
        with self._lock:
            add(self._batch, topic, payload, (ack,))
            collect(self._batch, topic, payload, result, retry_unknown=True)

    def _on_hj212(self, topic: str, payload: bytes, ack: Ack) -> None:
        """Raw frames; parts of a split packet are held (unacknowledged) until the set is whole."""
        offered = self._splits.offer(topic, payload, ack, time.monotonic())
        now, registry = datetime.now(UTC), self.writer.registry
        decoded = [
            # a part over the cap of held parts: a dead letter, acknowledged with the batch
            (w, (w.ack,), Rejected(w.reason))
            if isinstance(w, Refused)
            else (w, w.acks, self._decode(w.topic, w.payload, now, registry))
            for w in offered
        ]
        with self._lock:
            batch = self._batch
            for item, acks, result in decoded:
                add(batch, item.topic, item.payload, acks)
                collect(batch, item.topic, item.payload, result, retry_unknown=True)
        self._expire_splits()

    def _expire_splits(self) -> None:
        """Split sets that never completed become dead letters (and their parts are acknowledged), so
        held parts cannot block the broker's flow; checked on every turn of the network loop."""
        given_up = self._splits.expired(time.monotonic())
        if not given_up:
            return
        with self._lock:
            for gone in given_up:
                add(self._batch, gone.topic, gone.payload, gone.acks)
                self._batch.dead.append((hj212_records.SOURCE_MQTT, gone.topic, gone.payload, gone.reason))

    def _each_turn(self) -> None:
        self._send_acks()
        self._expire_splits()

    def _decode(self, topic: str, payload: bytes, now: datetime, registry: Registry) -> Accepted | Rejected:
        # Raw HJ 212 frames share the worker, its batches and its ack-after-commit (DESIGN.md contracts).
        skew = self.settings.intake.max_skew
        if topic.startswith(hj212_records.TOPIC_PREFIX):
            pw = hj212_records.PwRule(registry.hj212_pw, self.hj212.require_pw)
            return hj212_split.decode(topic, payload, registry.by_mn, now, pw=pw, max_skew=skew)
        return jsonv1.decode(
            topic,
            payload,
            registry.by_key,
            now,
            max_bytes=self.settings.max_payload_bytes,
            source=SOURCE,
            max_skew=skew,
        )

    def _network_loop(self) -> None:
        backoff = Backoff()
        while not self._stopped.is_set():
            if self.client.socket() is None:
                if self._writer_done.is_set():
                    return
                try:
                    self.client.connect(
                        self.mqtt_host,
                        self.mqtt_port,
                        keepalive=30,
                        clean_start=False,
                        properties=self._connect_properties(),
                    )
                    backoff.reset()
                except OSError as exc:
                    delay = backoff.next_delay()
                    log.warning(
                        "broker %s:%d unreachable (%s); retrying in %.1f s",
                        self.mqtt_host,
                        self.mqtt_port,
                        exc,
                        delay,
                    )
                    self._stopped.wait(delay)
                    continue
            if self._pump() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._stopped.wait(backoff.next_delay())
            elif self._writer_done.is_set() and not self._acks:
                self.client.disconnect()
                self.client.loop_write()  # the last PUBACKs, then DISCONNECT
                return

    def _pump(self) -> MQTTErrorCode:
        return mqttio.pump(self.client, self._wake_r, before_read=self._each_turn, may_read=self._room)

    def _room(self) -> bool:
        """Whether to read more: False while held payloads reach ``max_pending_bytes`` (read without
        the lock: an approximate figure is enough for a bound, and this runs once per message)."""
        held = self.held_bytes()
        room = held < self.settings.max_pending_bytes
        if room == self._paused:
            self._paused = not room
            if self._paused:
                log.warning("%d payload bytes held unacknowledged: reading paused until a commit", held)
            else:
                log.info("reading resumed (%d payload bytes held)", held)
        return room

    def _send_acks(self) -> None:
        while self._acks:
            for mid, qos, gen in self._acks.popleft():
                # an ack for a message of an earlier connection would hit a reused packet id
                if gen == self._generation and qos > 0:
                    self.client.ack(mid, qos)

    # --- writer thread --------------------------------------------------------------------------
    def _take_batch(self, force: bool) -> Batch | None:
        with self._lock:
            batch = self._batch
            if not batch.acks:
                return None
            full = batch.readings >= self.settings.batch_readings
            old = time.monotonic() - batch.started >= self.settings.batch_seconds
            if not (force or full or old):
                return None
            self._batch = Batch()
            self.held_in_writer, self.bytes_in_writer = batch.messages, batch.payload_bytes
            return batch

    def _writer_loop(self) -> None:
        tick = min(self.settings.batch_seconds / 2, 0.02)
        while True:
            stopping = self._draining.is_set()
            batch = self._take_batch(force=stopping)
            if batch is None:
                if stopping:
                    return
                time.sleep(tick)
                continue
            self._store(batch)

    def _store(self, batch: Batch) -> None:
        """Commit through the batch writer, then acknowledge; at shutdown with no database the batch
        stays unacknowledged at the broker, which redelivers it to the next session."""
        stored = self.writer.write(Messages(batch, self._decode), stopping=self._draining.is_set)
        self.held_in_writer = self.bytes_in_writer = 0
        if stored:
            self._ack(batch)

    def held_messages(self) -> int:
        """Messages received and not yet acknowledged (the memory bound: at most Receive Maximum)."""
        with self._lock:
            return self._batch.messages + self.held_in_writer + len(self._splits)

    def held_bytes(self) -> int:
        """Payload bytes received and not yet acknowledged, in the open batch and the one being written
        (held split-packet parts are bounded by the split packets' own caps)."""
        return self._batch.payload_bytes + self.bytes_in_writer

    def _ack(self, batch: Batch) -> None:
        self._acks.append(batch.acks + batch.held_acks)
        with contextlib.suppress(BlockingIOError):  # wake-ups already pending are enough
            self._wake_w.send(b"!")

    # --- lifecycle ------------------------------------------------------------------------------
    def run(self) -> None:
        """Run until ``stop()``; then drain the open batch, acknowledge it and disconnect."""
        self._refresh_with_retry()
        network = self._network = threading.Thread(target=self._network_loop, name="mqtt", daemon=True)
        network.start()
        refresher = threading.Thread(target=self._periodic_refresh, name="registry", daemon=True)
        refresher.start()
        self._writer_loop()
        self._writer_done.set()
        self._wake_w.send(b"!")
        network.join(timeout=10)
        self._stopped.set()
        self.writer.close()
        if not self.failed:  # a clean stop is not a failure: /healthz forgets this worker
            with (
                contextlib.suppress(psycopg.Error),
                psycopg.connect(self.database_url, connect_timeout=5) as conn,
            ):
                repo.forget(conn, self.settings.client_id)
        log.info(
            "ingest stopped: %d messages, %d readings, %d duplicates, %d dead letters",
            self.counters.messages,
            self.counters.readings,
            self.counters.duplicates,
            self.counters.dead,
        )

    def stop(self) -> None:
        self._draining.set()

    def _refresh_with_retry(self) -> None:
        backoff = Backoff()
        while not self._draining.is_set():
            try:
                with psycopg.connect(self.database_url) as conn:
                    self.writer.refresh(conn)
                    repo.restarted(conn, self.settings.client_id, "ingest")
                return
            except psycopg.OperationalError as exc:
                delay = backoff.next_delay()
                log.warning("database unavailable at start (%s); retrying in %.1f s", exc, delay)
                time.sleep(delay)

    def _periodic_refresh(self) -> None:
        """Refresh the registry and beat (component_heartbeats) while the network thread lives."""
        while not self._draining.wait(self.settings.registry_refresh_s):
            try:
                with psycopg.connect(self.database_url, connect_timeout=5) as conn:
                    self.writer.refresh(conn)
                    if self._network.is_alive():
                        detail: dict[str, object] = {
                            "held": self.held_messages(),
                            "held_bytes": self.held_bytes(),
                            "readings": self.counters.readings,
                        }
                        repo.beat(conn, self.settings.client_id, "ingest", detail)
                    else:
                        # no acks can be sent any more: exit so the process is restarted (the broker
                        # redelivers what was not acknowledged); the heartbeat stays, going stale
                        log.critical("the MQTT network thread died: stopping the worker")
                        self.failed = True
                        self.stop()
            except psycopg.Error as exc:
                log.warning("registry refresh failed: %s", exc)


@functools.cache
def subscription_group(share_group: str) -> str:
    """The shared-subscription group the workers really use: the configured name with a tag derived
    from the secret store key (secrets.derived_name), so a data logger cannot join it; the plain name
    where no store key is configured (a broker without accounts, the component tests)."""
    try:
        key = secrets.SecretSettings().key()
    except secrets.SecretStoreError:
        log.warning("no secret store key: MQTT share group %r is guessable", share_group)
        return share_group
    return secrets.derived_name(share_group, "mqtt-share-group", key)

"""Load and fault check through the local stack over HTTP (`make load`).

One run:
1. generates a conversation per chat with `greenhook_dev.webhooks` (incoming and outgoing
   messages, replies, outgoingMessageStatus sent/delivered/read, edits); every body is a
   valid webhook that must end stored;
2. shuffles the whole run (seeded), so statuses and edits often arrive before their message,
   and re-sends a share of the bodies byte for byte: some at once by the same sender (as
   GREEN-API does when a 200 is lost), some later;
3. posts them from concurrent senders, each with its own `requests.Session`, and retries any
   answer but 200 after a short pause, as GREEN-API would (bounded in count and time);
4. waits until the queue has drained (nothing visible, nothing in flight; bounded);
5. checks, through greenhook's own read paths (`Storage`, the archive reader, the DLQ's
   attributes), that the archive holds each unique body byte for byte (a line per
   delivery processed), every message shows its text after edits and its furthest status,
   every chat its newest message, nothing is parked, the DLQ is empty; it compares against
   a model computed from the generated webhooks alone.

Against a local stack started here, in this process, or an already running one
(`--stack-file .local/stack.json`, e.g. from `make run` in another terminal). Prints a
figures block (or `--json`); exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import requests

from greenhook.queue import sha256_hex
from greenhook_dev.webhooks import Instance

if TYPE_CHECKING:
    from greenhook.storage import Storage

# The furthest status a message reached is its status (sent < delivered < read). Written
# out here rather than taken from greenhook.ordering, so that the check does not trust the
# code it checks.
STATUS_ORDER = ("sent", "delivered", "read")
PHRASES = (
    "Hello! Is my order ready?",
    "Yes, it ships today.",
    "Да, отправим сегодня.",
    "Thanks 🙏",
    "See you at 5",
    "Obrigado!",
    "OK 👍",
    "Where is it now?",
)
MESSAGE_STATUS = "outgoingMessageStatus"
INCOMING = "incomingMessageReceived"

MAX_ATTEMPTS = 6  # a webhook is posted at most this often before it counts as lost
RETRY_PAUSE = 0.5  # seconds, times the attempt number (GREEN-API: 60 s)
REQUEST_TIMEOUT = 60  # seconds (GREEN-API waits up to 180 s)
DRAIN_POLL = 0.5
PROGRESS_EVERY = 10.0
READ_LIMIT = 1_000_000  # "all of them" for the listing reads
ARCHIVE_DAYS = 2  # the run may cross midnight UTC
SHOWN_DIFFERENCES = 10
READERS = 4  # threads reading the stored state for the check
DETAILED_MESSAGES = 250  # messages read one by one (every message is checked in its listing)


# -- the expected state ---------------------------------------------------------------------
@dataclass
class ExpectedMessage:
    """What the tools must show for one message, from the generated webhooks alone."""

    id_message: str
    chat_id: str | None = None
    direction: str | None = None
    timestamp: int | None = None
    text: str | None = None
    quoted: str | None = None
    status_times: dict[str, int] = field(default_factory=dict)  # first time of each status
    edits: list[tuple[int, str]] = field(default_factory=list)  # (timestamp, new text)

    @property
    def status(self) -> str | None:
        reached = [s for s in STATUS_ORDER if s in self.status_times]
        return reached[-1] if reached else None

    @property
    def shown_text(self) -> str | None:
        """The newest edit's text, else the original."""
        return max(self.edits)[1] if self.edits else self.text


@dataclass
class Expected:
    """The whole run's expected state: archive, messages, chats, the instance."""

    id_instance: int
    bodies: set[str]  # sha256 of each unique body
    messages: dict[str, ExpectedMessage]
    last_webhook_at: int

    def chats(self) -> dict[str, str]:
        """Each chat's newest message (by timestamp, then idMessage)."""
        newest: dict[str, tuple[int, str]] = {}
        for m in self.messages.values():
            if m.chat_id is not None and m.timestamp is not None:
                newest[m.chat_id] = max(newest.get(m.chat_id, (0, "")), (m.timestamp, m.id_message))
        return {chat: id_message for chat, (_, id_message) in newest.items()}

    def timeline(self, chat_id: str) -> list[ExpectedMessage]:
        listed = [m for m in self.messages.values() if m.chat_id == chat_id]
        return sorted(listed, key=lambda m: (m.timestamp or 0, m.id_message))


def expected_state(id_instance: int, documents: list[dict]) -> Expected:
    """The state one in-order delivery of `documents` must leave, computed independently."""
    messages: dict[str, ExpectedMessage] = {}

    def message(id_message: str) -> ExpectedMessage:
        return messages.setdefault(id_message, ExpectedMessage(id_message))

    for document in documents:
        if document["typeWebhook"] == MESSAGE_STATUS:
            times = message(document["idMessage"]).status_times
            status, timestamp = document["status"], document["timestamp"]
            times[status] = min(times.get(status, timestamp), timestamp)
            continue
        data = document["messageData"]
        if data["typeMessage"] == "editedMessage":
            edited = data["editedMessageData"]
            message(edited["stanzaId"]).edits.append((document["timestamp"], edited["textMessage"]))
            continue
        m = message(document["idMessage"])
        m.chat_id = document["senderData"]["chatId"]
        m.direction = "incoming" if document["typeWebhook"] == INCOMING else "outgoing"
        m.timestamp = document["timestamp"]
        if data["typeMessage"] == "textMessage":
            m.text = data["textMessageData"]["textMessage"]
        else:
            m.text = data["extendedTextMessageData"]["text"]
            m.quoted = data["extendedTextMessageData"]["stanzaId"]
    return Expected(
        id_instance=id_instance,
        bodies={sha256_hex(_body(d)) for d in documents},
        messages=messages,
        last_webhook_at=max(d["timestamp"] for d in documents) // 60 * 60,  # its minute
    )


# -- the run's webhooks ---------------------------------------------------------------------
def _body(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def chat_ids(count: int) -> list[str]:
    """Personal chats, and every fifth a group."""
    return [
        f"120363{index:012d}@g.us" if index % 5 == 4 else f"7900{index:07d}@c.us"
        for index in range(count)
    ]


def conversation(
    instance: Instance, chat_id: str, chat_index: int, budget: int, start: int, rng: random.Random
) -> list[dict]:
    """`budget` webhooks of one chat in time order: messages both ways (some replies), the
    statuses of the outgoing ones as they progress, edits of earlier messages."""
    group = chat_id.endswith("@g.us")
    people = [f"7911{chat_index:05d}{p:02d}@c.us" for p in range(3)] if group else [None]
    clock = start
    webhooks: list[dict] = []
    sent: list[tuple[str, str, str | None]] = []  # (idMessage, direction, sender)
    edited: list[tuple[str, str, str | None]] = []
    texts: dict[str, str] = {}
    pending: dict[str, list[str]] = {}  # outgoing idMessage -> statuses still to come
    serial = itertools.count(1)
    while len(webhooks) < budget:
        clock += rng.randint(1, 30)  # strictly increasing: no two events of a chat tie
        weights = {
            "incoming": 3,
            "outgoing": 3,
            "status": 8 * bool(pending),
            "edit": 2 * bool(sent),
        }
        (kind,) = rng.choices(list(weights), weights=list(weights.values()))
        if kind == "status":
            id_message = rng.choice(list(pending))
            status = pending[id_message].pop(0)
            if not pending[id_message]:
                del pending[id_message]
            webhooks.append(instance.status(id_message, chat_id, clock, status))
        elif kind == "edit":  # half of them edit an edited message again: the newest wins
            original, direction, sender = rng.choice(
                edited if edited and rng.random() < 0.5 else sent
            )
            edited.append((original, direction, sender))
            texts[original] = f"{texts[original]} ✏️{next(serial)}"
            prefix = "3EB0" if direction == "incoming" else "BAE5"
            webhooks.append(
                instance.edit(
                    f"{prefix}E{chat_index:04X}{next(serial):05X}",
                    original,
                    chat_id,
                    clock,
                    texts[original],
                    direction=direction,
                    sender=sender,
                )
            )
        else:
            direction = "incoming" if kind == "incoming" else rng.choice(("outgoing", "api"))
            prefix = "3EB0" if direction == "incoming" else "BAE5"
            id_message = f"{prefix}{chat_index:04X}{next(serial):05X}"
            sender = rng.choice(people) if direction == "incoming" else None
            quoted = rng.choice(sent)[0] if sent and rng.random() < 0.2 else None
            texts[id_message] = f"{rng.choice(PHRASES)} ({id_message[-5:]})"
            webhooks.append(
                instance.text(
                    id_message,
                    chat_id,
                    clock,
                    texts[id_message],
                    direction=direction,
                    sender=sender,
                    quoted=quoted,
                )
            )
            sent.append((id_message, direction, sender))
            if direction != "incoming":
                reached = rng.randrange(len(STATUS_ORDER)) + 1
                statuses = list(STATUS_ORDER[:reached])
                if reached > 1 and rng.random() < 0.2:
                    statuses.pop(rng.randrange(reached - 1))  # one GREEN-API never sent
                pending[id_message] = statuses
    return webhooks


@dataclass(frozen=True)
class Send:
    """One post of the run (and how many exact re-sends follow it at once)."""

    body: bytes
    resend: bool
    again_at_once: int = 0


@dataclass
class Plan:
    """What one run sends: the unique webhooks, and the posts in their order."""

    seed: int
    id_instance: int
    documents: list[dict]  # unique webhooks, each chat in time order
    sends: list[Send]  # the run, in sending order

    @property
    def unique(self) -> int:
        return len(self.documents)

    @property
    def resends(self) -> int:
        return sum(s.resend + s.again_at_once for s in self.sends)


def build_plan(
    webhooks: int, chats: int, resend_ratio: float, seed: int, id_instance: int, start: int
) -> Plan:
    """`webhooks` posts: unique bodies over `chats` chats, shuffled, plus exact re-sends."""
    rng = random.Random(seed)
    instance = Instance(id_instance=id_instance)
    unique = max(1, round(webhooks * (1 - resend_ratio)))
    documents: list[dict] = []
    for index, chat_id in enumerate(chat_ids(chats)):
        budget = unique // chats + (index < unique % chats)
        documents += conversation(instance, chat_id, index, budget, start, rng)
    bodies = [_body(d) for d in documents]
    if len({sha256_hex(b) for b in bodies}) != len(bodies):
        raise AssertionError("generated bodies are not all distinct")

    order = list(range(unique))
    rng.shuffle(order)
    resends = webhooks - unique
    again = (
        rng.sample(range(unique), resends) if resends <= unique else rng.choices(order, k=resends)
    )
    at_once = Counter(again[: resends // 2])
    keyed: list[tuple[float, int, Send]] = [
        (position, 0, Send(bodies[b], resend=False, again_at_once=at_once[b]))
        for position, b in enumerate(order)
    ]
    position = {b: p for p, b in enumerate(order)}
    for b in again[resends // 2 :]:  # later: anywhere after the first post
        keyed.append((rng.uniform(position[b], unique), 1, Send(bodies[b], resend=True)))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return Plan(seed, id_instance, documents, [send for _, _, send in keyed])


# -- sending --------------------------------------------------------------------------------
@dataclass
class Tally:
    """What one sender saw; merged after the send phase."""

    latencies: list[float] = field(default_factory=list)
    answers: Counter = field(default_factory=Counter)  # "200", "503", "ConnectTimeout", ...
    retries: int = 0
    accepted: int = 0
    accepted_resends: int = 0
    lost: list[str] = field(default_factory=list)  # sha256 of bodies never answered 200
    quarantined: list[str] = field(default_factory=list)
    not_sent: int = 0

    def merge(self, other: Tally) -> None:
        self.latencies += other.latencies
        self.answers.update(other.answers)
        self.retries += other.retries
        self.accepted += other.accepted
        self.accepted_resends += other.accepted_resends
        self.lost += other.lost
        self.quarantined += other.quarantined
        self.not_sent += other.not_sent


def _accepted(response: requests.Response) -> bool:
    try:
        return response.json().get("status") == "accepted"
    except (ValueError, AttributeError):
        return False


class Sender:
    """Posts bodies as GREEN-API does: one at a time, the same bytes again until a 200."""

    def __init__(self, url: str, authorization: str, deadline: float) -> None:
        self.url = url
        self.headers = {"Content-Type": "application/json", "Authorization": authorization}
        self.deadline = deadline
        self.session = requests.Session()
        self.tally = Tally()

    def post(self, body: bytes, resend: bool) -> None:
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                self.tally.retries += 1
                time.sleep(RETRY_PAUSE * attempt)
            started = time.perf_counter()
            try:
                response = self.session.post(
                    self.url, data=body, headers=self.headers, timeout=REQUEST_TIMEOUT
                )
            except requests.RequestException as error:
                answer, status = type(error).__name__, None
            else:
                answer, status = str(response.status_code), response.status_code
            self.tally.latencies.append(time.perf_counter() - started)
            self.tally.answers[answer] += 1
            if status == 200:
                if not _accepted(response):  # e.g. quarantined: kept, but not as a webhook
                    self.tally.quarantined.append(sha256_hex(body))
                self.tally.accepted += 1
                self.tally.accepted_resends += resend
                return
            if time.monotonic() > self.deadline:
                break
        self.tally.lost.append(sha256_hex(body))

    def run(self, jobs: Iterator[Send], lock: threading.Lock) -> None:
        while True:
            with lock:
                send = next(jobs, None)
            if send is None:
                return
            if time.monotonic() > self.deadline:
                self.tally.not_sent += 1 + send.again_at_once
                continue
            self.post(send.body, send.resend)
            for _ in range(send.again_at_once):
                self.post(send.body, resend=True)


# -- reading the stack ----------------------------------------------------------------------
def _queue_counts(sqs: Any, queue_url: str) -> dict[str, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return {
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    }


def wait_drained(sqs: Any, queue_url: str, deadline: float) -> bool:
    """Until the queue holds nothing visible, in flight or delayed, twice in a row."""
    empty_reads = 0
    while time.monotonic() < deadline:
        empty_reads = empty_reads + 1 if not any(_queue_counts(sqs, queue_url).values()) else 0
        if empty_reads == 2:
            return True
        time.sleep(DRAIN_POLL)
    return False


def archived_bodies(storage: Storage, id_instance: int) -> list[tuple[str, bytes | None]]:
    """(sha256, body) of every archived webhook of the instance.

    The one place that reads the raw archive (Firehose's objects in S3): one line per
    delivery that reached process. `None` for a body kept elsewhere (a large body in S3).
    """
    from greenhook.archive import ArchiveReader

    return [
        (item["id"], item["body"].encode() if item.get("body") is not None else None)
        for item in ArchiveReader(storage.payloads).newest(READ_LIMIT, days=ARCHIVE_DAYS)
        if item.get("id_instance") == id_instance
    ]


def parked_webhooks(storage: Storage, id_instance: int) -> list[dict]:
    return [p for p in storage.list_parked(limit=READ_LIMIT) if p["id_instance"] == id_instance]


def dlq_count(sqs: Any, dlq_url: str) -> int:
    counts = _queue_counts(sqs, dlq_url)
    return counts["visible"] + counts["in_flight"]


@dataclass
class Checked:
    differences: list[str]
    archived: int  # archive items of the run
    stored: int  # unique bodies sent that are in the archive
    parked: int
    dlq: int
    listed: int  # messages checked in their chat's listing (all of them)
    detailed: int  # messages also read one by one


def _compare(label: str, actual: Any, expected: Any, differences: list[str]) -> None:
    if actual != expected:
        differences.append(f"{label}: {actual!r}, expected {expected!r}")


def archive_differences(expected: Expected, archived: list[tuple[str, bytes | None]]) -> list[str]:
    """The run's archived bodies against the unique bodies sent: each at least once (a line
    per delivery that reached process), byte for byte."""
    differences: list[str] = []
    copies = Counter(sha for sha, _ in archived)
    for sha in sorted(expected.bodies - copies.keys()):
        differences.append(f"archive: body {sha[:12]} missing")
    for sha in sorted(copies.keys() - expected.bodies):
        differences.append(f"archive: body {sha[:12]} archived but never sent")
    for sha, body in archived:
        if body is not None and sha256_hex(body) != sha:
            differences.append(f"archive: body {sha[:12]} is not the bytes sent")
    return differences


def message_differences(storage: Storage, id_instance: int, m: ExpectedMessage) -> list[str]:
    """One message as `greenhook message` reads it, against the model."""
    view = storage.get_message(id_instance, m.id_message)
    label = f"message {m.id_message}"
    if view is None:
        return [f"{label}: not stored"]
    differences: list[str] = []
    for name, actual, wanted in (
        ("stored", view["stored"], True),
        ("chat", view["chat_id"], m.chat_id),
        ("direction", view["direction"], m.direction),
        ("text", view["text"], m.shown_text),
        ("original text", view["original_text"], m.text),
        ("reply to", view["stanza_id"], m.quoted),
        ("status", view["status"], m.status),
        ("status times", view["status_times"], m.status_times),
        ("edits", [e["text"] for e in view["edits"]], [text for _, text in sorted(m.edits)]),
    ):
        _compare(f"{label} {name}", actual, wanted, differences)
    return differences


def listing_differences(storage: Storage, expected: Expected, chat_id: str) -> list[str]:
    """One chat as `greenhook messages` lists it (GSI2, time order), against the model."""
    listed = [
        (v["id_message"], v["direction"], v["text"], v["status"], v["edited"])
        for v in storage.list_messages(expected.id_instance, chat_id, limit=READ_LIMIT)
    ]
    wanted = [
        (m.id_message, m.direction, m.shown_text, m.status, bool(m.edits))
        for m in expected.timeline(chat_id)
    ]
    if listed == wanted:
        return []
    first = next(
        (i for i, (a, b) in enumerate(zip(listed, wanted, strict=False)) if a != b),
        min(len(listed), len(wanted)),
    )
    return [
        f"chat {chat_id} listing ({len(listed)} messages, expected {len(wanted)}), first "
        f"difference at {first}: {listed[first] if first < len(listed) else None!r}, "
        f"expected {wanted[first] if first < len(wanted) else None!r}"
    ]


def detail_sample(expected: Expected) -> list[ExpectedMessage]:
    """The messages read one by one: all of them in a small run; else, spread evenly, those
    that statuses, edits or a reply make interesting. (moto answers every query by sorting
    the whole table, so one read per message of a big run would take longer than the run.)
    """
    messages = [m for _, m in sorted(expected.messages.items())]
    if len(messages) <= DETAILED_MESSAGES:
        return messages
    interesting = [m for m in messages if m.status_times or m.edits or m.quoted]
    return interesting[:: math.ceil(len(interesting) / DETAILED_MESSAGES)]


def check_state(info: dict, expected: Expected) -> Checked:
    """Every difference between the stored state and the expected one, as readable lines.

    Reads only through greenhook's `Storage` (and the DLQ's attributes): every message in
    its chat's listing, a sample of them one by one (`detail_sample`); the per-message and
    per-chat reads run on a few threads, each with its own clients.
    """
    storage, sqs = open_stack(info)
    differences: list[str] = []
    instance = expected.id_instance

    archived = archived_bodies(storage, instance)
    differences += archive_differences(expected, archived)
    stored = len(expected.bodies & {sha for sha, _ in archived})

    parked = parked_webhooks(storage, instance)
    for item in parked:
        differences.append(f"parked: {item['type_webhook']} {item['id'][:12]}: {item['reason']}")
    dead = dlq_count(sqs, info["dlq_url"])
    if dead:
        differences.append(f"DLQ: {dead} messages")

    readers = threading.local()

    def reader() -> Storage:
        if not hasattr(readers, "storage"):  # boto3 resources are not thread-safe
            readers.storage = open_stack(info)[0]
        return readers.storage

    expected_chats = expected.chats()
    detailed = detail_sample(expected)
    with ThreadPoolExecutor(READERS) as pool:
        for lines in pool.map(lambda m: message_differences(reader(), instance, m), detailed):
            differences += lines
        for lines in pool.map(
            lambda chat_id: listing_differences(reader(), expected, chat_id),
            sorted(expected_chats),
        ):
            differences += lines

    chats = {c["chat_id"]: c["last_id_message"] for c in storage.list_chats(instance, READ_LIMIT)}
    for chat_id in sorted(chats.keys() | expected_chats.keys()):
        _compare(
            f"chat {chat_id} last message",
            chats.get(chat_id),
            expected_chats.get(chat_id),
            differences,
        )
    stored_instance = storage.get_instance(instance) or {}
    _compare(
        "instance last webhook",
        stored_instance.get("last_webhook_at"),
        expected.last_webhook_at,
        differences,
    )
    return Checked(
        differences,
        archived=len(archived),
        stored=stored,
        parked=len(parked),
        dlq=dead,
        listed=len(expected.messages),
        detailed=len(detailed),
    )


# -- one run --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadOptions:
    webhooks: int = 10_000
    chats: int = 200
    senders: int = 16
    resend_ratio: float = 0.2
    seed: int | None = None  # None: a random one (printed)
    timeout: float | None = None  # bound on sending + draining, seconds; None: from webhooks

    def deadline_seconds(self) -> float:
        return self.timeout if self.timeout is not None else 300 + 1.0 * self.webhooks


@dataclass
class LoadReport:
    """The figures of one run and the outcome of its checks."""

    seed: int
    id_instance: int
    start: int  # the conversations' first timestamp: with seed and id_instance, the run
    stack: str
    webhooks: int
    unique: int
    resends: int
    chats: int
    senders: int
    accepted: int
    send_seconds: float
    stored_seconds: float | None  # first send to drained; None: not drained in time
    p50_ms: float
    p99_ms: float
    retries: int
    answers: dict[str, int]
    lost: int
    not_sent: int
    quarantined: int
    duplicates_absorbed: int
    archived: int
    stored: int  # unique bodies found in the archive
    messages: int  # all checked in their chat's listing
    detailed: int  # of which read one by one
    parked: int
    dlq: int
    differences: list[str]
    check_seconds: float

    @property
    def drained(self) -> bool:
        return self.stored_seconds is not None

    @property
    def passed(self) -> bool:
        return (
            self.drained
            and not self.differences
            and not self.lost
            and not self.not_sent
            and not self.quarantined
        )

    @property
    def accepted_per_second(self) -> float:
        return self.accepted / self.send_seconds if self.send_seconds else 0.0

    @property
    def stored_per_second(self) -> float | None:
        return self.stored / self.stored_seconds if self.stored_seconds else None

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "accepted_per_second": round(self.accepted_per_second, 2),
            "stored_per_second": (
                round(self.stored_per_second, 2) if self.stored_per_second is not None else None
            ),
            "drained": self.drained,
            "passed": self.passed,
        }

    def text(self) -> str:
        stored = (
            f"{self.stored_per_second:8.1f}   ({self.stored} of {self.unique} unique bodies "
            f"archived, first send to drained {self.stored_seconds:.1f} s)"
            if self.stored_seconds
            else "       -   (not drained before the deadline)"
        )
        answers = ", ".join(f"{code} x {n}" for code, n in sorted(self.answers.items()))
        problems = [
            f"{n} {what}"
            for n, what in (
                (self.lost, "lost (no 200 after retries)"),
                (self.not_sent, "not sent (deadline)"),
                (self.quarantined, "quarantined"),
                (int(not self.drained), "queue not drained"),
                (len(self.differences), "differences"),
            )
            if n
        ]
        lines = [
            f"greenhook load: {self.webhooks} webhooks ({self.unique} unique + {self.resends} "
            f"exact re-sends) over {self.chats} chats, {self.senders} senders",
            f"  seed {self.seed}, instance {self.id_instance}, stack {self.stack}",
            f"  accepted/s          {self.accepted_per_second:8.1f}   ({self.accepted} answered "
            f"200 in {self.send_seconds:.1f} s)",
            f"  stored/s            {stored}",
            f"  answer time         p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms",
            f"  retries             {self.retries:8d}   (answers: {answers})",
            f"  re-sends dropped    {self.duplicates_absorbed:8d}   of {self.resends} by SQS's "
            "deduplication (the rest were handled again: the state check says they changed "
            "nothing)",
            f"  archive             {self.archived:8d}   lines (one per delivery handled) for "
            f"{self.unique} unique bodies",
            f"  messages            {self.messages:8d}   in {self.chats} chat listings, "
            f"{self.detailed} also read one by one",
            f"  parked              {self.parked:8d}",
            f"  DLQ                 {self.dlq:8d}",
            f"  exactly-once check  {'PASS' if self.passed else 'FAIL: ' + ', '.join(problems)}"
            f"   (checked in {self.check_seconds:.1f} s)",
        ]
        lines += [f"    {d}" for d in self.differences[:SHOWN_DIFFERENCES]]
        if len(self.differences) > SHOWN_DIFFERENCES:
            lines.append(f"    ... and {len(self.differences) - SHOWN_DIFFERENCES} more")
        return "\n".join(lines)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def open_stack(info: dict) -> tuple[Storage, Any]:
    """greenhook's Storage and an SQS client for the stack described by stack.json."""
    from greenhook.storage import Payloads, Storage

    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=info["region"]
    )
    endpoint = info["aws_endpoint_url"]
    payloads = Payloads(info["bucket_name"], session.client("s3", endpoint_url=endpoint))
    storage = Storage(
        info["table_name"],
        resource=session.resource("dynamodb", endpoint_url=endpoint),
        payloads=payloads,
    )
    return storage, session.client("sqs", endpoint_url=endpoint)


def run_against(
    info: dict,
    options: LoadOptions,
    *,
    stack_label: str = "",
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """One run against the stack described by `info` (the contents of stack.json)."""
    say = progress or (lambda line: None)
    seed = options.seed if options.seed is not None else secrets.randbelow(2**32)
    # A fresh instance id per run: bodies never collide with an earlier run's on one stack.
    id_instance = 3_000_000_000 + time.time_ns() // 1_000_000 % 1_000_000_000
    start = int(time.time()) - 86_400
    plan = build_plan(
        options.webhooks, options.chats, options.resend_ratio, seed, id_instance, start
    )
    expected = expected_state(id_instance, plan.documents)
    sqs = open_stack(info)[1]
    say(
        f"load: seed {seed}, instance {id_instance}: {plan.unique} unique webhooks + "
        f"{plan.resends} re-sends, {options.senders} senders"
    )

    deadline = time.monotonic() + options.deadline_seconds()
    senders = [
        Sender(info["webhook_url"], info["authorization"], deadline) for _ in range(options.senders)
    ]
    jobs, lock = iter(plan.sends), threading.Lock()
    threads = [
        threading.Thread(target=s.run, args=(jobs, lock), name=f"load-sender-{n}", daemon=True)
        for n, s in enumerate(senders)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    next_report = time.monotonic() + PROGRESS_EVERY
    while any(t.is_alive() for t in threads):
        time.sleep(0.2)
        if time.monotonic() >= next_report:
            next_report += PROGRESS_EVERY
            done = sum(s.tally.accepted for s in senders)
            counts = _queue_counts(sqs, info["queue_url"])
            say(
                f"load: {done}/{options.webhooks} accepted after "
                f"{time.perf_counter() - started:.0f} s; queue: {counts['visible']} waiting, "
                f"{counts['in_flight']} in flight"
            )
    send_seconds = time.perf_counter() - started
    for thread in threads:
        thread.join()
    tally = Tally()
    for sender in senders:
        tally.merge(sender.tally)
    say(f"load: sent in {send_seconds:.1f} s; waiting for the queue to drain")
    drained = wait_drained(sqs, info["queue_url"], deadline)
    stored_seconds = time.perf_counter() - started if drained else None

    say("load: checking the stored state")
    check_started = time.perf_counter()
    checked = check_state(info, expected)
    extra_archive_items = max(0, checked.archived - plan.unique)
    return LoadReport(
        seed=seed,
        id_instance=id_instance,
        start=start,
        stack=stack_label or info.get("stack_file", info["webhook_url"]),
        webhooks=options.webhooks,
        unique=plan.unique,
        resends=plan.resends,
        chats=options.chats,
        senders=options.senders,
        accepted=tally.accepted,
        send_seconds=send_seconds,
        stored_seconds=stored_seconds,
        p50_ms=percentile(tally.latencies, 0.50) * 1000,
        p99_ms=percentile(tally.latencies, 0.99) * 1000,
        retries=tally.retries,
        answers=dict(tally.answers),
        lost=len(tally.lost),
        not_sent=tally.not_sent,
        quarantined=len(tally.quarantined),
        # A re-send is absorbed when SQS dropped it (no second archive line) and changed no
        # state (the state check says whether any did); those that reached process were
        # handled again without changing anything.
        duplicates_absorbed=max(0, tally.accepted_resends - extra_archive_items),
        archived=checked.archived,
        stored=checked.stored,
        messages=checked.listed,
        detailed=checked.detailed,
        parked=checked.parked,
        dlq=checked.dlq,
        differences=checked.differences,
        check_seconds=time.perf_counter() - check_started,
    )


def run(
    options: LoadOptions,
    stack: dict | None = None,
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """One run: against `stack` (stack.json's contents), or a local stack started here."""
    if stack is not None:
        return run_against(stack, options, progress=progress)
    from greenhook_dev.bench import stdout_silenced
    from greenhook_dev.local_stack import start_local_stack

    with stdout_silenced():  # the handlers log every webhook there, as in Lambda
        running = start_local_stack(port=0, state_dir=None)
        try:
            return run_against(
                running.info, options, stack_label="in-process (moto)", progress=progress
            )
        finally:
            running.stop()


def _ratio(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError("a fraction from 0 up to (not including) 1")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m greenhook_dev.load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = LoadOptions()
    parser.add_argument(
        "--webhooks",
        type=_positive,
        default=defaults.webhooks,
        help=f"posts, re-sends included (default {defaults.webhooks})",
    )
    parser.add_argument(
        "--chats", type=_positive, default=defaults.chats, help=f"(default {defaults.chats})"
    )
    parser.add_argument(
        "--senders",
        type=_positive,
        default=defaults.senders,
        help=f"concurrent senders (default {defaults.senders})",
    )
    parser.add_argument(
        "--resend-ratio",
        type=_ratio,
        default=defaults.resend_ratio,
        help="share of the posts that are exact re-sends (default 0.2)",
    )
    parser.add_argument("--seed", type=int, help="shuffle and conversation seed (default: random)")
    parser.add_argument(
        "--stack-file",
        type=Path,
        help="a running local stack's stack.json (default: start one in this process)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="bound on sending + draining (default: 300 + 1 s per webhook)",
    )
    parser.add_argument("--json", action="store_true", help="the figures as JSON")
    args = parser.parse_args(argv)
    options = LoadOptions(
        webhooks=args.webhooks,
        chats=args.chats,
        senders=args.senders,
        resend_ratio=args.resend_ratio,
        seed=args.seed,
        timeout=args.timeout,
    )
    stack = None
    if args.stack_file is not None:
        if not args.stack_file.is_file():
            print(f"no local stack: {args.stack_file} not found (`make run`)", file=sys.stderr)
            return 2
        stack = {**json.loads(args.stack_file.read_text()), "stack_file": str(args.stack_file)}

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    report = run(options, stack, progress=progress)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.text())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())

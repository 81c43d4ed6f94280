"""Fault cases (issue 8, section 5): AWS failing under the pipeline, injected at botocore.

The faults come from `greenhook_dev.faults`: a `before-send` handler on boto3's default
session, the session greenhook's handlers make their clients from. botocore sees a real
error response (or connection error) and runs its own retries; greenhook's code is not
touched. Resources come from template.yaml (the `pipeline` fixture); the visibility timeout
and maxReceiveCount are the template's.

Time: the tests run on a `faults.Clock` made of the waits they skip. botocore's back-off
between attempts advances it instead of sleeping, and a record a batch failed comes back
(poller `retry_delay=0`: at once in real time) only after the clock is moved to its last
receive + the template's VisibilityTimeout (180 s), as Lambda's event source would see it
in real time. So "a 3 s outage" is 3 s of the waiting greenhook does in real time (the
milliseconds each AWS call takes are not counted: more calls fall into the window than on
AWS, which only makes the test harder).

What "nothing wrong" means: the same webhooks go through a second stack (its own queue and
table, same template) without faults, and every read view of the two tables must be equal.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from greenhook import ingest, process, queue, routing
from greenhook.archive import ArchiveReader
from greenhook.observability import logger
from greenhook.storage import Payloads, Storage
from greenhook_dev import faults
from greenhook_dev.lambda_runtime import LocalFunction, cold_start
from greenhook_dev.poller import QueuePoller
from greenhook_dev.template_resources import REPO_ROOT, LocalStack, create_stack
from greenhook_dev.webhooks import Instance

EVENTS_DIR = REPO_ROOT / "events"

SHOP = Instance(id_instance=7103220992)  # the instance of the samples in events/
ANN, BOB, TEAM = "79011111111@c.us", "79022222222@c.us", "120363000000000001@g.us"


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# -- the webhooks ---------------------------------------------------------------------------
def conversation(instance: Instance, t0: int) -> list[dict]:
    """A few chats' worth of traffic: messages both ways, replies, statuses (one before its
    message), edits, a deletion, reactions, a call."""
    t = iter(range(t0, t0 + 10_000, 3))
    hooks = [
        instance.text("A1", ANN, next(t), "hello", sender_name="Ann"),
        instance.text("A2", ANN, next(t), "hi Ann", direction="api"),
        instance.status("A2", ANN, next(t) + 30, "read"),  # read arrives before delivered
        instance.status("A2", ANN, next(t), "delivered"),
        instance.text("A3", ANN, next(t), "where is my order?", quoted="A2"),
        instance.reaction("A4", "A2", ANN, next(t), "👍"),
        instance.edit("A5", "A1", ANN, next(t), "hello there"),
        instance.call("CALL-A", ANN, next(t), "offer"),
        instance.call("CALL-A", ANN, next(t), "pickUp"),
        instance.text("B1", BOB, next(t), "price?", sender_name="Bob"),
        instance.image("B2", BOB, next(t), "catalogue", direction="api", thumbnail="/9j/AAAA"),
        instance.status("B2", BOB, next(t), "failed", description="not on WhatsApp"),
        instance.text("B3", BOB, next(t), "typo", direction="api"),
        instance.deletion("B4", "B3", BOB, next(t), direction="api"),
        instance.reaction("B5", "B1", BOB, next(t), "❤️", direction="outgoing"),
        instance.reaction("B6", "B5", BOB, next(t), "", direction="outgoing"),  # taken back
        instance.text("G1", TEAM, next(t), "standup?", sender=ANN, sender_name="Ann"),
        instance.reaction("G3", "G1", TEAM, next(t), "😂", sender=BOB),
    ]
    # The status that overtook its message: GREEN-API does not promise order across types.
    hooks.insert(0, instance.status("X1", ANN, t0 - 1, "delivered"))
    hooks.append(instance.text("X1", ANN, t0 - 2, "sent before the status", direction="api"))
    return hooks


UNUSABLE = [
    b"this is not json",  # quarantined at ingest, parked by process
    json.dumps({"typeWebhook": "brandNew", "instanceData": {"idInstance": 7103220992}}).encode(),
    json.dumps(  # does not validate
        {"typeWebhook": "stateInstanceChanged", "instanceData": {"idInstance": 7103220992}}
    ).encode(),
]


# Message types beyond text and image, from events/messages (a poll and a vote in it).
MESSAGE_SAMPLES = ("incoming-pollMessage.json", "incoming-pollUpdateMessage.json")


def realistic_mix() -> list[bytes]:
    """A conversation over three chats, the instance-level and call samples of
    events/webhooks (state, status, device, avatar, quota, block, calls, a status), a poll and
    a vote from events/messages, and bodies that can only be parked. Kept small: moto's SQS
    and DynamoDB slow down with every item (see DESIGN.md), and it is processed eight times."""
    samples = [
        path.read_bytes()
        for path in sorted((EVENTS_DIR / "webhooks").glob("*.json"))
        if "MessageReceived" not in path.name  # messages: the conversation has them
    ]
    samples += [(EVENTS_DIR / "messages" / name).read_bytes() for name in MESSAGE_SAMPLES]
    built = [
        json.dumps(hook, ensure_ascii=False).encode() for hook in conversation(SHOP, 1_700_100_000)
    ]
    bodies = built + samples + UNUSABLE
    assert len(set(bodies)) == len(bodies)
    return bodies


def referenced(bodies: list[bytes]) -> tuple[set[int], set[tuple[int, str]]]:
    """The instance ids and (instance, idMessage) pairs the bodies mention, quoted ones too."""
    instances, messages = set(), set()

    def ids(value: Any) -> set[str]:
        if isinstance(value, dict):
            found = {v for k, v in value.items() if k in ("idMessage", "stanzaId")}
            return found.union(*(ids(v) for v in value.values()))
        if isinstance(value, list):
            return set().union(*(ids(v) for v in value))
        return set()

    for body in bodies:
        try:
            document = json.loads(body)
            id_instance = document["instanceData"]["idInstance"]
        except (ValueError, KeyError, TypeError):
            continue
        instances.add(id_instance)
        messages |= {(id_instance, m) for m in ids(document) if isinstance(m, str)}
    return instances, messages


def read_views(storage: Storage, bodies: list[bytes]) -> dict:
    """Everything the tools can read about these webhooks (ingest's receive times left out:
    the two runs received them at different moments)."""
    instances, messages = referenced(bodies)
    chats = {i: storage.list_chats(i, limit=1000) for i in sorted(instances)}
    return {
        "instances": {i: storage.get_instance(i) for i in sorted(instances)},
        "chats": chats,
        "messages": {
            (i, chat["chat_id"]): storage.list_messages(i, chat["chat_id"], limit=1000)
            for i, listed in chats.items()
            for chat in listed
        },
        "message": {key: storage.get_message(*key) for key in sorted(messages)},
        "calls": {i: storage.list_calls(i, limit=1000) for i in sorted(instances)},
        "parked": sorted((p["id"], p["reason"]) for p in storage.list_parked(limit=1000)),
        # each body at least once: the archive keeps a line per delivery
        "archived": sorted({a["id"] for a in ArchiveReader(storage.payloads).newest(10_000)}),
    }


# -- a stack the functions run against ----------------------------------------------------
@dataclass
class Deployment:
    """One stack (queue, DLQ, table, bucket, token secret); `use()` points the real ingest
    and process functions at it, as a fresh Lambda instance would start."""

    pipeline: Any  # conftest's Pipeline: session, functions, http_event
    stack: LocalStack

    @cached_property
    def sqs(self) -> Any:
        return self.pipeline.session.client("sqs")

    @cached_property
    def token(self) -> str:
        secret = self.pipeline.session.client("secretsmanager").get_secret_value(
            SecretId=self.stack.refs["WebhookTokenSecret"]
        )
        return json.loads(secret["SecretString"])["token"]

    def use(self, monkeypatch) -> Deployment:
        for function in ("IngestFunction", "ProcessFunction"):
            for key, value in self.stack.function_environment(function).items():
                monkeypatch.setenv(key, value)
        cold_start()
        return self

    @cached_property
    def storage(self) -> Storage:
        session = self.pipeline.session
        payloads = Payloads(self.stack.refs["PayloadBucket"], session.client("s3"))
        return Storage(self.stack.refs["WebhookTable"], session.resource("dynamodb"), payloads)

    def post(self, body: bytes) -> tuple[int, dict]:
        event = self.pipeline.http_event(body, authorization=f"Bearer {self.token}")
        response = self.pipeline.ingest_function(event)
        return response["statusCode"], json.loads(response["body"])

    def poller(self, invoke: Callable[[dict], Any]) -> QueuePoller:
        return QueuePoller(
            self.sqs,
            invoke,
            queue_url=self.stack.refs["WebhookQueue"],
            queue_arn=self.stack.attributes["WebhookQueue"]["Arn"],
            region=self.stack.region,
            retry_delay=0,  # the clock stands for the visibility timeout (see LambdaRuntime)
        )

    def queue_depth(self, logical_id: str = "WebhookQueue") -> int:
        """Messages on a queue, visible or in flight."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.stack.refs[logical_id],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())

    def dlq_bodies(self) -> list[bytes]:
        messages = []
        while batch := self.sqs.receive_message(
            QueueUrl=self.stack.refs["WebhookDLQ"], MaxNumberOfMessages=10, VisibilityTimeout=60
        ).get("Messages", []):
            messages += batch
        return [m["Body"].encode() for m in messages]

    @property
    def visibility_timeout(self) -> int:
        return int(self._queue_properties()["VisibilityTimeout"])

    @property
    def max_receive_count(self) -> int:
        return int(self._queue_properties()["RedrivePolicy"]["maxReceiveCount"])

    def _queue_properties(self) -> dict:
        return self.stack.resolve(self.stack.template["Resources"]["WebhookQueue"]["Properties"])

    def runtime(self, clock: faults.Clock, **kwargs: Any) -> LambdaRuntime:
        """The process function as Lambda runs it, with the template's VisibilityTimeout."""
        return LambdaRuntime(
            self.pipeline.process_function, clock, self.visibility_timeout, **kwargs
        )


@dataclass
class LambdaRuntime:
    """Plays Lambda around the process function: an exception or a killed process is a
    failed invocation (the poller then fails the whole batch), and a record comes back no
    sooner than VisibilityTimeout after it was last received, on `clock`."""

    function: LocalFunction
    clock: faults.Clock
    visibility_timeout: float
    received_at: dict[str, float] = field(default_factory=dict)
    receives: Counter = field(default_factory=Counter)
    invocations: int = 0
    killed: int = 0
    function_errors: int = 0  # e.g. Powertools' error when every record of a batch failed
    failed_records: int = 0  # records reported in batchItemFailures
    batches: list[list[str]] = field(default_factory=list)  # message ids, per invocation
    on_kill: Callable[[], Any] | None = None

    def __call__(self, event: dict) -> Any:
        ids = [record["messageId"] for record in event["Records"]]
        for message_id in ids:
            if message_id in self.received_at:
                self.clock.advance_to(self.received_at[message_id] + self.visibility_timeout)
        now = self.clock()
        for message_id in ids:
            self.received_at[message_id] = now
            self.receives[message_id] += 1
        self.invocations += 1
        self.batches.append(ids)
        try:
            result = self.function(event)
        except faults.ProcessKilled:
            self.killed += 1
            if self.on_kill:
                self.on_kill()
            raise RuntimeError("Runtime exited: the process was killed") from None
        except Exception:
            self.function_errors += 1
            raise
        self.failed_records += len(result.get("batchItemFailures") or [])
        return result


def enqueue(deployment: Deployment, bodies: list[bytes]) -> None:
    """Put bodies on the queue exactly as ingest does (ingest itself is tested above)."""
    for body in bodies:
        queue.enqueue(
            body,
            sqs=deployment.sqs,
            queue_url=deployment.stack.refs["WebhookQueue"],
            group_id=routing.route(body).group_id,
            received_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            source_ip="51.250.84.44",
        )


def run(
    deployment: Deployment, bodies: list[bytes], runtime: LambdaRuntime, wave: int = 12
) -> None:
    """Webhooks arrive in waves; after each, the poller feeds the queue to the process
    function until it is empty (a shallow queue keeps moto fast)."""
    poller = deployment.poller(runtime)
    for start in range(0, max(len(bodies), 1), wave):
        enqueue(deployment, bodies[start : start + wave])
        for _ in range(100):
            if not poller.poll_once():
                break
        else:
            raise AssertionError("the queue does not drain")


class CleanRuns:
    """The read views a fault-free run leaves, per list of webhooks, computed once per module
    in a second stack (same template, own queue and table)."""

    def __init__(self) -> None:
        self._views: dict[tuple[bytes, ...], dict] = {}

    def views(self, pipeline: Any, bodies: list[bytes], monkeypatch) -> dict:
        key = tuple(bodies)
        if key not in self._views:
            stack = create_stack(
                pipeline.session,
                parameters=pipeline.stack.parameters,
                template=pipeline.stack.template,
                stack_name=f"greenhook-clean-{len(self._views)}",
            )
            clean = Deployment(pipeline, stack).use(monkeypatch)
            runtime = clean.runtime(faults.Clock())
            run(clean, bodies, runtime)
            assert runtime.failed_records == runtime.function_errors == 0
            assert clean.dlq_bodies() == []
            self._views[key] = read_views(clean.storage, bodies)
        return self._views[key]


@pytest.fixture(scope="module")
def clean_runs() -> CleanRuns:
    return CleanRuns()


@pytest.fixture
def deployment(pipeline) -> Deployment:
    return Deployment(pipeline, pipeline.stack)


@pytest.fixture
def clock():
    clock = faults.Clock()
    with clock.skipping_retry_sleeps():
        yield clock


@pytest.fixture(scope="module")
def mix() -> list[bytes]:
    return realistic_mix()


def assert_nothing_lost_nothing_wrong(
    deployment: Deployment, bodies: list[bytes], expected: dict
) -> dict:
    views = read_views(deployment.storage, bodies)
    # Nothing lost: every body archived, and stored or parked exactly as without faults.
    assert views["archived"] == sorted({sha256(b) for b in bodies})
    assert views["parked"] == expected["parked"]
    # Nothing wrong: every read view equal to the fault-free run's.
    for name in expected:
        assert views[name] == expected[name], name
    assert deployment.dlq_bodies() == []
    assert deployment.queue_depth() == 0
    return views


# -- 1. SQS unavailable or throttling at ingest -------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(faults.REQUEST_THROTTLED, id="throttled"),
        pytest.param(faults.SERVICE_UNAVAILABLE, id="503"),
        pytest.param(faults.CONNECTION_ERROR, id="connection-error"),
    ],
)
def test_ingest_answers_503_while_sqs_fails_and_accepts_the_same_request_after(
    deployment, clock, caplog, fault, event_bytes
):
    """SQS throttles, fails or cannot be reached on every SendMessage: each request is
    answered 503 after ingest's client retries, nothing is on the queue, the rejection is
    logged (without the token). Once SQS is back the same request is accepted, and the
    webhook is processed exactly once even if GREEN-API's re-sends overlap."""
    body = event_bytes("webhooks/incomingMessageReceived.json")
    with faults.FaultInjector("sqs", fault, operations={"SendMessage"}).install() as sqs_down:
        cold_start()  # ingest's SQS client is made now, with the fault on its session
        # GREEN-API re-sends the same notification after each non-200 (every 60 s).
        answers = [deployment.post(body) for _ in range(3)]
    assert answers == [(503, {"error": "temporarily unavailable"})] * 3
    # Every attempt of every request failed (ingest's client makes total_max_attempts each).
    attempts = ingest._CLIENT_CONFIG.retries["total_max_attempts"]
    assert sqs_down.injected == sqs_down.calls == 3 * attempts
    assert deployment.queue_depth() == 0  # nothing half-written
    rejections = [
        json.loads(logger.registered_formatter.format(r))
        for r in caplog.records
        if r.getMessage() == "webhook rejected"
    ]
    assert [r["status"] for r in rejections] == [503] * 3
    assert all(r["reason"].startswith("enqueue failed: ") for r in rejections)
    logged = "\n".join(logger.registered_formatter.format(r) for r in caplog.records)
    assert deployment.token not in logged and "Bearer" not in logged

    # SQS is back: the same request is accepted and processed exactly once.
    assert deployment.post(body) == (200, {"status": "accepted"})
    assert deployment.post(body) == (200, {"status": "accepted"})  # a late duplicate re-send
    runtime = deployment.runtime(clock)
    poller = deployment.poller(runtime)
    assert (poller.poll_once(), poller.poll_once()) == (1, 0)
    assert sum(runtime.receives.values()) == 1  # one record, handled once
    storage = deployment.storage
    assert [a["id"] for a in ArchiveReader(storage.payloads).newest(50)] == [sha256(body)]
    (chat,) = storage.list_chats(7103220992)
    assert [m["id_message"] for m in storage.list_messages(7103220992, chat["chat_id"])] == [
        "F7AEC1B7086ECDC7E6E45923F5EDB825"
    ]


def test_a_large_body_leaves_only_an_expiring_s3_object_when_sqs_fails(
    deployment, clock, event_json
):
    """A body over the inline limit goes to S3 before SendMessage: when SQS then fails the
    answer is 503 and the queue is empty; the S3 object stays, unreferenced, under the
    prefix the bucket's lifecycle rule expires. The re-send reuses the same key."""
    webhook = event_json("stateInstanceChanged.json")
    webhook["padding"] = "x" * 300_000  # over the 240 KiB inline limit: offloaded to S3
    body = json.dumps(webhook).encode()
    s3 = deployment.pipeline.session.client("s3")
    bucket = deployment.stack.refs["PayloadBucket"]

    def payload_objects() -> list[str]:
        listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return [o["Key"] for o in listed]

    with faults.FaultInjector("sqs", faults.SERVICE_UNAVAILABLE).install() as sqs_down:
        cold_start()
        assert deployment.post(body) == (503, {"error": "temporarily unavailable"})
    assert sqs_down.injected == ingest._CLIENT_CONFIG.retries["total_max_attempts"]
    assert deployment.queue_depth() == 0
    # What remains: the body, written to S3 before SendMessage failed, under payloads/,
    # which the template's lifecycle rule expires (ArchiveRetentionDays). No pointer to it.
    (orphan,) = payload_objects()
    assert orphan.startswith("payloads/") and orphan.endswith(sha256(body))
    rules = deployment.stack.resolve(
        deployment.stack.template["Resources"]["PayloadBucket"]["Properties"]
    )["LifecycleConfiguration"]["Rules"]
    assert "payloads/" in [r.get("Prefix") for r in rules if r.get("ExpirationInDays")]

    assert deployment.post(body) == (200, {"status": "accepted"})
    assert payload_objects() == [orphan]  # the re-send wrote the same key again (same day)
    runtime = deployment.runtime(clock)
    poller = deployment.poller(runtime)
    assert (poller.poll_once(), poller.poll_once()) == (1, 0)
    assert sum(runtime.receives.values()) == 1
    storage = deployment.storage
    (archived,) = ArchiveReader(storage.payloads).newest(50)
    assert archived["id"] == sha256(body) and archived["payload_s3_key"] == orphan
    id_instance = webhook["instanceData"]["idInstance"]
    assert storage.get_instance(id_instance)["state_instance"] == webhook["stateInstance"]


def test_a_send_whose_answer_is_lost_is_answered_503_and_the_resend_deduplicated(
    deployment, clock, event_bytes
):
    """SendMessage reached SQS but no answer came back, to any attempt: ingest answers 503
    although the queue holds the body (not lost, the other way round). GREEN-API sends it
    again; SQS drops the re-send (same deduplication id: the body's SHA-256): one record."""
    body = event_bytes("webhooks/outgoingMessageStatus.json")
    with faults.FaultInjector("sqs", faults.LOST_RESPONSE).install() as lost:
        cold_start()
        assert deployment.post(body) == (503, {"error": "temporarily unavailable"})
    assert lost.injected == ingest._CLIENT_CONFIG.retries["total_max_attempts"]
    assert deployment.post(body) == (200, {"status": "accepted"})
    runtime = deployment.runtime(clock)
    poller = deployment.poller(runtime)
    assert (poller.poll_once(), poller.poll_once()) == (1, 0)
    assert sum(runtime.receives.values()) == 1
    assert [a["id"] for a in ArchiveReader(deployment.storage.payloads).newest(50)] == [
        sha256(body)
    ]


@pytest.mark.parametrize(
    "hang",
    [
        pytest.param(faults.connect_timeout, id="connect-timeout"),
        pytest.param(faults.read_timeout, id="read-timeout"),
    ],
)
def test_ingest_answers_503_within_its_timeout_when_sqs_hangs(deployment, clock, hang):
    """SQS accepts no connection (connect timeout) or never answers (read timeout), on every
    attempt. ingest must still answer its own 503 before Lambda's Timeout stops it: else API
    Gateway answers for it, and the rejection is neither logged nor counted
    (WebhookRejected503). The clock counts the timeouts and botocore's back-off."""
    config = ingest._CLIENT_CONFIG
    waits = {
        faults.connect_timeout: config.connect_timeout,
        faults.read_timeout: config.read_timeout,
    }
    timeout = float(deployment.stack.function_properties("IngestFunction")["Timeout"])
    with faults.FaultInjector("sqs", hang(waits[hang], clock)).install() as sqs_hangs:
        cold_start()
        started = clock()
        answer = deployment.post(b'{"typeWebhook": "stateInstanceChanged"}')
        took = clock() - started
    assert sqs_hangs.injected == config.retries["total_max_attempts"]
    assert answer == (503, {"error": "temporarily unavailable"})
    assert took < timeout, f"ingest needed {took:.1f} s of its {timeout:.0f} s"


# -- 2. DynamoDB throttling at 10 % of calls -------------------------------------------------
@pytest.mark.parametrize(
    "client_retries",
    [
        pytest.param(None, id="botocore-default-retries"),
        # No retries in the client: every throttle reaches greenhook, fails its record and
        # is retried by SQS redelivery alone.
        pytest.param("1", id="no-client-retries"),
    ],
)
def test_dynamodb_throttling_at_10_percent_loses_nothing_and_changes_nothing(
    deployment, clean_runs, mix, clock, monkeypatch, client_retries
):
    """10 % of all DynamoDB calls throttled (seeded), over the whole mix: every webhook is
    stored or parked exactly as in a fault-free run, the DLQ stays empty. (10 %: the mix
    makes few enough writes that 5 % would throttle only a handful.)"""
    expected = clean_runs.views(deployment.pipeline, mix, monkeypatch)
    if client_retries:
        one_attempt = Config(retries={"mode": "standard", "total_max_attempts": 1})
        monkeypatch.setattr(process, "_CLIENT_CONFIG", one_attempt)
    deployment.use(monkeypatch)
    throttle = faults.FaultInjector(
        "dynamodb", faults.PROVISIONED_THROUGHPUT_EXCEEDED, faults.Rate(0.1, seed=20260101)
    )
    runtime = deployment.runtime(clock)
    with throttle.install():
        cold_start()
        run(deployment, mix, runtime)
    assert throttle.injected >= 5, throttle
    assert_nothing_lost_nothing_wrong(deployment, mix, expected)
    if client_retries:  # greenhook's own retry path really ran
        assert runtime.failed_records + runtime.function_errors > 0
    else:  # with the deployed client config botocore absorbed every throttle
        assert runtime.failed_records + runtime.function_errors == 0


# -- 3. A 3-second DynamoDB outage ----------------------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(faults.CONNECTION_ERROR, id="connection-error"),
        pytest.param(faults.SERVICE_UNAVAILABLE, id="503"),
    ],
)
def test_a_3_second_dynamodb_outage_is_absorbed(
    deployment, clean_runs, mix, clock, monkeypatch, fault
):
    """Every DynamoDB call fails for 3 s, starting in the middle of the first batch.

    process's client (greenhook.process._CLIENT_CONFIG: standard mode, 4 attempts, at most
    a few tenths of a second of back-off) gives up well inside the outage, so the records
    fail and come back 180 s later (VisibilityTimeout), long after it ended: 3 s is far
    inside the budget, (maxReceiveCount - 1) x VisibilityTimeout = 720 s.
    """
    expected = clean_runs.views(deployment.pipeline, mix, monkeypatch)
    deployment.use(monkeypatch)
    outage = faults.Outage(3, clock, begin_at_call=15)
    dynamodb_down = faults.FaultInjector("dynamodb", fault, outage)
    runtime = deployment.runtime(clock)
    with dynamodb_down.install():
        cold_start()
        run(deployment, mix, runtime)
    assert dynamodb_down.injected > 0, dynamodb_down
    assert outage.start is not None and clock() > outage.end  # the outage came and went
    assert_nothing_lost_nothing_wrong(deployment, mix, expected)
    assert max(runtime.receives.values()) < deployment.max_receive_count
    # Redelivery carried the records past the outage.
    assert runtime.failed_records + runtime.function_errors > 0


def test_an_outage_longer_than_the_redelivery_budget_parks_records_in_the_dlq(
    deployment, mix, clock, monkeypatch
):
    """The limit of the above: DynamoDB down for longer than (maxReceiveCount - 1) x
    VisibilityTimeout. Records then go to the DLQ (kept, alarmed, redrivable), not lost."""
    deployment.use(monkeypatch)
    budget = (deployment.max_receive_count - 1) * deployment.visibility_timeout
    bodies = mix[:12]
    dynamodb_down = faults.FaultInjector(
        "dynamodb", faults.SERVICE_UNAVAILABLE, faults.Outage(budget + 60, clock)
    )
    runtime = deployment.runtime(clock)
    with dynamodb_down.install():
        cold_start()
        run(deployment, bodies, runtime)
    assert dynamodb_down.injected > 0
    dead = deployment.dlq_bodies()
    stored = {a["id"] for a in ArchiveReader(deployment.storage.payloads).newest(1000)}
    assert dead  # the outage outlasted the redelivery budget
    assert {sha256(b) for b in bodies} == {sha256(b) for b in dead} | stored  # none lost
    assert deployment.queue_depth() == 0


# -- 4. A process invocation that dies mid-batch ------------------------------------------
def test_a_process_killed_mid_batch_gets_the_whole_batch_again(
    deployment, clean_runs, mix, clock, monkeypatch
):
    """The process dies right after DynamoDB applied its 4th state write (UpdateItem), some
    records of the batch handled, one half-handled. The redelivered batch dies the same way
    at its 7th write. Lambda fails the whole batch each time: all its records come back,
    the ones already handled (or half-handled) are handled again, harmlessly. The whole
    batch was archived (Firehose) before any record was handled."""
    expected = clean_runs.views(deployment.pipeline, mix, monkeypatch)
    deployment.use(monkeypatch)
    kill = faults.FaultInjector(
        "dynamodb",
        faults.KILLED_AFTER_APPLIED,
        faults.OnCalls(4, 4 + 7),
        operations={"UpdateItem"},
    )
    archived_at_each_death: list[set[str]] = []
    runtime = deployment.runtime(
        clock,
        on_kill=lambda: archived_at_each_death.append(
            {a["id"] for a in ArchiveReader(deployment.storage.payloads).newest(1000)}
        ),
    )
    with kill.install():
        cold_start()
        run(deployment, mix, runtime)
    assert kill.injected == runtime.killed == 2
    first_batch = runtime.batches[0]
    assert runtime.batches[1] == runtime.batches[2] == first_batch  # all of it, twice
    assert len(first_batch) == 10
    # The batch was archived before it was handled, each time, ...
    assert [len(archived) for archived in archived_at_each_death] == [10, 10]
    # ... and those were delivered twice more and handled again without harm.
    assert all(runtime.receives[m] == 3 for m in first_batch)
    assert_nothing_lost_nothing_wrong(deployment, mix, expected)


# -- DynamoDB answers lost after the write was applied -------------------------------------
def test_writes_whose_answer_is_lost_are_retried_harmlessly(
    deployment, clean_runs, mix, clock, monkeypatch
):
    """A DynamoDB write applied but its answer lost (read timeout): botocore sends it again,
    against an item that already holds it. Every conditional write must take that as done."""
    expected = clean_runs.views(deployment.pipeline, mix, monkeypatch)
    deployment.use(monkeypatch)
    lost = faults.FaultInjector(
        "dynamodb",
        faults.LOST_RESPONSE,
        faults.Rate(0.2, seed=8),
        operations={"PutItem", "UpdateItem"},
    )
    runtime = deployment.runtime(clock)
    with lost.install():
        cold_start()
        run(deployment, mix, runtime)
    assert lost.injected > 10, lost
    assert_nothing_lost_nothing_wrong(deployment, mix, expected)


# -- the injector itself, offline ----------------------------------------------------------
# A fake service stands where moto or AWS would: a `before-send` handler that answers every
# request to an AWS endpoint with 200 and records it (as in-process moto does, and only for
# AWS hosts), so nothing leaves the machine.
THREE_ATTEMPTS = Config(retries={"mode": "standard", "total_max_attempts": 3})


class FakeService:
    """Answers every request to an AWS host with 200 and an empty body; records them."""

    def __init__(self) -> None:
        self.applied: list[str] = []

    def __call__(self, request, event_name: str, **_) -> AWSResponse | None:
        if ".amazonaws.com" not in request.url:
            return None
        self.applied.append(event_name.rsplit(".", 1)[-1])
        body = faults.RawBody(b"{}" if request.headers.get("X-Amz-Target") else b"")
        return AWSResponse(request.url, 200, {}, body)


@pytest.fixture
def offline_session():
    return boto3.session.Session(
        region_name="eu-central-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def service(offline_session) -> FakeService:
    fake = FakeService()
    offline_session.events.register("before-send", fake)
    return fake


def put(client) -> None:
    client.put_item(TableName="t", Item={"PK": {"S": "a"}})


def test_an_injected_throttle_is_a_real_error_retried_by_botocore_and_never_applied(
    offline_session, service, clock
):
    throttle = faults.FaultInjector("dynamodb", faults.PROVISIONED_THROUGHPUT_EXCEEDED)
    with throttle.install(offline_session):
        client = offline_session.client("dynamodb", config=THREE_ATTEMPTS)
        with pytest.raises(ClientError) as raised:
            put(client)
    error = raised.value.response
    assert error["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["ResponseMetadata"]["RetryAttempts"] == 2
    assert throttle.calls == throttle.injected == 3
    assert throttle.by_operation == {"PutItem": 3}
    assert service.applied == []  # a throttled request changes nothing
    assert clock() > 0  # botocore backed off (on the clock)


@pytest.mark.parametrize(
    ("service_name", "call", "fault"),
    [
        ("dynamodb", put, faults.SERVICE_UNAVAILABLE),
        ("sqs", lambda c: c.send_message(QueueUrl="https://q", MessageBody="x"), faults.THROTTLING),
        (
            "s3",
            lambda c: c.put_object(Bucket="b", Key="k", Body=b"x"),
            faults.INTERNAL_SERVER_ERROR,
        ),
        ("sts", lambda c: c.get_caller_identity(), faults.REQUEST_THROTTLED),  # query protocol
    ],
)
def test_each_protocol_parses_the_injected_error(
    offline_session, service, clock, service_name, call, fault
):
    with faults.FaultInjector(service_name, fault).install(offline_session):
        client = offline_session.client(service_name, config=THREE_ATTEMPTS)
        with pytest.raises(ClientError) as raised:
            call(client)
    assert raised.value.response["Error"]["Code"] == fault.code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == fault.status


def test_a_connection_error_is_retried_and_raised_with_the_real_endpoint(
    offline_session, service, clock
):
    with (
        faults.FaultInjector("dynamodb", faults.CONNECTION_ERROR).install(offline_session) as down,
        pytest.raises(EndpointConnectionError, match=r"dynamodb\.eu-central-1\.amazonaws"),
    ):
        put(offline_session.client("dynamodb", config=THREE_ATTEMPTS))
    assert down.injected == 3 and service.applied == []


def test_a_lost_response_is_applied_first(offline_session, service, clock):
    with faults.FaultInjector("dynamodb", faults.LOST_RESPONSE, faults.OnCalls(1)).install(
        offline_session
    ) as lost:
        put(offline_session.client("dynamodb", config=THREE_ATTEMPTS))  # the retry gets its answer
    assert lost.injected == 1 and service.applied == ["PutItem", "PutItem"]
    with (
        faults.FaultInjector("dynamodb", faults.LOST_RESPONSE).install(offline_session),
        pytest.raises(ReadTimeoutError),
    ):
        put(offline_session.client("dynamodb", config=THREE_ATTEMPTS))


def test_a_killed_process_is_handled_by_nobody_on_the_way_out(offline_session, service):
    with (
        faults.FaultInjector("dynamodb", faults.KILLED_AFTER_APPLIED).install(offline_session),
        pytest.raises(faults.ProcessKilled),
    ):
        put(offline_session.client("dynamodb", config=THREE_ATTEMPTS))
    assert service.applied == ["PutItem"]  # no retry: the process is gone
    with (
        faults.FaultInjector("dynamodb", faults.KILLED).install(offline_session),
        pytest.raises(faults.ProcessKilled),
    ):
        put(offline_session.client("dynamodb", config=THREE_ATTEMPTS))
    assert service.applied == ["PutItem"]


def test_only_the_chosen_operations_fail(offline_session, service):
    with faults.FaultInjector(
        "dynamodb", faults.SERVICE_UNAVAILABLE, operations={"GetItem"}
    ).install(offline_session) as injector:
        put(offline_session.client("dynamodb"))
    assert (injector.calls, injector.injected, service.applied) == (0, 0, ["PutItem"])


def test_a_seeded_rate_fires_on_the_same_calls_every_time():
    def fired(seed: int) -> list[int]:
        rate = faults.Rate(0.05, seed=seed)
        return [n for n in range(1, 2001) if rate(n)]

    assert fired(7) == fired(7) != fired(8)
    assert 60 < len(fired(7)) < 140  # about 5 % of 2000


def test_an_outage_covers_its_window_on_the_clock_only():
    clock = faults.Clock()
    outage = faults.Outage(3, clock, begin_at_call=2)
    seen = []
    for call in range(1, 6):
        seen.append(outage(call))
        clock.advance(1)
    # begins at call 2 (t=1), fails while t < 4, then never again
    assert seen == [False, True, True, True, False]
    assert (outage.start, outage.end) == (1, 4)


def test_botocore_back_off_advances_the_clock_instead_of_sleeping(offline_session, service):
    clock = faults.Clock()
    started = time.monotonic()
    with (
        clock.skipping_retry_sleeps(),
        faults.FaultInjector("dynamodb", faults.THROTTLING).install(offline_session),
    ):
        config = Config(retries={"mode": "standard", "total_max_attempts": 8})
        with pytest.raises(ClientError):
            put(offline_session.client("dynamodb", config=config))
    assert time.monotonic() - started < 1  # throttling back-off would be seconds of sleep
    assert clock() > 1
    import botocore.endpoint

    assert botocore.endpoint.time is time  # restored


def test_a_hang_costs_its_timeout_on_the_clock_per_attempt(offline_session, service):
    clock = faults.Clock()
    with (
        faults.FaultInjector("dynamodb", faults.read_timeout(5, clock)).install(offline_session),
        pytest.raises(ReadTimeoutError),
    ):
        put(offline_session.client("dynamodb", config=Config(retries={"total_max_attempts": 2})))
    assert clock() == 10  # two attempts of 5 s (the short back-off is really slept here)


def test_clients_made_while_installed_stop_failing_once_uninstalled(offline_session, service):
    injector = faults.FaultInjector("dynamodb", faults.SERVICE_UNAVAILABLE).install(offline_session)
    client = offline_session.client("dynamodb", config=THREE_ATTEMPTS)  # copies the handler
    injector.uninstall()
    put(client)
    put(offline_session.client("dynamodb"))
    assert injector.injected == 0 and service.applied == ["PutItem", "PutItem"]

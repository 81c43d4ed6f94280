"""Fuzz: hostile bodies and headers through the real ingest and process handlers (moto).

What must hold for every request, whatever its body:
  * authenticated: ingest answers 200 (400 only for an empty body or broken base64, and then
    nothing is queued), never 500; the process function fails no record (nothing heads for
    the DLQ); the body is archived byte for byte; and it is either stored (its effect is in
    the table) or parked with a reason. greenhook's own code never crashes on a body: a park
    for "handler failed: ..." or "failed: ..." is a bug (the avatar without a chat id aside).
  * unauthenticated (bad, missing or misplaced Authorization; a forbidden source IP whatever
    X-Forwarded-For claims): 401 or 403, and nothing is queued.

Bodies and header values come from greenhook_dev.hostile. The generated examples are
derandomized (the same on every run) and each test reuses one moto stack for all of them:
every example drains the queue it filled, and bodies keep apart by their SHA-256. Pinned
examples add what is too big for the loop (100,000 levels deep, the 240 KiB and 1 MiB
limits) and shapes that must always be tried; valid webhooks among them must be stored.
`pytest -s` prints how the cases ended.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from greenhook import keys, routing, storable
from greenhook.archive import ArchiveReader
from greenhook.handlers import REFERENCE_WRITERS
from greenhook.models import (
    WEBHOOK_MODELS,
    CallWebhook,
    ContactAvatar,
    DeviceInfo,
    IncomingBlock,
    MessageWebhook,
    OutgoingMessageStatus,
    QuotaExceeded,
    StateInstanceChanged,
    StatusInstanceChanged,
    parse_webhook,
)
from greenhook.queue import INLINE_LIMIT, sha256_hex
from greenhook.storage import Storage
from greenhook_dev import hostile
from greenhook_dev.hostile import Body
from greenhook_dev.poller import sqs_record

# In the pipeline fixture's AllowedCidrs (tests/integration/conftest.py).
ALLOWED_IPS = ("51.250.84.44", "203.0.113.3", "2001:db8:10::abcd", "::ffff:51.250.84.44")
FORBIDDEN_IPS = (
    "51.250.84.45",
    "198.51.100.7",
    "2001:db8:11::1",
    "::ffff:198.51.100.7",
    "127.0.0.1",
    "0.0.0.0",
    "051.250.084.044",
    "garbage",
    "",
    None,
)
AUTHORIZATION_NAMES = ("authorization", "Authorization", "AUTHORIZATION")
MISPLACED_NAMES = ("authorisation", "x-authorization", "proxy-authorization", "x-api-key")
QUARANTINE_GROUP = "quarantine"
SQS_MAX = 1024 * 1024

FUZZ = settings(
    deadline=None,
    derandomize=True,  # the same examples on every run: CI never flakes on a new draw
    # No shrinking: through moto it takes minutes. A failing Body's repr says how it was
    # made (sample, mutations), which is the reproducer.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)

OUTCOMES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def outcome_summary():
    """Print how the cases ended (visible with pytest -s)."""
    OUTCOMES.clear()
    yield
    lines = [f"  {count:5d}  {outcome}" for outcome, count in sorted(OUTCOMES.items())]
    print(f"\nfuzz: {OUTCOMES.total()} cases\n" + "\n".join(lines))


def documented_match(header: str | None, token: str) -> bool:
    """The README's rule: `Bearer <t>`, `Basic <t>` (scheme in any case, whitespace ignored)
    or the exact token."""
    if header is None:
        return False
    value = header.strip()
    parts = value.split(None, 1)
    with_scheme = len(parts) == 2 and parts[0].lower() in ("bearer", "basic")
    return value == token or (with_scheme and parts[1].strip() == token)


CRASHES = ("handler failed: ", "failed: ")  # greenhook's own code raised (process.py)
DELIBERATE = "avatarInfo.chatId is not a chat id"  # a handler's way of refusing a body


def reason_class(reason: str) -> str:
    """A parked reason without its details: "invalid X", "handler failed: E", ..."""
    if reason.startswith(CRASHES):
        return ": ".join(reason.split(": ")[:2])
    if reason.startswith("no handler for typeWebhook"):
        return "no handler for typeWebhook"
    if reason.startswith("invalid "):
        kind = reason.split(":")[0].removeprefix("invalid ")
        return f"invalid {kind if kind in WEBHOOK_MODELS else '(unknown typeWebhook)'}"
    return reason.split(":")[0][:80]


def crashed(reason: str) -> bool:
    """Parked because greenhook's own code raised on the body (a bug), not for the body."""
    return reason.startswith(CRASHES) and DELIBERATE not in reason


# What a stored webhook leaves, per model: the item it writes and an attribute it sets.
def effect(webhook: Any) -> tuple[dict, str]:
    i = webhook.id_instance
    if isinstance(webhook, MessageWebhook):
        attribute = {
            "editedMessage": "edit_events",
            "deletedMessage": "deletion_events",
            "reactionMessage": "reaction_events",
            "pollUpdateMessage": "poll_version",
        }.get(webhook.type_message, "type_message")
        referenced = webhook.type_message in REFERENCE_WRITERS
        return keys.message(i, webhook.stanza_id if referenced else webhook.idMessage), attribute
    if isinstance(webhook, OutgoingMessageStatus):
        return keys.message(i, webhook.idMessage), "status_events"
    if isinstance(webhook, CallWebhook):
        return keys.call(i, webhook.idMessage), "call_events"
    if isinstance(webhook, IncomingBlock):
        return keys.chat(i, webhook.chatId), "chat_state"
    if isinstance(webhook, ContactAvatar):
        return keys.chat(i, webhook.avatarInfo.chat_id), "avatar"
    aspect = {
        StateInstanceChanged: "state_instance",
        StatusInstanceChanged: "status_instance",
        DeviceInfo: "device",
        QuotaExceeded: "quota",
    }.get(type(webhook), "last_webhook_at")
    return keys.instance(i), aspect


def _first_line(error: BaseException) -> str:
    if children := getattr(error, "child_exceptions", None):  # powertools' batch error
        error = children[0][1]  # the record's own exception
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:300]}"


def _encodable(key: dict) -> bool:
    try:
        json.dumps(key, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class Fuzzer:
    """Sends requests through the pipeline fixture and checks what became of them."""

    pipeline: Any

    # One client each for all examples: creating a boto3 client costs more than a request.
    @cached_property
    def sqs(self) -> Any:
        return self.pipeline.sqs

    @cached_property
    def s3(self) -> Any:
        return self.pipeline.session.client("s3")

    @cached_property
    def storage(self) -> Storage:
        return self.pipeline.storage

    def request(
        self,
        body: Body,
        headers: dict[str, str],
        *,
        source_ip: str | None = ALLOWED_IPS[0],
    ) -> tuple[int, dict]:
        """Call the real ingest handler with exactly these headers; a raise is a 500."""
        event = self.pipeline.http_event(b"{}", authorization=None, source_ip=source_ip)
        event["headers"] = headers
        event["body"], event["isBase64Encoded"] = body.event_body()
        try:
            response = self.pipeline.ingest_function(event)
        except Exception as error:
            raise AssertionError(f"ingest raised {_first_line(error)} (a 500)") from error
        return response["statusCode"], json.loads(response["body"])

    def take_queued(self) -> list[dict]:
        """Receive and delete what is on the queue (each example leaves it empty)."""
        messages = self.sqs.receive_message(
            QueueUrl=self.pipeline.queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        for message in messages:
            self.sqs.delete_message(
                QueueUrl=self.pipeline.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        return messages

    def process(self, message: dict) -> dict:
        """One record through the real process function, as Lambda's event source sends it."""
        stack = self.pipeline.stack
        record = sqs_record(
            message, queue_arn=stack.attributes["WebhookQueue"]["Arn"], region=stack.region
        )
        try:
            return self.pipeline.process_function({"Records": [record]})
        except Exception as error:  # powertools raises when every record of a batch failed
            raise AssertionError(f"the record failed: {_first_line(error)}") from error

    def kept_body(self, item: dict) -> bytes:
        """The body an archive or parked item holds (inline text, binary, or in S3)."""
        if item.get("payload_s3_key"):
            bucket = self.pipeline.stack.refs["PayloadBucket"]
            return self.s3.get_object(Bucket=bucket, Key=item["payload_s3_key"])["Body"].read()
        if item.get("body") is not None:
            return item["body"].encode("utf-8", errors="surrogatepass")
        if "body_base64" in item:  # the archive's form of a body that is not UTF-8
            return base64.b64decode(item["body_base64"])
        return item["body_binary"]  # a parked item's

    def deliver(self, body: Body, headers: dict[str, str], source_ip: str) -> str:
        """An authenticated request end to end; returns what became of it."""
        status, answer = self.request(body, headers, source_ip=source_ip)
        if body.transport == hostile.BROKEN_BASE64 or not body.data.strip():
            assert status == 400, (status, answer)
            assert self.take_queued() == [], "a refused body was queued"
            return "rejected 400"
        assert status == 200, f"ingest answered {status} {answer}"
        assert answer == {"status": "accepted"} or (
            answer.get("status") == "quarantined" and answer.get("kept") is True
        ), answer

        sha = sha256_hex(body.data)
        # One message: moto forgets a deduplication id once its message is deleted, so a
        # body repeated by hypothesis is queued again.
        queued = self.take_queued()
        assert len(queued) == 1, f"answered 200, {len(queued)} messages queued"
        group = queued[0]["Attributes"]["MessageGroupId"]
        assert (group == QUARANTINE_GROUP) == (answer["status"] == "quarantined"), group

        result = self.process(queued[0])
        assert result == {"batchItemFailures": []}, "the record failed: retried, then the DLQ"

        archived = ArchiveReader(self.storage.payloads).get(sha)
        assert archived is not None, "not archived: the body is lost"
        assert self.kept_body(archived) == body.data, "the archive does not hold the body"
        parked = self.storage.table.get_item(Key={"PK": keys.webhook(sha), "SK": "PARKED"}).get(
            "Item"
        )
        if parked is not None:
            reason = parked.get("reason")
            assert reason, "parked without a reason"
            assert self.kept_body(parked) == body.data, "the parked item does not hold the body"
            if answer["status"] == "quarantined":
                assert reason == answer["reason"], (reason, answer["reason"])
            assert not crashed(reason), f"greenhook crashed on it: parked with {reason!r}"
            return f"parked: {reason_class(reason)}"
        assert answer["status"] == "accepted", "quarantined but not parked"
        self.assert_stored(body.data)
        return "stored"

    def assert_stored(self, data: bytes) -> None:
        """Not parked: the webhook validated and its effect is in the table."""
        # Read as process reads it: any size of number, lone surrogates and absurd nesting
        # repaired (the archive keeps the bytes as they came).
        document = storable.readable(routing.parse(data), set())
        webhook = parse_webhook(document)  # raises if it should have been parked
        key, attribute = effect(webhook)
        if not _encodable(key):  # ids DynamoDB cannot hold as they are: how they are kept
            key, attribute = keys.instance(webhook.id_instance), "id_instance"  # is not our call
        item = self.storage.table.get_item(Key=key).get("Item")
        assert item is not None and attribute in item, f"stored, but no {attribute} at {key}"


def authorized_headers(draw: st.DrawFn, token: str) -> dict[str, str]:
    """Accepted credentials, with any Content-Type and spoofed forwarding headers."""
    headers = dict(draw(hostile.forwarding_headers("198.51.100.7"), label="forwarding"))
    content_type = draw(hostile.content_types(), label="content-type")
    if content_type is not None:
        headers["content-type"] = content_type
    template = draw(hostile.valid_authorizations(), label="authorization")
    name = draw(st.sampled_from(AUTHORIZATION_NAMES), label="header name")
    headers[name] = hostile.render_authorization(template, token)
    return headers


def test_every_authenticated_body_ends_archived_and_stored_or_parked(pipeline):
    fuzzer = Fuzzer(pipeline)

    # @given inside the test: one moto stack for every example, and a failure report that
    # shows the body and headers, not the fixture.
    @settings(FUZZ, max_examples=150)
    @given(body=hostile.hostile_bodies(), data=st.data())
    def authenticated(body: Body, data: st.DataObject) -> None:
        headers = authorized_headers(data.draw, pipeline.token)
        source_ip = data.draw(st.sampled_from(ALLOWED_IPS), label="source ip")
        OUTCOMES[fuzzer.deliver(body, headers, source_ip)] += 1

    authenticated()


def test_unauthenticated_requests_are_refused_and_nothing_is_queued(pipeline):
    fuzzer, token = Fuzzer(pipeline), pipeline.token

    @settings(FUZZ, max_examples=60)
    @given(body=hostile.hostile_bodies(), data=st.data())
    def unauthenticated(body: Body, data: st.DataObject) -> None:
        headers = dict(data.draw(hostile.forwarding_headers(ALLOWED_IPS[0]), label="forwarding"))
        content_type = data.draw(hostile.content_types(), label="content-type")
        if content_type is not None:
            headers["content-type"] = content_type
        way = data.draw(st.sampled_from(("forbidden ip", "wrong", "missing", "misplaced")))
        if way == "forbidden ip":  # whatever the credentials, the right ones too
            source_ip = data.draw(st.sampled_from(FORBIDDEN_IPS), label="source ip")
            template = data.draw(
                hostile.valid_authorizations() | hostile.invalid_authorizations(),
                label="authorization",
            )
            headers["authorization"] = hostile.render_authorization(template, token)
            expected = (403, {"error": "forbidden"})
        else:
            source_ip = data.draw(st.sampled_from(ALLOWED_IPS), label="source ip")
            if way == "wrong":
                template = data.draw(hostile.invalid_authorizations(), label="authorization")
                value = hostile.render_authorization(template, token)
                assume(not documented_match(value, token))
                name = data.draw(st.sampled_from(AUTHORIZATION_NAMES), label="header name")
                headers[name] = value
            elif way == "misplaced":  # the right token in a header that is not Authorization
                name = data.draw(st.sampled_from(MISPLACED_NAMES), label="header name")
                headers[name] = f"Bearer {token}"
            expected = (401, {"error": "unauthorized"})
        assert fuzzer.request(body, headers, source_ip=source_ip) == expected
        assert fuzzer.take_queued() == [], "an unauthenticated request was queued"
        OUTCOMES[f"rejected {expected[0]}"] += 1

    unauthenticated()


# -- pinned examples: too big for the loop, or shapes that must always be tried -----------------


def _sample(name: str) -> hostile.Members:
    return hostile.parse_members((hostile.EVENTS / name).read_text(encoding="utf-8"))


def _sample_bytes(name: str) -> bytes:
    return hostile.to_json(_sample(name)).encode()


def _edited(name: str, *fields: tuple[str, str]) -> Body:
    """A sample with fields ("a.b.c", JSON text) replaced, or added where absent."""
    tree = _sample(name)
    for path, text in fields:
        *parents, last = path.split(".")
        holder = tree
        for parent in parents:
            holder = next(v for k, v in holder if k == parent)
        index = next((i for i, (k, _) in enumerate(holder) if k == last), None)
        if index is None:
            holder.append((last, hostile.Raw(text)))
        else:
            holder[index] = (last, hostile.Raw(text))
    label = "; ".join(f"{p} := {t[:40]}" for p, t in fields)
    return Body(hostile.to_json(tree).encode(), f"{name}: {label}")


def _padded(name: str, size: int, extra: str = "") -> Body:
    """A sample with a `padding` field that makes the body exactly `size` bytes."""
    tree = _sample(name)
    tree.append(("padding", hostile.Raw(f'"{extra}"')))
    missing = size - len(hostile.to_json(tree).encode())
    tree[-1] = ("padding", hostile.Raw(f'"{extra}{"x" * missing}"'))
    data = hostile.to_json(tree).encode()
    assert len(data) == size
    return Body(data, f"{name} padded to {size} bytes")


def _long_field_at_the_limit(path: str) -> Body:
    """A body at the inline limit, most of it one field that the archive item copies too."""
    body = _edited("webhooks/stateInstanceChanged.json", (path, json.dumps("7" * 180_000)))
    tree = hostile.parse_members(body.data.decode())
    tree.append(("padding", "x" * (INLINE_LIMIT - len(body.data) - len(',"padding":""'))))
    data = hostile.to_json(tree).encode()
    assert len(data) == INLINE_LIMIT
    return Body(data, f"{path} of 180,000 characters, body at the inline limit")


DEEP = 100_000
STATE, MESSAGE = "webhooks/stateInstanceChanged.json", "webhooks/incomingMessageReceived.json"
LOCATION, DEVICE = "messages/incoming-locationMessage.json", "webhooks/deviceInfo.json"

# Valid webhooks, whatever DynamoDB thinks of their values: they must be stored.
MUST_BE_STORED: dict[str, Callable[[], Body]] = {
    "a message field nested 300 deep": lambda: _edited(MESSAGE, ("x", hostile.nested(300))),
    "a device field nested 33 deep": lambda: _edited(
        DEVICE, ("deviceData.x", hostile.nested(33, "1"))
    ),
    "a device field nested 300 deep": lambda: _edited(
        DEVICE, ("deviceData.x", hostile.nested(300, "1"))
    ),
    "a message field nested 5,000 deep": lambda: _edited(MESSAGE, ("x", hostile.nested(5000))),
    "at the inline limit (240 KiB)": lambda: _padded(STATE, INLINE_LIMIT),
    "one byte over the inline limit": lambda: _padded(STATE, INLINE_LIMIT + 1),
    "under the inline limit, over it in base64": lambda: _padded(STATE, 200 * 1024, "\ufffe"),
    "a message one byte under the inline limit": lambda: _padded(MESSAGE, INLINE_LIMIT - 1),
    "one byte under SQS's 1 MiB": lambda: _padded(STATE, SQS_MAX - 1),
    "one byte over SQS's 1 MiB": lambda: _padded(STATE, SQS_MAX + 1),
    "timestamp 10**40": lambda: _edited(STATE, ("timestamp", str(10**40))),
    "timestamp -10**40": lambda: _edited(STATE, ("timestamp", str(-(10**40)))),
    "idInstance 10**40": lambda: _edited(MESSAGE, ("instanceData.idInstance", str(10**40))),
    "idInstance -10**40": lambda: _edited(STATE, ("instanceData.idInstance", str(-(10**40)))),
    "battery 10**40": lambda: _edited(DEVICE, ("deviceData.battery", str(10**40))),
    "a device field NaN": lambda: _edited(DEVICE, ("deviceData.x", "NaN")),
    "a device field -10**40": lambda: _edited(DEVICE, ("deviceData.x", str(-(10**40)))),
    "latitude 1e308, longitude -0.0": lambda: _edited(
        LOCATION,
        ("messageData.locationMessageData.latitude", "1e308"),
        ("messageData.locationMessageData.longitude", "-0.0"),
    ),
    "latitude NaN, longitude Infinity": lambda: _edited(
        LOCATION,
        ("messageData.locationMessageData.latitude", "NaN"),
        ("messageData.locationMessageData.longitude", "Infinity"),
    ),
    "latitude 1e-400": lambda: _edited(
        LOCATION, ("messageData.locationMessageData.latitude", "1e-400")
    ),
    "textMessage with a lone surrogate": lambda: _edited(
        MESSAGE, ("messageData.textMessageData.textMessage", r'"a\udfffb"')
    ),
    "chatId a lone surrogate": lambda: _edited(MESSAGE, ("senderData.chatId", r'"\ud800"')),
    "stateInstance a lone surrogate": lambda: _edited(STATE, ("stateInstance", r'"\udc00"')),
    "idMessage NUL, RTL, emoji": lambda: _edited(MESSAGE, ("idMessage", '"\\u0000\u202e😀"')),
    "idMessage of 3,000 characters": lambda: _edited(
        MESSAGE, ("idMessage", '"' + "A" * 3000 + '"')
    ),
    "chatId of 3,000 characters": lambda: _edited(
        MESSAGE, ("senderData.chatId", '"' + "7" * 3000 + '@c.us"')
    ),
    "typeWebhook twice, the first a lone surrogate": lambda: Body(
        rb'{"typeWebhook":"\ud800",' + _sample_bytes(STATE)[1:], "duplicate typeWebhook"
    ),
}
# Bodies that may well be parked (unreadable, unknown, or refused by the models): kept.
MUST_BE_KEPT: dict[str, Callable[[], Body]] = {
    "arrays 100,000 deep, the whole body": lambda: Body(hostile.nested(DEEP).encode(), "deep"),
    "arrays 100,000 deep in a field": lambda: _edited(STATE, ("x", hostile.nested(DEEP))),
    "a 180,000-character idInstance": lambda: _long_field_at_the_limit("instanceData.idInstance"),
    "a 180,000-character typeWebhook": lambda: _long_field_at_the_limit("typeWebhook"),
    "timestamp of 4,400 digits": lambda: _edited(STATE, ("timestamp", "1" + "0" * 4400)),
    "timestamp 1e-400": lambda: _edited(STATE, ("timestamp", "1e-400")),
    "battery 1e308": lambda: _edited(DEVICE, ("deviceData.battery", "1e308")),
    "typeWebhook a lone surrogate": lambda: _edited(MESSAGE, ("typeWebhook", r'"\ud800"')),
    "an empty typeWebhook": lambda: _edited(STATE, ("typeWebhook", '""')),
    "idInstance an empty string": lambda: _edited(STATE, ("instanceData.idInstance", '""')),
    "idInstance a string of spaces": lambda: _edited(STATE, ("instanceData.idInstance", '"  "')),
    "typeWebhook twice, the last a lone surrogate": lambda: Body(
        _sample_bytes(STATE)[:-1] + rb',"typeWebhook":"\ud800"}', "duplicate typeWebhook"
    ),
}


def test_pinned_hostile_bodies_end_archived_and_stored_or_parked(pipeline):
    """Every pinned body, on one stack; all are tried and every failure is reported."""
    fuzzer = Fuzzer(pipeline)
    headers = {"authorization": f"Bearer {pipeline.token}", "content-type": "application/json"}
    failures = []
    pinned = [(n, b, True) for n, b in MUST_BE_STORED.items()]
    pinned += [(n, b, False) for n, b in MUST_BE_KEPT.items()]
    for name, make_body, must_store in pinned:
        try:
            outcome = fuzzer.deliver(make_body(), headers, ALLOWED_IPS[0])
            OUTCOMES[outcome] += 1
            assert outcome == "stored" or not must_store, f"a valid webhook was {outcome}"
        except AssertionError as error:
            failures.append(f"{name}: {str(error).splitlines()[0]}")
            fuzzer.take_queued()
    assert not failures, f"{len(failures)} of {len(pinned)} failed:\n" + "\n".join(failures)


PINNED_AUTHORIZATIONS = {
    "a lone surrogate": "Bearer \ud800",
    "the token and a lone surrogate": "Bearer {TOKEN}\ud800",
    "NUL after the token": "Bearer {TOKEN}\x00",
    "100,000 characters": "Bearer " + "A" * 100_000,
    "the token twice": "Bearer {TOKEN},Bearer {TOKEN}",
    "a Cyrillic scheme": "B\u0435arer {TOKEN}",
    "no space after the scheme": "Bearer{TOKEN}",
    "only the scheme": "Bearer",
}


def test_pinned_hostile_authorizations_are_refused(pipeline):
    fuzzer, failures = Fuzzer(pipeline), []
    body = Body((hostile.EVENTS / STATE).read_bytes(), STATE)
    for name, template in PINNED_AUTHORIZATIONS.items():
        headers = {"authorization": hostile.render_authorization(template, pipeline.token)}
        try:
            answer = fuzzer.request(body, headers)
            assert answer == (401, {"error": "unauthorized"}), answer
            assert fuzzer.take_queued() == [], "queued"
            OUTCOMES["rejected 401"] += 1
        except AssertionError as error:
            failures.append(f"{name}: {str(error).splitlines()[0]}")
    assert not failures, "\n".join(failures)


def test_a_queued_message_without_ingest_attributes_is_kept(pipeline):
    """Another producer (or a hand-made redrive) queues a body without ingest's attributes."""
    fuzzer, body = Fuzzer(pipeline), (hostile.EVENTS / STATE).read_bytes()
    fuzzer.sqs.send_message(
        QueueUrl=pipeline.queue_url,
        MessageBody=body.decode(),
        MessageGroupId="other-producer",
        MessageDeduplicationId=sha256_hex(body),
    )
    (message,) = fuzzer.take_queued()
    assert fuzzer.process(message) == {"batchItemFailures": []}
    archived = ArchiveReader(fuzzer.storage.payloads).get(sha256_hex(body))
    assert archived is not None and fuzzer.kept_body(archived) == body
    fuzzer.assert_stored(body)

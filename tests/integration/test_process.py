"""The process handler against moto: archive, dispatch, park, retry, convergence."""

import base64
import json
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from greenhook import keys
from greenhook.archive import ArchiveReader
from greenhook.dispatch import registry
from greenhook.queue import sha256_hex
from greenhook_dev.poller import sqs_record


def state_webhook(state: str, timestamp: int, id_instance: int = 1101000001) -> bytes:
    return json.dumps(
        {
            "typeWebhook": "stateInstanceChanged",
            "instanceData": {"idInstance": id_instance, "wid": "79001234567@c.us"},
            "timestamp": timestamp,
            "stateInstance": state,
        }
    ).encode()


def test_webhook_flows_to_archive_and_instance_state(pipeline, sample_body):
    assert pipeline.post(sample_body)[0] == 200
    assert pipeline.drain() == 1
    archived = ArchiveReader(pipeline.payloads).get(sha256_hex(sample_body))
    assert archived["body"].encode() == sample_body
    assert archived["type_webhook"] == "stateInstanceChanged"
    assert archived["id_instance"] == 1101000001
    assert archived["received_at"].startswith(str(datetime.now(UTC).year))
    state = pipeline.storage.get_instance(1101000001)
    assert (state["state_instance"], state["state_timestamp"]) == ("authorized", 1700000000)
    assert pipeline.queued() == []  # processed records are deleted


def test_same_webhook_twice_is_stored_once(pipeline, sample_body):
    assert pipeline.post(sample_body)[0] == 200
    (message,) = pipeline.queued()
    # The same record twice, past SQS's deduplication (an SQS redelivery, or a re-send
    # from GREEN-API after SQS's five-minute window).
    event = {"Records": [sqs_record(message, queue_arn="arn:q", region="eu-central-1")]}
    table = pipeline.session.client("dynamodb")
    first = pipeline.process_function(event)
    before = table.scan(TableName=pipeline.stack.refs["WebhookTable"])["Items"]
    second = pipeline.process_function(event)
    after = table.scan(TableName=pipeline.stack.refs["WebhookTable"])["Items"]
    assert first == second == {"batchItemFailures": []}
    assert after == before
    assert len(after) == 1  # the instance state (the raw archive is in S3)
    archived = ArchiveReader(pipeline.payloads).newest(10)
    assert [a["id"] for a in archived] == [sha256_hex(sample_body)] * 2  # each delivery


@pytest.mark.parametrize(
    "order",
    [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1, 2, 0]],
)
def test_instance_state_keeps_the_newest_whatever_the_order(pipeline, order):
    states = [("starting", 100), ("authorized", 200), ("sleepMode", 300)]
    for index in order:
        pipeline.post(state_webhook(*states[index]))
        pipeline.drain()
    state = pipeline.storage.get_instance(1101000001)
    assert (state["state_instance"], state["state_timestamp"]) == ("sleepMode", 300)


def test_same_second_states_settle_on_one_whatever_the_order(pipeline):
    results = []
    for order in ([("authorized", 5), ("blocked", 5)], [("blocked", 5), ("authorized", 5)]):
        for state, ts in order:
            pipeline.post(state_webhook(state, ts, id_instance=10 + len(results)))
        pipeline.drain()
        results.append(pipeline.storage.get_instance(10 + len(results))["state_instance"])
    assert results[0] == results[1]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json at all", "body is not valid JSON"),
        (
            b'{"typeWebhook": "brandNewType", "instanceData": {"idInstance": 1}}',
            "no handler for typeWebhook 'brandNewType'",
        ),
        (
            b'{"typeWebhook": "stateInstanceChanged", "instanceData": {"idInstance": 1}, '
            b'"timestamp": 1}',
            "invalid stateInstanceChanged: 1 errors: stateInstance: Field required",
        ),
    ],
)
def test_unusable_webhooks_are_archived_and_parked_with_the_reason(pipeline, body, reason):
    assert pipeline.post(body)[0] == 200
    pipeline.drain()
    (parked,) = pipeline.storage.list_parked()
    assert parked["reason"] == reason
    assert parked["body"].encode() == body
    assert ArchiveReader(pipeline.payloads).get(sha256_hex(body))["body"].encode() == body
    assert pipeline.queued() == []  # parked is done, not retried


def test_invalid_utf8_is_parked_byte_for_byte(pipeline):
    body = b'{"typeWebhook": "\xff"}'
    assert pipeline.post(body, base64_body=True)[0] == 200
    pipeline.drain()
    archived = ArchiveReader(pipeline.payloads).get(sha256_hex(body))
    assert base64.b64decode(archived["body_base64"]) == body  # byte for byte
    assert pipeline.storage.list_parked()[0]["reason"] == "body is not valid UTF-8"


def test_large_webhook_is_archived_by_reference(pipeline, event_json):
    webhook = event_json("stateInstanceChanged.json")
    webhook["padding"] = "x" * 600_000
    body = json.dumps(webhook).encode()
    assert pipeline.post(body)[0] == 200
    pipeline.drain()
    archived = ArchiveReader(pipeline.payloads).get(sha256_hex(body))
    assert "body" not in archived and archived["payload_s3_key"].startswith("payloads/")
    assert archived["body_size"] == len(body)
    assert pipeline.storage.get_instance(1101000001)["state_instance"] == "authorized"


def test_a_handler_bug_parks_the_webhook_instead_of_blocking(pipeline, monkeypatch):
    def broken(webhook, storage):
        raise KeyError("oops")

    monkeypatch.setitem(registry._handlers, ("stateInstanceChanged", None), [broken])
    body = state_webhook("authorized", 1)
    pipeline.post(body)
    pipeline.drain()
    assert pipeline.storage.list_parked()[0]["reason"] == "handler failed: KeyError: 'oops'"
    assert pipeline.queued() == []


def _written_key(body: bytes) -> str:
    """The partition a webhook's first write goes to: its message's, else its instance's."""
    document = json.loads(body)
    id_instance = document["instanceData"]["idInstance"]
    if "idMessage" in document:
        return keys.message(id_instance, document["idMessage"])["PK"]
    return keys.instance(id_instance)["PK"]


class Throttle:
    """Make DynamoDB throttle the writes of `bodies` (a real ClientError)."""

    def __init__(self, client, bodies, times=1):
        self.marks = {_written_key(b) for b in bodies}
        self.remaining = times
        client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", self)

    def __call__(self, params, **kwargs):
        pk = params["Key"]["PK"]
        pk = pk.get("S") if isinstance(pk, dict) else pk  # before or after serialisation
        if pk in self.marks and self.remaining:
            self.remaining -= 1
            raise ClientError(
                {
                    "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "UpdateItem",
            )


def test_transient_failure_fails_only_that_record_and_it_is_retried(pipeline):
    from greenhook import process

    bodies = [state_webhook("authorized", 10, id_instance=i) for i in (1, 2, 3)]
    for body in bodies:
        pipeline.post(body)
    storage = process._storage()
    Throttle(storage.table.meta.client, [bodies[1]], times=1)
    poller = pipeline.poller()
    assert poller.poll_once() == 3
    assert pipeline.storage.get_instance(1) and pipeline.storage.get_instance(3)
    assert pipeline.storage.get_instance(2) is None
    (left,) = pipeline.queued()
    assert left["Body"].encode() == bodies[1]
    assert poller.poll_once() == 1  # delivered again: now it goes through
    assert pipeline.storage.get_instance(2)["state_instance"] == "authorized"
    assert pipeline.queued() == []


def test_a_failure_holds_back_only_its_own_chat(pipeline):
    from greenhook import process

    first, second = state_webhook("starting", 1), state_webhook("authorized", 2)
    other = state_webhook("authorized", 1, id_instance=77)
    for body in (first, second, other):
        pipeline.post(body)
    Throttle(process._storage().table.meta.client, [first], times=1)
    pipeline.poller().poll_once()
    # The instance's later webhook waited for the failed one; the other instance went on.
    assert pipeline.storage.get_instance(1101000001) is None
    assert pipeline.storage.get_instance(77)["state_instance"] == "authorized"
    pipeline.drain()
    assert pipeline.storage.get_instance(1101000001)["state_instance"] == "authorized"


def test_a_record_failing_every_time_lands_in_the_dlq(pipeline, sample_body):
    from greenhook import process

    pipeline.post(sample_body)
    Throttle(process._storage().table.meta.client, [sample_body], times=100)
    poller = pipeline.poller()
    for _ in range(10):
        poller.poll_once()
    dlq = pipeline.sqs.receive_message(
        QueueUrl=pipeline.stack.refs["WebhookDLQ"], MessageAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"].encode() for m in dlq] == [sample_body]
    assert pipeline.queued() == []
    # Archived before it was handled, as every accepted body is: once per delivery.
    assert ArchiveReader(pipeline.payloads).get(sha256_hex(sample_body))["id"]


def test_parked_large_body_is_copied_out_of_the_expiring_prefix(pipeline):
    body = json.dumps(
        {"typeWebhook": "brandNewType", "instanceData": {"idInstance": 1}, "pad": "x" * 400_000}
    ).encode()
    assert pipeline.post(body)[0] == 200
    pipeline.drain()
    (parked,) = pipeline.storage.list_parked()
    assert parked["payload_s3_key"] == f"parked/{sha256_hex(body)}"
    s3 = pipeline.session.client("s3")
    kept = s3.get_object(Bucket=pipeline.stack.refs["PayloadBucket"], Key=parked["payload_s3_key"])
    assert kept["Body"].read() == body
    # The template's lifecycle rules expire the archive and payloads/, never parked/.
    rules = pipeline.stack.resolve(
        pipeline.stack.template["Resources"]["PayloadBucket"]["Properties"]
    )["LifecycleConfiguration"]["Rules"]
    expiring = [r.get("Prefix") for r in rules if r.get("ExpirationInDays")]
    assert expiring == ["payloads/", "archive/", "archive-errors/"]

"""The local stream poller gives a function Lambda's DynamoDB Streams event-source semantics.

The table (keys and stream view from template.yaml's WebhookTable) and its stream are moto's;
the function is a fake that fails on purpose. Assertions read what the function accepted,
what went to the on-failure destination and where the poller's checkpoint stands.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from botocore.config import Config
from moto import mock_aws

from greenhook_dev.stream_poller import StreamPoller, sqs_on_failure
from greenhook_dev.template_resources import load_template

REGION = "eu-central-1"
KEY_PROPERTIES = ("KeySchema", "AttributeDefinitions", "BillingMode", "GlobalSecondaryIndexes")


class Stream:
    """The webhook table with its stream, and a standard queue for discarded batches."""

    def __init__(self, session) -> None:
        template = load_template()["Resources"]
        table = template["WebhookTable"]["Properties"]
        mapping = template["PublishStreamMapping"]["Properties"]
        self.filters = [f["Pattern"] for f in mapping["FilterCriteria"]["Filters"]]
        self.dynamodb = session.client("dynamodb")
        created = self.dynamodb.create_table(
            TableName="webhooks",
            **{k: table[k] for k in KEY_PROPERTIES},
            StreamSpecification={"StreamEnabled": True, **table["StreamSpecification"]},
        )["TableDescription"]
        self.arn = created["LatestStreamArn"]
        # mock_aws does not route botocore's account endpoint for streams (<account>.streams-ddb).
        self.streams = session.client(
            "dynamodbstreams", config=Config(account_id_endpoint_mode="disabled")
        )
        self.shard_id = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"][
            "Shards"
        ][0]["ShardId"]
        self.sqs = session.client("sqs")
        self.failed_queue_url = self.sqs.create_queue(QueueName="failed-events")["QueueUrl"]

    def put(self, pk: str, sk: str = "MESSAGE", **attributes) -> str:
        """Write an item; returns its stream record's sequence number."""
        item = {"PK": {"S": pk}, "SK": {"S": sk}} | attributes
        self.dynamodb.put_item(TableName="webhooks", Item=item)
        return self.sequence_numbers()[-1]

    def delete(self, pk: str, sk: str = "MESSAGE") -> str:
        self.dynamodb.delete_item(TableName="webhooks", Key={"PK": {"S": pk}, "SK": {"S": sk}})
        return self.sequence_numbers()[-1]

    def sequence_numbers(self) -> list[str]:
        """Every record's sequence number, read straight from the stream."""
        iterator = self.streams.get_shard_iterator(
            StreamArn=self.arn, ShardId=self.shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = self.streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
        return [r["dynamodb"]["SequenceNumber"] for r in records]

    def poller(self, invoke, **options) -> StreamPoller:
        options = {"retry_delay": 0, "idle_sleep": 0.01} | options
        return StreamPoller(self.streams, invoke, stream_arn=self.arn, region=REGION, **options)


class FakePublish:
    """Raises on a batch holding a `poison` key; reports a `failing` key as the batch's
    failure (`times` times in all, None: always); answers `response` when given."""

    def __init__(self, poison=(), failing=(), times: int | None = None, response=None) -> None:
        self.poison = set(poison)
        self.failing = set(failing)
        self.times = times
        self.response = response
        self.events: list[dict] = []
        self.accepted: list[str] = []  # sequence numbers the function finished, in order
        self.lock = threading.Lock()

    def __call__(self, event: dict) -> dict | None:
        with self.lock:
            self.events.append(event)
            records = event["Records"]
            if any(r["dynamodb"]["Keys"]["PK"]["S"] in self.poison for r in records):
                raise RuntimeError("poison record")
            if self.response is not None:
                response, self.response = self.response, None
                return response
            for record in records:
                sequence_number = record["dynamodb"]["SequenceNumber"]
                if record["dynamodb"]["Keys"]["PK"]["S"] in self.failing and self.times != 0:
                    self.times = None if self.times is None else self.times - 1
                    return {"batchItemFailures": [{"itemIdentifier": sequence_number}]}
                self.accepted.append(sequence_number)
            return {"batchItemFailures": []}

    def batches(self) -> list[list[str]]:
        """Each invocation's record keys."""
        return [[r["dynamodb"]["Keys"]["PK"]["S"] for r in e["Records"]] for e in self.events]


def drain(poller: StreamPoller, max_polls: int = 50) -> list[int]:
    """poll_once until the stream is caught up; returns each poll's count."""
    counts = []
    for _ in range(max_polls):
        counts.append(poller.poll_once())
        if not counts[-1]:
            return counts
    raise AssertionError(f"not caught up after {max_polls} polls: {counts}")


def wait_for(condition, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def stream():
    with mock_aws():
        session = boto3.session.Session(
            region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        yield Stream(session)


def test_every_record_is_delivered_once_in_order(stream):
    for i in range(5):
        stream.put(f"item#{i}")
    stream.put("item#1", text={"S": "edited"})
    stream.delete("item#2")
    function = FakePublish()
    poller = stream.poller(function, batch_size=3)

    assert drain(poller) == [3, 3, 1, 0]
    assert function.accepted == stream.sequence_numbers()
    assert [len(e["Records"]) for e in function.events] == [3, 3, 1]

    new = stream.put("item#9")
    assert poller.poll_once() == 1
    assert function.accepted[-1] == new
    assert len(function.accepted) == len(set(function.accepted)) == 8


def test_records_have_lambdas_dynamodb_event_format(stream):
    inserted = stream.put("item#0", text={"S": "hi"}, blob={"B": b"\x00\xff"})
    modified = stream.put("item#0", text={"S": "edited"})
    function = FakePublish()
    stream.poller(function).poll_once()

    insert, modify = function.events[0]["Records"]
    json.dumps(function.events[0])  # Lambda's event is JSON
    assert insert["eventName"] == "INSERT"
    assert insert["eventSource"] == "aws:dynamodb"
    assert insert["eventSourceARN"] == stream.arn
    assert insert["awsRegion"] == REGION
    assert insert["eventID"] and insert["eventVersion"]
    data = insert["dynamodb"]
    assert data["SequenceNumber"] == inserted
    assert data["Keys"] == {"PK": {"S": "item#0"}, "SK": {"S": "MESSAGE"}}
    assert data["NewImage"]["blob"] == {"B": "AP8="}  # base64, as Lambda sends binaries
    assert "OldImage" not in data
    assert data["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert data["SizeBytes"] > 0
    created = data["ApproximateCreationDateTime"]
    assert isinstance(created, int)
    assert abs(created - datetime.now(UTC).timestamp()) < 60

    assert modify["eventName"] == "MODIFY"
    assert modify["dynamodb"]["SequenceNumber"] == modified
    # Powertools' data classes read the event as the publish function will.
    record = list(DynamoDBStreamEvent(function.events[0]).records)[1]
    assert record.dynamodb.old_image["text"] == "hi"
    assert record.dynamodb.new_image["text"] == "edited"


def test_records_matching_no_filter_are_skipped(stream):
    """The template's filters: MESSAGE/CHAT/CALL/STATE changes, and PARKED inserts only."""
    message = stream.put("a", "MESSAGE")
    chat = stream.put("a", "CHAT")
    stream.put("a", "WEBHOOK#1")
    parked = stream.put("b", "PARKED", reason={"S": "first"})
    stream.put("b", "PARKED", reason={"S": "again"})  # MODIFY: filtered out
    message_edit = stream.put("a", "MESSAGE", text={"S": "edited"})
    function = FakePublish()
    poller = stream.poller(function, filters=stream.filters, batch_size=2)

    assert drain(poller) == [2, 2, 0]
    assert function.accepted == [message, chat, parked, message_edit]

    skipped = stream.put("c", "WEBHOOK#2")
    assert poller.poll_once() == 0
    assert poller.checkpoints[stream.shard_id] == skipped
    assert len(function.events) == 2


def test_batch_item_failure_retries_from_that_record(stream):
    for i in range(6):
        stream.put(f"item#{i}")
    function = FakePublish(failing={"item#2"}, times=1)

    assert drain(stream.poller(function)) == [6, 0]
    assert function.batches() == [
        [f"item#{i}" for i in range(6)],
        [f"item#{i}" for i in range(2, 6)],
    ]
    assert function.accepted == stream.sequence_numbers()


def test_unknown_item_identifier_fails_the_whole_batch(stream):
    for i in range(3):
        stream.put(f"item#{i}")
    function = FakePublish(response={"batchItemFailures": [{"itemIdentifier": "42"}]})

    assert drain(stream.poller(function)) == [3, 0]
    assert function.batches() == [["item#0", "item#1", "item#2"]] * 2
    assert function.accepted == stream.sequence_numbers()


def test_function_error_bisects_down_to_the_bad_record(stream):
    sequence_numbers = [stream.put(f"item#{i}") for i in range(8)]
    function, failures = FakePublish(poison={"item#5"}), []
    poller = stream.poller(function, max_retry_attempts=2, on_failure=failures.append)

    assert drain(poller) == [8, 0]
    # Splitting costs no retry; the bad record alone is tried once and retried twice.
    assert [len(b) for b in function.batches()] == [8, 4, 4, 2, 1, 1, 1, 1, 2]
    assert function.batches().count(["item#5"]) == 3
    assert function.accepted == sequence_numbers[:5] + sequence_numbers[6:]
    (failure,) = failures
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert failure["version"] == "1.0"
    assert failure["timestamp"].endswith("Z")
    info = failure["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == sequence_numbers[5]
    assert info["batchSize"] == 1
    assert info["shardId"] == stream.shard_id
    assert info["streamArn"] == stream.arn
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")


def test_without_bisection_the_whole_batch_is_retried_then_discarded(stream):
    sequence_numbers = [stream.put(f"item#{i}") for i in range(3)]
    function, failures = FakePublish(poison={"item#1"}), []
    poller = stream.poller(
        function, bisect_on_error=False, max_retry_attempts=1, on_failure=failures.append
    )

    assert drain(poller) == [3, 0]
    assert function.batches() == [["item#0", "item#1", "item#2"]] * 2
    info = failures[0]["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (
        sequence_numbers[0],
        sequence_numbers[2],
    )
    assert info["batchSize"] == 3
    assert failures[0]["requestContext"]["approximateInvokeCount"] == 2

    after = stream.put("item#3")  # the stream goes on
    assert poller.poll_once() == 1
    assert function.accepted == [after]


def test_reported_failure_exhausting_retries_discards_from_that_record(stream):
    sequence_numbers = [stream.put(f"item#{i}") for i in range(3)]
    function, failures = FakePublish(failing={"item#1"}), []
    poller = stream.poller(function, max_retry_attempts=1, on_failure=failures.append)

    assert drain(poller) == [3, 0]
    assert function.batches() == [["item#0", "item#1", "item#2"], ["item#1", "item#2"]]
    assert function.accepted == sequence_numbers[:1]
    (failure,) = failures
    info = failure["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        sequence_numbers[1],
        sequence_numbers[2],
        2,
    )
    assert "functionError" not in failure["responseContext"]


def test_sqs_on_failure_sends_the_invocation_record_as_json(stream):
    bad = stream.put("item#0")
    on_failure = sqs_on_failure(stream.sqs, stream.failed_queue_url)
    poller = stream.poller(
        FakePublish(poison={"item#0"}), max_retry_attempts=0, on_failure=on_failure
    )

    assert poller.poll_once() == 1
    (message,) = stream.sqs.receive_message(QueueUrl=stream.failed_queue_url)["Messages"]
    record = json.loads(message["Body"])
    assert record["DDBStreamBatchInfo"]["startSequenceNumber"] == bad
    assert record["requestContext"]["approximateInvokeCount"] == 1


def test_thread_delivers_new_records_and_stop_cuts_a_retry_wait_short(stream):
    function = FakePublish(poison={"item#1"})
    poller = stream.poller(function, retry_delay=60, max_retry_attempts=-1)
    poller.start()
    try:
        good = stream.put("item#0")
        wait_for(lambda: function.accepted == [good])
        stream.put("item#1")
        wait_for(lambda: ["item#1"] in function.batches())
    finally:
        started = time.monotonic()
        poller.stop(timeout=5)
    assert time.monotonic() - started < 2
    # The failing record is neither skipped nor retried once stopped.
    assert poller.checkpoints[stream.shard_id] == good
    assert function.batches().count(["item#1"]) == 1

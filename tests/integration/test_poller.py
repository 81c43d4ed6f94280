"""The local poller gives the process function Lambda's SQS event-source semantics.

Queue and DLQ come from template.yaml (FIFO, redrive after 5 receives) in moto; the function
is a fake that fails on purpose. Assertions read the queues themselves.
"""

from __future__ import annotations

import time
import uuid

import boto3
import pytest
from moto import mock_aws

from greenhook_dev.poller import QueuePoller
from greenhook_dev.template_resources import create_stack

REGION = "eu-central-1"


class Queues:
    def __init__(self, session, stack) -> None:
        self.sqs = session.client("sqs")
        self.url = stack.refs["WebhookQueue"]
        self.arn = stack.attributes["WebhookQueue"]["Arn"]
        self.dlq_url = stack.refs["WebhookDLQ"]
        self.max_receive_count = stack.resolve(
            stack.template["Resources"]["WebhookQueue"]["Properties"]["RedrivePolicy"]
        )["maxReceiveCount"]

    def send(self, body: str, group: str = "g1") -> str:
        return self.sqs.send_message(
            QueueUrl=self.url,
            MessageBody=body,
            MessageGroupId=group,
            MessageDeduplicationId=uuid.uuid4().hex,
            MessageAttributes={
                "received_at": {"DataType": "String", "StringValue": "2026-01-01T00:00:00Z"},
                "source_ip": {"DataType": "String", "StringValue": "127.0.0.1"},
            },
        )["MessageId"]

    def counts(self, url: str | None = None) -> tuple[int, int]:
        """(visible, in flight) messages on the queue."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url or self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    def dlq_bodies(self) -> list[str]:
        messages = self.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
        return [m["Body"] for m in messages]

    def poller(self, invoke, retry_delay: int = 0) -> QueuePoller:
        return QueuePoller(
            self.sqs,
            invoke,
            queue_url=self.url,
            queue_arn=self.arn,
            region=REGION,
            retry_delay=retry_delay,
        )


class FakeProcess:
    """Fails the records whose body is in `failing` (each time, or only `times` times)."""

    def __init__(self, failing: set[str] = frozenset(), times: int | None = None, raises=False):
        self.failing = set(failing)
        self.times = times
        self.raises = raises
        self.events: list[dict] = []
        self.failures_reported = 0

    def seen(self, body: str) -> int:
        return sum(r["body"] == body for e in self.events for r in e["Records"])

    def __call__(self, event: dict) -> dict:
        self.events.append(event)
        if self.raises:
            raise RuntimeError("function error")
        failed = []
        for record in event["Records"]:
            if record["body"] in self.failing and (
                self.times is None or self.failures_reported < self.times
            ):
                self.failures_reported += 1
                failed.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failed}


@pytest.fixture
def queues():
    with mock_aws():
        session = boto3.session.Session(
            region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        yield Queues(session, create_stack(session))


def test_record_has_lambdas_sqs_event_format(queues):
    message_id = queues.send('{"a":1}', group="1101000001")
    function = FakeProcess()
    assert queues.poller(function).poll_once() == 1
    (record,) = function.events[0]["Records"]
    assert record["messageId"] == message_id
    assert record["body"] == '{"a":1}'
    assert record["receiptHandle"]
    assert record["md5OfBody"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queues.arn
    assert record["awsRegion"] == REGION
    assert record["messageAttributes"]["received_at"] == {
        "stringValue": "2026-01-01T00:00:00Z",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    attributes = record["attributes"]
    assert attributes["MessageGroupId"] == "1101000001"
    assert attributes["ApproximateReceiveCount"] == "1"
    for name in ("SentTimestamp", "MessageDeduplicationId", "SequenceNumber"):
        assert attributes[name]
    assert "ApproximateFirstReceiveTimestamp" in attributes


def test_failed_record_comes_back_and_good_ones_are_deleted(queues):
    for body in ("good-1", "bad", "good-2"):
        queues.send(body, group=body)  # separate chats: no FIFO holdback between them
    function = FakeProcess(failing={"bad"}, times=1)
    poller = queues.poller(function, retry_delay=1)

    assert poller.poll_once() == 3
    assert queues.counts() == (0, 1)  # only "bad" is left, invisible for retry_delay

    time.sleep(1.2)
    assert poller.poll_once() == 1
    assert [r["body"] for r in function.events[1]["Records"]] == ["bad"]
    assert function.events[1]["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert queues.counts() == (0, 0)
    assert queues.dlq_bodies() == []


def test_record_that_always_fails_lands_in_the_dlq(queues):
    queues.send("poison")
    function = FakeProcess(failing={"poison"})
    poller = queues.poller(function, retry_delay=0)
    for _ in range(queues.max_receive_count + 2):
        poller.poll_once()
        time.sleep(0.01)
    # Received maxReceiveCount (5) times, then moved by the queue's redrive policy.
    assert function.seen("poison") == queues.max_receive_count == 5
    assert queues.counts() == (0, 0)
    assert queues.dlq_bodies() == ["poison"]


def test_function_error_fails_the_whole_batch(queues):
    queues.send("one", group="a")
    queues.send("two", group="b")
    poller = queues.poller(FakeProcess(raises=True), retry_delay=30)
    assert poller.poll_once() == 2
    assert queues.counts() == (0, 2)


def test_unknown_item_identifier_fails_the_whole_batch(queues):
    queues.send("one", group="a")
    queues.send("two", group="b")
    poller = queues.poller(
        lambda event: {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}, retry_delay=30
    )
    assert poller.poll_once() == 2
    assert queues.counts() == (0, 2)


@pytest.mark.parametrize("result", [None, {}, {"batchItemFailures": []}])
def test_empty_response_means_success(queues, result):
    queues.send("one")
    assert queues.poller(lambda event: result).poll_once() == 1
    assert queues.counts() == (0, 0)


def test_thread_processes_and_stops(queues):
    function = FakeProcess()
    poller = queues.poller(function)
    poller.start()
    try:
        queues.send("async")
        deadline = time.monotonic() + 10
        while not function.seen("async") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        started = time.monotonic()
        poller.stop()
        stopped_in = time.monotonic() - started
    assert function.seen("async") == 1
    assert stopped_in < 2
    assert queues.counts() == (0, 0)

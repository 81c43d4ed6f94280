"""moto_move_task: SQS's message move task as AWS documents it, so `greenhook redrive` makes
the same calls locally as against AWS."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from greenhook_dev import moto_move_task


@pytest.fixture
def sqs():
    moto_move_task.install()
    with mock_aws():
        yield boto3.client("sqs", region_name="eu-central-1")


def arn(sqs, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


def queues(sqs, fifo: bool = True) -> tuple[str, str]:
    suffix = ".fifo" if fifo else ""
    extra = {"FifoQueue": "true"} if fifo else {}
    dlq = sqs.create_queue(QueueName=f"dlq{suffix}", Attributes=extra)["QueueUrl"]
    policy = json.dumps({"deadLetterTargetArn": arn(sqs, dlq), "maxReceiveCount": 1})
    source = sqs.create_queue(
        QueueName=f"q{suffix}", Attributes={**extra, "RedrivePolicy": policy}
    )["QueueUrl"]
    return source, dlq


def put(sqs, url: str, count: int) -> list[str]:
    """`count` messages over two groups, each with an attribute; their message ids."""
    ids = []
    for n in range(count):
        ids.append(
            sqs.send_message(
                QueueUrl=url,
                MessageBody=f"m{n}",
                MessageGroupId=f"g{n % 2}",
                MessageDeduplicationId=f"d{n}",
                MessageAttributes={"n": {"DataType": "String", "StringValue": str(n)}},
            )["MessageId"]
        )
    return ids


def until_ended(sqs, source_arn: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (task,) = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=1)["Results"]
        if task["Status"] in ("COMPLETED", "CANCELLED", "FAILED"):
            return task
        time.sleep(0.05)
    raise AssertionError("the move task did not end")


def drain(sqs, url: str) -> list[dict]:
    out = []
    while batch := sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages"):
        out += batch
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return out


def test_a_task_moves_every_message_back_to_its_source_in_order(sqs):
    source, dlq = queues(sqs)
    ids = put(sqs, dlq, 6)

    handle = sqs.start_message_move_task(SourceArn=arn(sqs, dlq))["TaskHandle"]
    task = until_ended(sqs, arn(sqs, dlq))

    assert task["Status"] == "COMPLETED"
    assert "TaskHandle" not in task  # SQS shows it only while the task runs
    assert handle
    assert task["ApproximateNumberOfMessagesMoved"] == 6
    assert task["ApproximateNumberOfMessagesToMove"] == 6
    assert task["DestinationArn"] == arn(sqs, source)
    assert drain(sqs, dlq) == []
    moved = drain(sqs, source)
    by_group: dict[str, list[int]] = {}
    for message in moved:
        n = int(message["MessageAttributes"]["n"]["StringValue"])
        assert message["Body"] == f"m{n}"
        assert message["Attributes"]["MessageGroupId"] == f"g{n % 2}"
        # the original message id as deduplication id: the window cannot swallow it
        assert message["Attributes"]["MessageDeduplicationId"] == ids[n]
        by_group.setdefault(message["Attributes"]["MessageGroupId"], []).append(n)
    assert by_group == {"g0": [0, 2, 4], "g1": [1, 3, 5]}


def test_a_destination_can_be_named_and_must_be_of_the_same_kind(sqs):
    _, dlq = queues(sqs)
    other = sqs.create_queue(QueueName="other.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    standard = sqs.create_queue(QueueName="standard")["QueueUrl"]
    put(sqs, dlq, 2)

    with pytest.raises(ClientError) as refused:
        sqs.start_message_move_task(SourceArn=arn(sqs, dlq), DestinationArn=arn(sqs, standard))
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"

    sqs.start_message_move_task(SourceArn=arn(sqs, dlq), DestinationArn=arn(sqs, other))
    assert until_ended(sqs, arn(sqs, dlq))["Status"] == "COMPLETED"
    assert sorted(m["Body"] for m in drain(sqs, other)) == ["m0", "m1"]


def test_only_a_dead_letter_queue_can_be_a_source(sqs):
    source, _ = queues(sqs)
    with pytest.raises(ClientError) as refused:
        sqs.start_message_move_task(SourceArn=arn(sqs, source))
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError):
        sqs.start_message_move_task(SourceArn="arn:aws:sqs:eu-central-1:123456789012:nope")


def test_one_running_task_per_queue_and_a_cancelled_one_leaves_the_rest(sqs):
    source, dlq = queues(sqs)
    put(sqs, dlq, 6)
    handle = sqs.start_message_move_task(SourceArn=arn(sqs, dlq), MaxNumberOfMessagesPerSecond=2)[
        "TaskHandle"
    ]
    (running,) = sqs.list_message_move_tasks(SourceArn=arn(sqs, dlq))["Results"]
    assert running["Status"] == "RUNNING"
    assert running["TaskHandle"] == handle
    with pytest.raises(ClientError) as refused:
        sqs.start_message_move_task(SourceArn=arn(sqs, dlq))
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"

    sqs.cancel_message_move_task(TaskHandle=handle)
    task = until_ended(sqs, arn(sqs, dlq))
    assert task["Status"] == "CANCELLED"
    moved = len(drain(sqs, source))
    assert moved == task["ApproximateNumberOfMessagesMoved"] < 6
    left = drain(sqs, dlq)  # visible again at once, not after the task's visibility timeout
    assert moved + len(left) == 6

"""A transient failure holds back only its own chat; what outlasts the retries waits in the DLQ,
and the redrive (SQS's move task; moto_move_task locally) brings each chat back in order,
every webhook stored once.

Storage is made unavailable at botocore's transport (greenhook_dev.faults), so greenhook's
own retry and classification run exactly as they would against AWS.
"""

from __future__ import annotations

import json

from greenhook.archive import ArchiveReader
from greenhook.queue import sha256_hex
from greenhook_dev import faults
from greenhook_dev.dead_letters import follow, queue_arn, start_redrive
from greenhook_dev.lambda_runtime import cold_start
from greenhook_dev.webhooks import Instance

INSTANCE = Instance(id_instance=4401)
ALICE, BOB = "79000000001@c.us", "79000000002@c.us"


def conversation() -> list[dict]:
    """Two chats, each with an order that matters if it were applied out of order."""
    i = INSTANCE
    return [
        i.text("A1", ALICE, 100, "hello"),
        i.text("B1", BOB, 101, "hi", direction="api"),
        i.status("B1", BOB, 102, "sent"),
        i.text("A2", ALICE, 103, "second", direction="api"),
        i.status("B1", BOB, 104, "delivered"),
        i.status("A2", ALICE, 105, "sent"),
        i.edit("A3", "A1", ALICE, 106, "hello, edited"),
        i.status("A2", ALICE, 107, "read"),
        i.status("B1", BOB, 108, "read"),
    ]


def views(storage) -> dict:
    messages = {
        chat: [storage.get_message(INSTANCE.id_instance, m["id_message"]) for m in listed]
        for chat in (ALICE, BOB)
        if (listed := storage.list_messages(INSTANCE.id_instance, chat))
    }
    return {"chats": storage.list_chats(INSTANCE.id_instance), "messages": messages}


def dlq_messages(pipeline) -> list[dict]:
    return pipeline.sqs.receive_message(
        QueueUrl=pipeline.stack.refs["WebhookDLQ"],
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
        MessageSystemAttributeNames=["All"],
    ).get("Messages", [])


def move_messages(sqs, dlq_url: str, queue_url: str) -> int:
    """`greenhook redrive`'s calls: start the move task, follow it to its end."""
    handle = start_redrive(sqs, dlq_url, queue_url)
    state = follow(sqs, queue_arn(sqs, dlq_url), handle, lambda _: None, interval=0.05)
    assert state["Status"] == "COMPLETED"
    return state["ApproximateNumberOfMessagesMoved"]


def test_storage_down_past_the_retries_then_redrive_restores_every_chat(pipeline):
    bodies = [json.dumps(w).encode() for w in conversation()]
    for body in bodies:
        assert pipeline.post(body)[0] == 200

    outage = faults.FaultInjector("dynamodb", faults.SERVICE_UNAVAILABLE).install()
    try:
        cold_start()  # the process function's clients are made again, with the fault in them
        poller = pipeline.poller()
        for _ in range(12):  # more receives than maxReceiveCount (5)
            poller.poll_once()
    finally:
        outage.uninstall()
    assert outage.injected > 0
    assert pipeline.queued() == []
    parked = pipeline.storage.list_parked()
    assert parked == []  # an outage is transient: nothing parked for it
    in_dlq = dlq_messages(pipeline)
    assert sorted(m["Body"].encode() for m in in_dlq) == sorted(bodies)
    # Each chat's records wait in the DLQ in their original order.
    for group in {m["Attributes"]["MessageGroupId"] for m in in_dlq}:
        order = [
            bodies.index(m["Body"].encode())
            for m in in_dlq
            if m["Attributes"]["MessageGroupId"] == group
        ]
        assert order == sorted(order)

    cold_start()
    moved = move_messages(pipeline.sqs, pipeline.stack.refs["WebhookDLQ"], pipeline.queue_url)
    assert moved == len(bodies)  # nothing swallowed by SQS's deduplication window
    pipeline.drain()

    assert dlq_messages(pipeline) == []
    assert pipeline.queued() == []
    for body in bodies:
        assert (
            ArchiveReader(pipeline.storage.payloads).get(sha256_hex(body))["body"].encode() == body
        )
    recovered = views(pipeline.storage)
    assert [m["status"] for m in recovered["messages"][BOB]] == ["read"]
    assert [(m["id_message"], m["text"], m["status"]) for m in recovered["messages"][ALICE]] == [
        ("A1", "hello, edited", None),
        ("A2", "second", "read"),
    ]
    assert pipeline.storage.list_parked() == []


def test_a_redrive_of_webhooks_already_stored_changes_nothing(pipeline):
    """A redrive can bring back what was stored after all (a record whose answer was lost):
    the second handling of each webhook leaves every view as it was."""
    bodies = [json.dumps(w).encode() for w in conversation()]
    for body in bodies:
        pipeline.post(body)
    pipeline.drain()
    clean = views(pipeline.storage)
    assert clean["messages"][ALICE][1]["status"] == "read"

    dlq = pipeline.stack.refs["WebhookDLQ"]
    for n, body in enumerate(bodies):
        pipeline.sqs.send_message(
            QueueUrl=dlq,
            MessageBody=body.decode(),
            MessageGroupId="4401",
            MessageDeduplicationId=f"copy-{n}",
        )
    assert move_messages(pipeline.sqs, dlq, pipeline.queue_url) == len(bodies)
    assert pipeline.drain() == len(bodies)
    assert views(pipeline.storage) == clean
    assert pipeline.storage.list_parked() == []

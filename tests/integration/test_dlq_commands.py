"""`greenhook dlq` and `greenhook redrive`: a webhook that outlasted its retries is listed
with what an operator needs, and once the cause is fixed, SQS's move task brings it back
and it is stored exactly once.

The poison is an outage of DynamoDB at botocore's transport (greenhook_dev.faults), so the
records fail as they would on AWS and SQS's redrive policy moves them to the DLQ.
"""

from __future__ import annotations

import json

from greenhook_dev import faults
from greenhook_dev.cli import main
from greenhook_dev.dead_letters import waiting
from greenhook_dev.lambda_runtime import cold_start
from greenhook_dev.webhooks import Instance

INSTANCE = Instance(id_instance=4402)
ALICE, BOB = "79000000011@c.us", "79000000012@c.us"


def poison(pipeline, webhooks: list[dict]) -> None:
    """Accept the webhooks, then fail every try of them until SQS gives them to the DLQ."""
    for webhook in webhooks:
        assert pipeline.post(json.dumps(webhook))[0] == 200
    outage = faults.FaultInjector("dynamodb", faults.SERVICE_UNAVAILABLE).install()
    try:
        cold_start()
        poller = pipeline.poller()
        for _ in range(12):  # more receives than maxReceiveCount (5)
            poller.poll_once()
    finally:
        outage.uninstall()
    cold_start()
    assert outage.injected > 0
    assert pipeline.queued() == []


def test_dead_letters_are_listed_then_redriven_and_stored_once(pipeline, greenhook):
    webhooks = [
        INSTANCE.text("D1", ALICE, 100, "first"),
        INSTANCE.text("D2", BOB, 101, "to bob", direction="api"),
        INSTANCE.status("D2", BOB, 102, "delivered"),
    ]
    poison(pipeline, webhooks)
    dlq = pipeline.stack.refs["WebhookDLQ"]
    assert waiting(pipeline.sqs, dlq) == 3

    listed = greenhook("dlq", "--json")
    assert listed.code == 0
    document = listed.json()
    assert document["total"] == 3
    entries = document["dead_letters"]
    assert sorted((e["type_webhook"], e["chat_id"]) for e in entries) == sorted(
        (w["typeWebhook"], w["senderData"]["chatId"] if "senderData" in w else w["chatId"])
        for w in webhooks
    )
    for entry in entries:
        assert entry["id_instance"] == INSTANCE.id_instance
        assert entry["receive_count"] >= 5  # it outlasted the queue's retries
        assert 0 <= entry["age_seconds"] < 600
        assert entry["size"] > 0
    assert waiting(pipeline.sqs, dlq) == 3  # looking took nothing away

    text = greenhook("dlq")
    assert text.out.startswith("3 webhooks in the DLQ, the oldest 3:")
    assert ALICE in text.out and BOB in text.out
    assert "greenhook redrive" in text.out

    redriven = greenhook("redrive", "--json")
    assert redriven.code == 0, redriven.err
    task = redriven.json()
    assert task["Status"] == "COMPLETED"
    assert task["ApproximateNumberOfMessagesMoved"] == 3
    assert "redrive completed: moved 3 of 3" in redriven.err  # the progress line
    assert pipeline.drain() == 3

    assert greenhook("dlq").out.strip() == "the DLQ is empty"
    storage = pipeline.storage
    alice = storage.list_messages(INSTANCE.id_instance, ALICE)
    bob = storage.list_messages(INSTANCE.id_instance, BOB)
    assert [m["id_message"] for m in alice] == ["D1"]
    assert [(m["id_message"], m["status"]) for m in bob] == [("D2", "delivered")]
    assert storage.list_parked() == []

    again = greenhook("redrive")
    assert (again.code, again.out.strip()) == (0, "the DLQ is empty: nothing to move")


def test_without_a_dlq_in_the_stack_file_the_commands_say_so(
    pipeline, tmp_path, capsys, stack_file_writer
):
    stack_file = stack_file_writer(pipeline, tmp_path / "stack.json", queues=False)
    assert main(["dlq", "--stack-file", str(stack_file)]) == 2
    assert "names no dlq_url" in capsys.readouterr().err

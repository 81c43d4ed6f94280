"""`greenhook backfill` on the local stack: what GREEN-API gave up delivering during an outage
is read back from its journals and stored exactly once, and the same webhooks arriving later
change nothing and publish nothing.

The outage is greenhook's own: SQS fails at botocore's transport (greenhook_dev.faults), so
ingest answers 503 to every delivery, the fake GREEN-API retries, then gives up (its
`give_up_after`, 24 h on GREEN-API, is cut to seconds). Nothing in greenhook is patched.
"""

from __future__ import annotations

import json
import time

import pytest

from greenhook.storage import Storage
from greenhook_dev import faults
from greenhook_dev.cli import main
from greenhook_dev.lambda_runtime import cold_start
from greenhook_dev.local_stack import LOCAL_INSTANCE, start_local_stack
from greenhook_dev.webhooks import Instance

INSTANCE = Instance(id_instance=LOCAL_INSTANCE)
ALICE, BOB = "79000000021@c.us", "79000000022@c.us"


def wait_until(condition, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            return result
        time.sleep(interval)
    return result


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    cold_start()
    running = start_local_stack(port=0, state_dir=tmp_path_factory.mktemp("backfill"))
    fake = running.green_api
    fake.retry_interval = 0.2
    try:
        yield running
    finally:
        running.stop()
        cold_start()


@pytest.fixture
def greenhook(stack, capsys):
    def run(*argv: str):
        capsys.readouterr()
        code = main([*argv, "--stack-file", str(stack.stack_file)])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def storage(stack) -> Storage:
    return Storage(stack.info["table_name"])


def events_about(stack, *ids: str) -> list[tuple[str, str]]:
    """(detail-type, id_message) of every event published so far about these messages."""
    found = []
    for event in stack.event_sink.snapshot():
        detail = event["detail"]
        if detail.get("id_message") in ids:
            found.append((event["detail-type"], detail["id_message"]))
    return sorted(found)


def settle(stack) -> None:
    """Until the queue is empty and the stream published what the table changed."""
    sqs = stack.poller.sqs
    url = stack.info["queue_url"]

    def idle() -> bool:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return all(v == "0" for v in attributes.values())

    assert wait_until(idle, 30)
    time.sleep(1.5)  # the stream poller and the event sink poll about every 0.1-1 s


def outage_webhooks(base: int) -> list[dict]:
    i = INSTANCE
    return [
        i.text("BF-IN1", ALICE, base, "Is the order ready?"),
        i.text("BF-API1", ALICE, base + 1, "Yes, come by at 5.", direction="api"),
        i.status("BF-API1", ALICE, base + 2, "sent"),
        i.status("BF-API1", ALICE, base + 3, "delivered"),
        i.text("BF-OUT1", BOB, base + 4, "typed on the phone", direction="outgoing"),
        i.image("BF-IMG1", BOB, base + 5, caption="the receipt"),
        i.reaction("BF-R1", "BF-IN1", ALICE, base + 6, "👍"),
    ]


def test_an_outage_longer_than_the_retry_window_is_recovered_exactly_once(stack, greenhook):
    fake = stack.green_api
    webhooks = outage_webhooks(int(time.time()) - 60)
    ids = ("BF-IN1", "BF-API1", "BF-OUT1", "BF-IMG1")
    given_up_before = len(fake.given_up)
    outage = faults.FaultInjector("sqs", faults.SERVICE_UNAVAILABLE).install()
    fake.give_up_after = 2.0
    try:
        cold_start()  # ingest makes its clients anew, through the outage
        for webhook in webhooks:
            fake.send(LOCAL_INSTANCE, webhook)
        assert wait_until(lambda: len(fake.given_up) == given_up_before + len(webhooks), 30)
    finally:
        fake.give_up_after = 24 * 3600.0
        outage.uninstall()
        cold_start()
    assert outage.injected > 0  # ingest really met the outage
    rejected = [d for d in fake.deliveries if d["status"] == 503]
    assert rejected, "ingest answered 503 while SQS was down"
    settle(stack)
    assert storage(stack).message_items(LOCAL_INSTANCE, list(ids)) == {}  # all were lost

    code, out, err = greenhook("backfill", "--minutes", "10", "--json")
    assert code == 0, err
    outcome = json.loads(out)
    assert sorted(m["id_message"] for m in outcome["added"]) == sorted(ids)
    assert [m["id_message"] for m in outcome["references"]] == ["BF-R1"]  # to BF-IN1
    assert [(s["id_message"], s["from"], s["to"]) for s in outcome["statuses"]] == [
        ("BF-API1", None, "delivered")
    ]
    assert outcome["parked"] == []
    assert outcome["entries"] == 5
    assert "checked 5 journal entries" in err  # progress, on stderr

    store = storage(stack)
    incoming = store.get_message(LOCAL_INSTANCE, "BF-IN1")
    assert (incoming["source"], incoming["text"], incoming["direction"]) == (
        "journal",
        "Is the order ready?",
        "incoming",
    )
    assert [(r["emoji"], r["id_message"]) for r in incoming["reactions"]] == [("👍", "BF-R1")]
    sent = store.get_message(LOCAL_INSTANCE, "BF-API1")
    assert (sent["type_webhook"], sent["status"]) == ("outgoingAPIMessageReceived", "delivered")
    image = store.get_message(LOCAL_INSTANCE, "BF-IMG1")
    assert image["type_message"] == "imageMessage" and image["text"] == "the receipt"
    # An outgoing entry's time is that of its last action (here `delivered`), not its sending.
    assert sent["timestamp"] == webhooks[3]["timestamp"]
    assert [m["id_message"] for m in store.list_messages(LOCAL_INSTANCE, ALICE)] == [
        "BF-IN1",
        "BF-API1",
    ]
    settle(stack)
    published = events_about(stack, *ids)
    assert published == sorted(
        [
            ("Message Received", "BF-IN1"),
            ("Reaction Changed", "BF-IN1"),
            ("Message Sent", "BF-API1"),
            ("Message Status Changed", "BF-API1"),
            ("Message Sent", "BF-OUT1"),
            ("Message Received", "BF-IMG1"),
        ]
    )
    journal_views = {i: store.get_message(LOCAL_INSTANCE, i) for i in ids}

    # The same webhooks after all (a late re-send, a replay): they change nothing, except
    # that the `sent` status, which the journal did not know, joins the status history.
    delivered = fake.delivered(LOCAL_INSTANCE)
    for webhook in webhooks:
        fake.send(LOCAL_INSTANCE, webhook)
    assert fake.wait_delivered(delivered + len(webhooks), 30, LOCAL_INSTANCE)
    settle(stack)
    after = {i: store.get_message(LOCAL_INSTANCE, i) for i in ids}
    assert after["BF-API1"].pop("status_times") == {
        "sent": webhooks[2]["timestamp"],
        **journal_views["BF-API1"].pop("status_times"),
    }
    assert after == journal_views
    assert events_about(stack, *ids) == published  # nothing published twice

    # A second backfill of the same window finds everything stored.
    stored = {i: store.get_message(LOCAL_INSTANCE, i) for i in ids}
    code, out, _ = greenhook("backfill", "--minutes", "10")
    assert code == 0
    assert "greenhook had 4" in out and "nothing to add" in out
    assert {i: store.get_message(LOCAL_INSTANCE, i) for i in ids} == stored


def test_a_webhook_stored_first_is_not_replaced_by_its_journal_entry(stack, greenhook):
    fake = stack.green_api
    base = int(time.time()) - 30
    webhooks = [
        INSTANCE.text("BF-IN2", BOB, base, "delivered the normal way"),
        INSTANCE.text("BF-API2", BOB, base + 1, "and answered", direction="api"),
        INSTANCE.status("BF-API2", BOB, base + 2, "read"),
    ]
    delivered = fake.delivered(LOCAL_INSTANCE)
    for webhook in webhooks:
        fake.send(LOCAL_INSTANCE, webhook)
    assert fake.wait_delivered(delivered + len(webhooks), 30, LOCAL_INSTANCE)
    settle(stack)
    store = storage(stack)
    before = {i: store.get_message(LOCAL_INSTANCE, i) for i in ("BF-IN2", "BF-API2")}
    assert before["BF-IN2"]["source"] == "webhook"
    published = events_about(stack, "BF-IN2", "BF-API2")

    code, out, _ = greenhook("backfill", "--minutes", "5", "--json")
    assert code == 0
    outcome = json.loads(out)
    assert [m["id_message"] for m in outcome["added"]] == []
    assert outcome["statuses"] == []  # read is as far as the journal's status goes
    settle(stack)
    assert {i: store.get_message(LOCAL_INSTANCE, i) for i in ("BF-IN2", "BF-API2")} == before
    assert events_about(stack, "BF-IN2", "BF-API2") == published


def test_a_window_out_of_range_is_refused_with_a_clear_line(greenhook):
    code, _, err = greenhook("backfill", "--minutes", "0")
    assert code == 2
    assert err.strip() == "greenhook backfill: --minutes must be from 1 to 1440"

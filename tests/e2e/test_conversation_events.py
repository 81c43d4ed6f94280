"""Business events of a scripted conversation, over HTTP through the local stack, read back
with `greenhook events` as a subscriber of the bus would see them.

Messages both ways, statuses (one late, one repeated), an edit, a reaction, a deletion, a
call and a logout. Webhooks of different chats and of the instance are processed in their
own FIFO groups, so the comparison is per item, in `version` order (what a subscriber
orders by); the whole script sent a second time publishes nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import defaultdict

import pytest
import requests

from greenhook_dev import event_schemas
from greenhook_dev.webhooks import Instance

pytestmark = pytest.mark.e2e

BOB = "79022222222@c.us"
INSTANCE = Instance(id_instance=7103220993)
BASE = int(time.time()) - 900


def state(value: str, timestamp: int) -> dict:
    return {
        "typeWebhook": "stateInstanceChanged",
        "instanceData": {
            "idInstance": INSTANCE.id_instance,
            "wid": INSTANCE.wid,
            "typeInstance": "whatsapp",
        },
        "timestamp": timestamp,
        "stateInstance": value,
    }


def script() -> list[dict]:
    i, t = INSTANCE, BASE
    return [
        state("authorized", t),
        i.text("EV-IN1", BOB, t + 1, "Do you deliver on Sundays?"),
        i.text("EV-API1", BOB, t + 2, "Yes, 10 to 16.", direction="api"),
        i.status("EV-API1", BOB, t + 3, "sent"),
        i.status("EV-API1", BOB, t + 4, "delivered"),
        i.status("EV-API1", BOB, t + 5, "read"),
        i.status("EV-API1", BOB, t + 5, "read"),  # GREEN-API re-sent it
        i.status("EV-API1", BOB, t + 3, "sent"),  # late: nothing current changes
        i.text("EV-OUT1", BOB, t + 6, "typed on the phone", direction="outgoing"),
        i.edit("EV-E1", "EV-IN1", BOB, t + 7, "Do you deliver on Sundays and Mondays?"),
        i.reaction("EV-R1", "EV-API1", BOB, t + 8, "👍", sender=BOB),
        i.deletion("EV-D1", "EV-OUT1", BOB, t + 9, direction="outgoing"),
        i.call("EV-CALL1", BOB, t + 10, "offer"),
        i.call("EV-CALL1", BOB, t + 14, "hungUp"),
        state("notAuthorized", t + 20),  # logged out
    ]


EXPECTED = {  # per item, in version order: (detail-type, from, to)
    "instance": [
        ("Instance State Changed", None, "authorized"),
        ("Instance State Changed", "authorized", "notAuthorized"),
    ],
    "EV-IN1": [("Message Received",), ("Message Edited",)],
    "EV-API1": [
        ("Message Sent",),
        ("Message Status Changed", None, "sent"),
        ("Message Status Changed", "sent", "delivered"),
        ("Message Status Changed", "delivered", "read"),
        ("Reaction Changed",),
    ],
    "EV-OUT1": [("Message Sent",), ("Message Deleted",)],
    "EV-CALL1": [("Call Changed",), ("Call Changed",)],
}
EXPECTED_COUNT = sum(len(v) for v in EXPECTED.values())


def greenhook(local_stack: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            *(sys.executable, "-m", "greenhook_dev.cli", *args),
            *("--stack-file", local_stack["stack_file"]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def ours(local_stack: dict) -> list[dict]:
    done = greenhook(local_stack, "events", "--json", "--limit", "100000")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return [e for e in events if e["detail"].get("id_instance") == INSTANCE.id_instance]


def post_all(local_stack: dict, webhooks: list[dict]) -> None:
    for webhook in webhooks:
        response = requests.post(
            local_stack["webhook_url"],
            json=webhook,
            headers={"Authorization": local_stack["authorization"]},
            timeout=30,
        )
        assert response.status_code == 200, response.text


def wait_for(local_stack: dict, count: int, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        events = ours(local_stack)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def per_item(events: list[dict]) -> dict[str, list[tuple]]:
    items: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        detail = event["detail"]
        key = detail.get("id_message") or detail.get("id_call") or "instance"
        items[key].append(event)
    return {
        key: [
            (e["detail-type"], e["detail"]["from"], e["detail"]["to"])
            if "to" in e["detail"]
            else (e["detail-type"],)
            for e in sorted(found, key=lambda e: e["detail"]["version"])
        ]
        for key, found in items.items()
    }


@pytest.fixture(scope="module")
def published(local_stack) -> list[dict]:
    post_all(local_stack, script())
    return wait_for(local_stack, EXPECTED_COUNT)


def test_the_conversation_publishes_exactly_one_event_per_change(published):
    assert per_item(published) == EXPECTED
    assert len(published) == EXPECTED_COUNT
    assert len({e["detail"]["event_id"] for e in published}) == EXPECTED_COUNT
    for event in published:
        event_schemas.validate(event)  # as the bus delivered it to the subscriber's queue


def test_the_events_carry_the_current_view(published):
    last = {}
    for event in sorted(published, key=lambda e: e["detail"]["version"]):
        last[event["detail"].get("id_message") or event["detail"].get("id_call")] = event
    assert last["EV-IN1"]["detail"]["view"]["text"] == "Do you deliver on Sundays and Mondays?"
    assert last["EV-API1"]["detail"]["view"]["status"] == "read"
    assert last["EV-API1"]["detail"]["view"]["reactions"][0]["emoji"] == "👍"
    assert last["EV-OUT1"]["detail"]["view"]["deleted"] is True
    sent = [e for e in published if e["detail-type"] == "Message Sent"]
    assert sorted(e["detail"]["via"] for e in sent) == ["api", "phone"]
    statuses = last["EV-CALL1"]["detail"]["view"]["statuses"]
    assert [s["status"] for s in statuses] == ["offer", "hungUp"]


def test_the_same_webhooks_again_publish_nothing(local_stack, published):
    post_all(local_stack, script())
    marker = INSTANCE.text("EV-MARK", BOB, BASE + 30, "sent after the repeats")
    post_all(local_stack, [marker])  # same chat, so processed after every repeat of it
    events = wait_for(local_stack, EXPECTED_COUNT + 1)
    time.sleep(1)  # and a moment for anything the repeats would have published late
    events = ours(local_stack)
    assert len(events) == EXPECTED_COUNT + 1
    assert events[-1]["detail"]["id_message"] == "EV-MARK"


def test_events_follow_prints_events_as_they_arrive(local_stack, published):
    follow = subprocess.Popen(
        [
            *(sys.executable, "-m", "greenhook_dev.cli", "events", "--follow", "--limit", "1"),
            *("--stack-file", local_stack["stack_file"]),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(30, follow.kill)  # readline must not wait forever
    watchdog.start()
    try:
        newest = follow.stdout.readline()  # the newest event so far: it is running
        post_all(local_stack, [INSTANCE.text("EV-FOLLOW", BOB, BASE + 40, "live")])
        line = follow.stdout.readline()  # blocks until it prints the next one
    finally:
        watchdog.cancel()
        follow.terminate()
        follow.wait(10)
    assert newest and "live" not in newest
    assert "Message Received" in line and BOB in line and "live" in line

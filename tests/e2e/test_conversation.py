"""A scripted conversation over HTTP through the local stack, read back with `greenhook`.

The webhooks go out of order on purpose (a status before its message, an edit and a
reaction before the original) and one is sent twice, as GREEN-API and SQS may do.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests

from greenhook_dev.webhooks import Instance

pytestmark = pytest.mark.e2e

ANN = "79011111111@c.us"
INSTANCE = Instance(id_instance=7103220992)  # above 2^31, as real ids can be
BASE = int(time.time()) - 600


def script() -> list[dict]:
    i, t = INSTANCE, BASE
    return [
        i.text("3EB0A1", ANN, t + 1, "Hello! Is my order ready?"),
        i.status("BAE5B2", ANN, t + 12, "delivered"),  # before its message
        i.text("BAE5B2", ANN, t + 10, "Yes, it ships today.", direction="api"),
        i.edit("3EB0E1", "3EB0C3", ANN, t + 25, "Thank you so much!"),  # before the original
        i.reaction("3EB0R1", "BAE5B2", ANN, t + 15, "👍", sender=ANN),
        i.text("3EB0C3", ANN, t + 20, "Thanks", quoted="BAE5B2"),
        i.status("BAE5B2", ANN, t + 11, "sent"),
        i.status("BAE5B2", ANN, t + 14, "read"),
        i.status("BAE5B2", ANN, t + 14, "read"),  # GREEN-API re-sent it
    ]


def greenhook(local_stack: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "greenhook_dev.cli",
            *args,
            "--stack-file",
            local_stack["stack_file"],
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def query(local_stack: dict, *args: str):
    done = greenhook(local_stack, *args, "--instance", str(INSTANCE.id_instance), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def conversation(local_stack) -> dict:
    for webhook in script():
        response = requests.post(
            local_stack["webhook_url"],
            json=webhook,
            headers={"Authorization": local_stack["authorization"]},
            timeout=30,
        )
        assert response.status_code == 200, response.text
    deadline = time.monotonic() + 20
    while True:  # processed asynchronously: wait until the last fact shows
        messages = query(local_stack, "messages", ANN)
        done = len(messages) == 3 and messages[1]["status"] == "read" and messages[2]["edited"]
        if done or time.monotonic() > deadline:
            return {"messages": messages}
        time.sleep(0.3)


def test_messages_lists_the_chat_in_time_order_with_current_state(conversation):
    assert [
        (m["id_message"], m["direction"], m["text"], m["status"], m["edited"])
        for m in conversation["messages"]
    ] == [
        ("3EB0A1", "incoming", "Hello! Is my order ready?", None, False),
        ("BAE5B2", "outgoing", "Yes, it ships today.", "read", False),
        ("3EB0C3", "incoming", "Thank you so much!", None, True),
    ]
    assert conversation["messages"][1]["reactions"] == [
        {"sender": ANN, "emoji": "👍", "timestamp": BASE + 15, "id_message": "3EB0R1"}
    ]


def test_message_shows_statuses_edits_and_the_reply(local_stack, conversation):
    reply = query(local_stack, "message", "BAE5B2")
    assert reply["status"] == "read"
    assert reply["status_times"] == {"sent": BASE + 11, "delivered": BASE + 12, "read": BASE + 14}
    thanks = query(local_stack, "message", "3EB0C3")
    assert thanks["original_text"] == "Thanks"
    assert thanks["stanza_id"] == "BAE5B2"
    assert [e["text"] for e in thanks["edits"]] == ["Thank you so much!"]


def test_the_readable_output_says_the_same(local_stack, conversation):
    done = greenhook(local_stack, "messages", ANN, "--instance", str(INSTANCE.id_instance))
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "ships today" in line]
    assert len(lines) == 1 and "read" in lines[0] and "👍" in lines[0]
    assert "Thank you so much!" in done.stdout and "(edited)" in done.stdout


def test_chats_and_unknown_message(local_stack, conversation):
    (chat,) = query(local_stack, "chats")
    assert (chat["chat_id"], chat["last_id_message"]) == (ANN, "3EB0C3")
    missing = greenhook(local_stack, "message", "NOSUCHID", "--instance", str(INSTANCE.id_instance))
    assert missing.returncode == 1

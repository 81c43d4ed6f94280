"""Token rotation through the local stack while the fake GREEN-API keeps delivering.

The local stack registered itself with its fake GREEN-API at start (the real deploy hook);
a thread queues a webhook every 50 ms on the fake, which delivers them to the stack with
whatever webhookUrlToken is applied at each attempt, while `rotate-token`'s code runs.
"""

from __future__ import annotations

import json
import threading
import time

import boto3
import pytest

from greenhook.archive import ArchiveReader
from greenhook.storage import Payloads, Storage
from greenhook_dev.lambda_runtime import cold_start
from greenhook_dev.local_stack import LOCAL_INSTANCE, start_local_stack
from greenhook_dev.registration import Operations, Target


@pytest.fixture
def running(tmp_path):
    cold_start()
    stack = start_local_stack(port=0, state_dir=tmp_path, retry_delay=1)
    try:
        yield stack
    finally:
        stack.stop()
        cold_start()


def test_no_webhook_is_rejected_or_lost_during_a_rotation(running):
    fake = running.green_api
    fake.retry_interval = 0.5
    info = running.info
    old_token = info["authorization"].removeprefix("Bearer ")
    assert fake.settings(LOCAL_INSTANCE)["webhookUrlToken"] == old_token  # registered at start

    sent: list[int] = []
    stop = threading.Event()

    def keep_sending() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            fake.send(
                LOCAL_INSTANCE,
                {
                    "typeWebhook": "stateInstanceChanged",
                    "instanceData": {"idInstance": LOCAL_INSTANCE, "wid": "1@c.us"},
                    "timestamp": 1_700_000_000 + n,
                    "stateInstance": "authorized",
                },
            )
            sent.append(n)
            time.sleep(0.05)

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        target = Target(info["registration"], float(info["token_cache_seconds"]))
        new_token = Operations(target).rotate_token(grace_seconds=2, wait_seconds=60)
        time.sleep(1)  # a few more webhooks with the new token only
    finally:
        stop.set()
        sender.join()

    assert fake.wait_delivered(len(sent), timeout=60)
    statuses = [d["status"] for d in fake.deliveries]
    assert 401 not in statuses and 403 not in statuses, statuses
    assert statuses.count(200) == len(sent) >= 20
    assert fake.settings(LOCAL_INSTANCE)["webhookUrlToken"] == new_token != old_token
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=info["secret_arn"])
    assert json.loads(secret["SecretString"]) == {"token": new_token}  # old one retired

    storage = Storage(info["table_name"], payloads=Payloads(info["bucket_name"]))
    deadline = time.monotonic() + 30
    reader = ArchiveReader(storage.payloads)

    def archived() -> set[str]:  # a line per delivery: a body GREEN-API re-sent is there twice
        return {line["id"] for line in reader.newest(1000)}

    while len(archived()) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(archived()) == len(sent)

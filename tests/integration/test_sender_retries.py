"""GREEN-API's retries against the real local stack: a webhook sent while ingest answers 5xx
is re-sent until ingest recovers, then stored exactly once.

How ingest is broken: the stack's SQS queue is deleted from moto and later re-created with
the same name and attributes (so the same URL). Ingest really experiences the outage:
its `SendMessage` gets `AWS.SimpleQueueService.NonExistentQueue`, which it answers with
503, as it would if the queue were unreachable on AWS. Nothing in ingest is patched. The
poller of the process function sees the same outage and resumes once the queue is back.
"""

from __future__ import annotations

import hashlib
import json
import time

import boto3
import pytest
import requests

from greenhook.archive import ArchiveReader
from greenhook.storage import Payloads, Storage
from greenhook_dev.fake_green_api import FakeGreenApi
from greenhook_dev.lambda_runtime import cold_start
from greenhook_dev.local_stack import start_local_stack

ID_INSTANCE = 1101000001
RETRY_INTERVAL = 0.2  # GREEN-API waits 60 s
# Queue attributes CreateQueue accepts (GetQueueAttributes also returns read-only ones).
SETTABLE_QUEUE_ATTRIBUTES = {
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
}


def wait_until(condition, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            return result
        time.sleep(interval)
    return result


@pytest.fixture
def stack(tmp_path):
    cold_start()
    running = start_local_stack(port=0, state_dir=tmp_path, retry_delay=1)
    try:
        yield running, json.loads((tmp_path / "stack.json").read_text())
    finally:
        running.stop()
        cold_start()


@pytest.fixture
def green_api():
    with FakeGreenApi(retry_interval=RETRY_INTERVAL, set_settings_rate=None) as fake:
        yield fake


def test_webhook_sent_during_an_ingest_outage_is_stored_once_after_recovery(stack, green_api):
    running, info = stack
    session = boto3.Session(region_name=info["region"])
    sqs = session.client("sqs", endpoint_url=info["aws_endpoint_url"])
    dynamodb = session.resource("dynamodb", endpoint_url=info["aws_endpoint_url"])
    s3 = session.client("s3", endpoint_url=info["aws_endpoint_url"])
    storage = Storage(
        info["table_name"], resource=dynamodb, payloads=Payloads(info["bucket_name"], s3)
    )
    queue_url = info["queue_url"]
    queue_name = queue_url.rsplit("/", 1)[1]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]

    # GREEN-API side: point the instance at the stack, over HTTP like any client would.
    token = info["authorization"].removeprefix("Bearer ")
    answer = requests.post(
        green_api.method_url("setSettings", ID_INSTANCE),
        json={"webhookUrl": info["webhook_url"], "webhookUrlToken": token, "stateWebhook": "yes"},
        timeout=5,
    )
    assert answer.status_code == 200 and answer.json() == {"saveSettings": True}

    sqs.delete_queue(QueueUrl=queue_url)  # the outage starts
    body = json.dumps(
        {
            "typeWebhook": "stateInstanceChanged",
            "instanceData": {
                "idInstance": ID_INSTANCE,
                "wid": "79001234567@c.us",
                "typeInstance": "whatsapp",
            },
            "timestamp": int(time.time()),
            "stateInstance": "authorized",
        }
    ).encode()
    notification = green_api.send(ID_INSTANCE, body)

    failed = wait_until(
        lambda: [d for d in green_api.deliveries if d["status"] and d["status"] >= 500][1:],
        timeout=10,
    )
    assert failed, f"ingest did not fail twice: {green_api.deliveries}"
    assert green_api.pending(ID_INSTANCE) == 1 and green_api.delivered() == 0
    assert ArchiveReader(storage.payloads).newest(50) == []

    recreated = sqs.create_queue(
        QueueName=queue_name,
        Attributes={k: v for k, v in attributes.items() if k in SETTABLE_QUEUE_ATTRIBUTES},
    )
    assert recreated["QueueUrl"] == queue_url  # the URL ingest is configured with
    assert green_api.wait_delivered(1, timeout=10), green_api.deliveries

    sha256 = hashlib.sha256(body).hexdigest()
    archived = wait_until(lambda: ArchiveReader(storage.payloads).newest(50), timeout=10)
    time.sleep(RETRY_INTERVAL * 3)  # any stray re-send would have arrived by now

    deliveries = green_api.deliveries
    assert {d["notification"] for d in deliveries} == {notification}
    assert [d["status"] for d in deliveries].count(200) == 1
    assert deliveries[-1]["status"] == 200
    assert all(d["status"] == 503 for d in deliveries[:-1]), deliveries
    assert len(deliveries) >= 3
    assert [d["attempt"] for d in deliveries] == list(range(1, len(deliveries) + 1))
    assert {d["url"] for d in deliveries} == {info["webhook_url"]}

    archived = ArchiveReader(storage.payloads).newest(50)
    assert [item["id"] for item in archived] == [sha256]
    assert json.loads(archived[0]["body"]) == json.loads(body)
    assert archived[0]["type_webhook"] == "stateInstanceChanged"
    assert storage.get_instance(ID_INSTANCE)["state_instance"] == "authorized"
    assert running.front.url in info["webhook_url"]

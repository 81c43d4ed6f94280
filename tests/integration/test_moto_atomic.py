"""moto's DynamoDB operations one at a time (greenhook_dev.moto_atomic), as DynamoDB applies
each request atomically; SQS's are not held by it."""

from __future__ import annotations

import threading
import time

import boto3
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from greenhook_dev import moto_atomic


def test_dynamodb_requests_from_several_threads_never_overlap(monkeypatch):
    moto_atomic.install()
    inside, most = 0, 0
    lock = threading.Lock()
    get_item = DynamoDBBackend.get_item

    def slow_get_item(self, *args, **kwargs):
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.02)  # long enough for another thread to come in, were it let
        with lock:
            inside -= 1
        return get_item(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "get_item", slow_get_item)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-central-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

        def read() -> None:
            for _ in range(5):
                client.get_item(TableName="t", Key={"PK": {"S": "x"}})

        threads = [threading.Thread(target=read) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert most == 1

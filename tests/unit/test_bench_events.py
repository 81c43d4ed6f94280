"""The pure helpers of the bench's figure (f): percentiles, billing units, cost lines."""

from __future__ import annotations

import pytest

from greenhook_dev.bench import (
    PublishCounts,
    billed_seconds,
    events_cost,
    key_only_insert,
    percentile,
    put_events_chunks,
)


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(100, 0, -1)]  # 100 .. 1, unordered on purpose
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_put_events_bills_each_64_kb_started():
    assert put_events_chunks(0) == 1
    assert put_events_chunks(900) == 1
    assert put_events_chunks(64 * 1024) == 1
    assert put_events_chunks(64 * 1024 + 1) == 2
    assert put_events_chunks(240 * 1024) == 4


def test_lambda_duration_is_rounded_up_to_the_millisecond():
    assert billed_seconds(0.0001) == 0.001
    assert billed_seconds(0.012) == 0.012
    assert billed_seconds(0.0120001) == 0.013


def test_key_only_insert():
    keys = {"PK": {"S": "MSG#1#A"}, "SK": {"S": "MESSAGE"}}
    bare = {"eventName": "INSERT", "dynamodb": {"Keys": keys, "NewImage": dict(keys)}}
    full = {
        "eventName": "INSERT",
        "dynamodb": {"Keys": keys, "NewImage": {**keys, "text": {"S": "hi"}}},
    }
    modify = {"eventName": "MODIFY", "dynamodb": {"Keys": keys, "NewImage": dict(keys)}}
    assert key_only_insert(bare)
    assert not key_only_insert(full)
    assert not key_only_insert(modify)


def test_events_cost_per_million_webhooks():
    # 1000 webhooks: 1000 one-chunk events of 1000 bytes, 500 invocations of 100 ms at 512 MB.
    counts = PublishCounts(
        get_records=800,
        durations=[0.1] * 500,
        entries=1000,
        entry_bytes=1_000_000,
        chunks=1000,
    )
    lines = dict(events_cost(counts, 1000, 512))
    assert lines["EventBridge PutEvents"] == pytest.approx(1.00)
    assert lines["Lambda requests (publish)"] == pytest.approx(0.10)
    # 0.5 invocations x 0.1 s x 0.5 GB x 1e6 x $0.0000133334
    assert lines["Lambda duration (512 MB, moto's)"] == pytest.approx(0.333335)
    assert lines["DynamoDB Streams reads (Lambda)"] == 0
    assert lines["EventBridge archive"] == pytest.approx(1000 * 1e6 / 1024**3 * 0.10)

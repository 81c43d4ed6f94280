"""The cost model of bench (g): the mix it sends and the arithmetic that prices a run."""

import json

import pytest

from greenhook_dev import cost
from greenhook_dev.bench_cost import mix_bodies

PRICES = cost.load_prices()


def test_the_price_table_says_where_and_when():
    assert PRICES.region == "us-east-1"
    assert PRICES.as_of[:4].isdigit()
    assert all(value >= 0 for value in PRICES.values.values())


def test_a_mix_is_shares_that_sum_to_one():
    mix = cost.parse_mix("incoming=70,outgoing=30")
    assert mix == {"incoming": 0.7, "outgoing": 0.3, "status": 0.0, "other": 0.0}
    with pytest.raises(ValueError):
        cost.parse_mix("incomming=1")
    with pytest.raises(ValueError):
        cost.parse_mix("status=0")


def test_the_mix_sends_each_kind_in_its_share_and_statuses_after_their_message():
    bodies = mix_bodies(cost.parse_mix("incoming=35,outgoing=15,status=45,other=5"), 200, 1000)
    kinds = [kind for kind, _ in bodies]
    assert {k: kinds.count(k) for k in set(kinds)} == {
        "incoming": 70,
        "outgoing": 30,
        "status": 90,
        "other": 10,
    }
    documents = [json.loads(body) for _, body in bodies]
    assert len({body for _, body in bodies}) == 200  # each a new webhook
    assert [d["timestamp"] for d in documents] == sorted(d["timestamp"] for d in documents)
    seen = set()
    for document in documents:
        if document["typeWebhook"] == "outgoingAPIMessageReceived":
            seen.add(document["idMessage"])
        if document["typeWebhook"] == "outgoingMessageStatus":
            assert document["idMessage"] in seen


def test_a_run_is_priced_per_million_webhooks_line_by_line():
    usage = cost.Usage(webhooks=1000, http_requests=1000, sqs_requests=1500, write_units=2500)
    usage.functions["ingest"] = cost.FunctionUsage(memory_mb=1024, billed_ms=[100] * 1000)
    lines = dict(cost.cost_lines(usage, PRICES))
    assert lines["API Gateway HTTP API requests"] == pytest.approx(1.0)
    assert lines["SQS FIFO requests"] == pytest.approx(0.75)
    assert lines["DynamoDB write units"] == pytest.approx(2.5 * 0.625)
    assert lines["Lambda ingest requests"] == pytest.approx(0.2)
    # 1M invocations x 0.1 s x 1 GB
    assert lines["Lambda ingest duration (1024 MB)"] == pytest.approx(100_000 * 0.0000133334)
    assert cost.total(list(lines.items())) == pytest.approx(sum(lines.values()))
    text = cost.format_cost(list(lines.items()), PRICES, cost.DEFAULT_MIX)
    figure = cost.total(list(lines.items()))
    assert text.splitlines()[-1] == f"    ${figure:.2f} per million webhooks"
    assert "35% incoming" in text


def test_billed_increments():
    assert cost.increments(0, 65536) == 1
    assert cost.increments(65536, 65536) == 1
    assert cost.increments(65537, 65536) == 2

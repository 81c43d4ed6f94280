"""Publishing when EventBridge refuses: throttling and partial failures are retried and nothing
is lost; what is refused for good, or outlives every retry, is kept on the failed-events
queue (which the template alarms on) and the stream goes on."""

from __future__ import annotations

import itertools
import json

from greenhook import publish
from greenhook_dev import faults
from greenhook_dev.lambda_runtime import cold_start
from greenhook_dev.webhooks import Instance

CHAT = "79011111111@c.us"
_instance_ids = itertools.count(5_000_000_000)


def conversation(publishing, messages: int = 12) -> Instance:
    """`messages` incoming texts of a new instance, stored (not yet published)."""
    inst = Instance(id_instance=next(_instance_ids))
    for n in range(messages):
        assert publishing.deliver(inst.text(f"M{n}", CHAT, 1_700_000_000 + n, f"text {n}")) == (
            "stored"
        )
    return inst


def published_ids(events: list[dict], inst: Instance) -> list[str]:
    return [
        e["detail"]["id_message"] for e in events if e["detail"]["id_instance"] == inst.id_instance
    ]


def failed_events(publishing) -> list[dict]:
    queue_url = publishing.processing.stack.refs["FailedEventsQueue"]
    client = publishing.sink.sqs
    found = []
    while True:
        messages = client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


class PartlyFailing:
    """An EventBridge client whose first `times` PutEvents calls refuse every other entry with
    `code` (those entries are not put, as on AWS); the rest go to the real (moto) bus."""

    def __init__(self, client, code: str, times: int) -> None:
        self.client = client
        self.code = code
        self.times = times
        self.refused = 0

    def put_events(self, Entries: list[dict]) -> dict:
        if self.times <= 0:
            return self.client.put_events(Entries=Entries)
        self.times -= 1
        passed = [e for i, e in enumerate(Entries) if i % 2 == 0]
        answers = iter(self.client.put_events(Entries=passed)["Entries"])
        results = []
        for i, _ in enumerate(Entries):
            if i % 2 == 0:
                results.append(next(answers))
            else:
                self.refused += 1
                results.append({"ErrorCode": self.code, "ErrorMessage": "injected"})
        return {"FailedEntryCount": self.refused, "Entries": results}


def with_events_client(monkeypatch, client) -> None:
    """The publish handler, as deployed, but its EventBridge client replaced."""
    real = publish._publisher()
    monkeypatch.setattr(real, "events", client)
    monkeypatch.setattr(real, "sleep", lambda _seconds: None)


def test_entries_refused_for_a_moment_are_sent_again_and_published_once(publishing, monkeypatch):
    inst = conversation(publishing)
    cold_start()
    real = publish._publisher().events
    flaky = PartlyFailing(real, "ThrottlingException", times=2)
    with_events_client(monkeypatch, flaky)
    events = publishing.flush()
    assert flaky.refused > 0
    # Each once; not in order (EventBridge keeps none; subscribers order by `version`).
    assert sorted(published_ids(events, inst)) == sorted(f"M{n}" for n in range(12))
    assert failed_events(publishing) == []


def test_throttled_calls_are_retried_through_the_deployed_client(publishing):
    inst = conversation(publishing, messages=3)
    with faults.FaultInjector(
        "eventbridge", faults.ErrorResponse(400, "ThrottlingException"), faults.OnCalls(1, 2, 3)
    ) as throttled:
        cold_start()  # the publisher's client is made now, with the fault on its session
        events = publishing.flush()
    assert throttled.injected == 3
    assert sorted(published_ids(events, inst)) == ["M0", "M1", "M2"]


def test_an_outage_longer_than_the_retries_holds_the_stream_until_it_ends(publishing):
    inst = conversation(publishing, messages=3)
    invocations = []
    poller, invoke = publishing.stream_poller, publishing.stream_poller.invoke

    def counted(event: dict) -> dict:
        invocations.append(invoke(event))
        return invocations[-1]

    # More failed calls than one invocation makes (3 attempts by botocore, each of the
    # publisher's 5 tries): Lambda must retry the stream, and then it comes back.
    per_invocation = publish._CLIENT_CONFIG.retries["total_max_attempts"] * publish.ATTEMPTS
    outage = faults.OnCalls(*range(1, 2 * per_invocation + 2))
    unavailable = faults.ErrorResponse(503, "ServiceUnavailable")
    with faults.FaultInjector("eventbridge", unavailable, outage) as down:
        cold_start()
        publish._publisher().sleep = lambda _seconds: None
        poller.invoke = counted
        try:
            events = publishing.flush()
        finally:
            poller.invoke = invoke
    assert down.injected == 2 * per_invocation + 1
    failed = [r for r in invocations if r["batchItemFailures"]]
    assert len(failed) >= 2  # the stream was held, not skipped
    assert sorted(published_ids(events, inst)) == ["M0", "M1", "M2"]
    assert failed_events(publishing) == []


def test_an_entry_refused_for_good_is_kept_with_why_and_the_rest_is_published(
    publishing, monkeypatch
):
    inst = conversation(publishing, messages=4)
    cold_start()
    flaky = PartlyFailing(publish._publisher().events, "MalformedDetail", times=1)
    with_events_client(monkeypatch, flaky)
    events = publishing.flush()
    assert sorted(published_ids(events, inst)) == ["M0", "M2"]
    kept = failed_events(publishing)
    assert [k["reason"].split(":")[0] for k in kept] == ["MalformedDetail"] * 2
    kept_ids = sorted(json.loads(k["entry"]["Detail"])["id_message"] for k in kept)
    assert kept_ids == ["M1", "M3"]  # the entries themselves, ready to be put again


def test_a_batch_that_outlives_every_retry_goes_to_the_on_failure_destination(publishing):
    from greenhook_dev.local_stack import PUBLISH, stream_event_source
    from greenhook_dev.stream_poller import StreamPoller

    inst = conversation(publishing, messages=2)
    poller = publishing.stream_poller
    mapping = stream_event_source(publishing.processing.stack, PUBLISH)
    stubborn = StreamPoller(  # the deployed mapping retries until the record is a day old
        poller.streams,
        poller.invoke,
        stream_arn=poller.stream_arn,
        region=poller.region,
        filters=mapping.filters,
        max_retry_attempts=2,
        on_failure=poller.on_failure,
        retry_delay=0,
    )
    stubborn.checkpoints = dict(poller.checkpoints)
    with faults.FaultInjector("eventbridge", faults.ErrorResponse(500, "InternalException")):
        cold_start()
        publish._publisher().sleep = lambda _seconds: None
        while stubborn.poll_once():
            pass
    cold_start()
    (record,) = failed_events(publishing)
    info = record["DDBStreamBatchInfo"]
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["streamArn"] == poller.stream_arn and info["batchSize"] >= 2
    assert int(info["startSequenceNumber"]) <= int(info["endSequenceNumber"])
    assert stubborn.poll_once() == 0  # it went on past the batch: the stream is not held
    # The fixture's poller is a second reader of the stream: it publishes them now.
    assert sorted(published_ids(publishing.flush(), inst)) == ["M0", "M1"]


def test_an_event_too_large_even_without_its_view_is_kept_and_the_rest_published(publishing):
    inst = Instance(id_instance=next(_instance_ids))
    huge_id = "H" * (130 * 1024)  # valid JSON, a valid string: the event repeats it twice
    t = 1_700_000_000
    assert publishing.deliver(inst.text(huge_id, CHAT, t, "hi")) == "stored"
    assert publishing.deliver(inst.text("SMALL", CHAT, t + 1, "after it")) == "stored"
    cold_start()
    events = publishing.flush()
    assert published_ids(events, inst) == ["SMALL"]  # the stream went on
    (kept,) = failed_events(publishing)
    assert kept["reason"].startswith("event over EventBridge's 256 KB")
    assert kept["detail_type"] == "Message Received" and kept["event_id"]
    assert kept["item"].startswith(f"message/{inst.id_instance}/HHH")

"""`make load`, small: the same run as the 10,000-webhook check, through the local stack.

300 webhooks over 20 chats from 4 senders, 20 % of them exact re-sends, shuffled so that
statuses and edits often arrive before their message. Everything must end stored exactly
once, with each message's text after edits and its furthest status.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest

from greenhook_dev.load import (
    STATUS_ORDER,
    LoadOptions,
    archive_differences,
    archived_bodies,
    build_plan,
    expected_state,
    listing_differences,
    message_differences,
    open_stack,
    run,
)

pytestmark = pytest.mark.e2e

OPTIONS = LoadOptions(webhooks=300, chats=20, senders=4, resend_ratio=0.2, seed=8, timeout=120)


@pytest.fixture(scope="module")
def report(local_stack):
    return run(OPTIONS, stack=local_stack)


def test_every_webhook_is_stored_exactly_once_with_its_final_state(report):
    assert report.passed, report.text()
    assert (report.unique, report.resends) == (240, 60)
    assert report.accepted == 300 and not report.lost and not report.quarantined
    # every unique body archived; a re-send that SQS let through is a line of its own
    assert report.stored == report.unique <= report.archived <= report.unique + report.resends
    assert report.detailed == report.messages > 100  # a small run reads every message
    assert report.duplicates_absorbed == report.resends - (report.archived - report.unique)
    assert (report.parked, report.dlq) == (0, 0)
    assert report.drained and report.stored_seconds >= report.send_seconds > 0
    assert report.answers["200"] == 300
    assert sum(report.answers.values()) == 300 + report.retries
    assert 0 < report.p50_ms <= report.p99_ms


def test_the_run_sends_events_out_of_order_and_exact_resends():
    """Statuses and edits before their message, a later status before an earlier one, a
    newer edit before an older one: what the run must converge from."""
    plan = build_plan(300, 20, 0.2, seed=OPTIONS.seed, id_instance=3_000_000_001, start=1)
    first_post: dict[bytes, int] = {}
    for position, send in enumerate(plan.sends):
        first_post.setdefault(send.body, position)
    assert len(first_post) == plan.unique == 240 and plan.resends == 60
    assert sum(s.again_at_once for s in plan.sends) == sum(s.resend for s in plan.sends) == 30

    message_at: dict[str, int] = {}
    events: dict[tuple[str, str], list[tuple[int, int]]] = {}  # (kind, idMessage) -> (t, pos)
    for body, position in first_post.items():
        d = json.loads(body)
        if d["typeWebhook"] == "outgoingMessageStatus":
            events.setdefault(("status", d["idMessage"]), []).append((d["timestamp"], position))
        elif d["messageData"]["typeMessage"] == "editedMessage":
            original = d["messageData"]["editedMessageData"]["stanzaId"]
            events.setdefault(("edit", original), []).append((d["timestamp"], position))
        else:
            message_at[d["idMessage"]] = position
    before_message, reversed_pairs = Counter(), Counter()
    for (kind, id_message), timed in events.items():
        before_message[kind] += sum(p < message_at[id_message] for _, p in timed)
        positions = [p for _, p in sorted(timed)]  # in time order
        reversed_pairs[kind] += any(a > b for a, b in itertools.pairwise(positions))
    assert before_message["status"] and before_message["edit"], before_message
    assert reversed_pairs["status"] and reversed_pairs["edit"], reversed_pairs


def test_the_check_tells_a_wrong_status_and_a_missing_body(local_stack, report):
    """The checker can fail: against the state the run stored, a model that expects one
    message one status further, and one body more, is told apart line by line."""
    plan = build_plan(
        OPTIONS.webhooks,
        OPTIONS.chats,
        OPTIONS.resend_ratio,
        seed=report.seed,
        id_instance=report.id_instance,
        start=report.start,
    )
    expected = expected_state(report.id_instance, plan.documents)
    message = next(m for _, m in sorted(expected.messages.items()) if m.status in STATUS_ORDER[:-1])
    storage, _ = open_stack(local_stack)
    stored = message.status  # and so the run's check found it (the test above)
    further = STATUS_ORDER[STATUS_ORDER.index(stored) + 1]
    message.status_times[further] = max(message.status_times.values()) + 1
    expected.bodies.add("0" * 64)

    label = f"message {message.id_message}"
    assert message_differences(storage, report.id_instance, message) == [
        f"{label} status: {stored!r}, expected {further!r}",
        f"{label} status times: {_without(message.status_times, further)!r}, "
        f"expected {message.status_times!r}",
    ]
    (listing,) = listing_differences(storage, expected, message.chat_id)
    assert f"{message.id_message!r}" in listing and f"{further!r}" in listing
    archived = archived_bodies(storage, report.id_instance)
    assert archive_differences(expected, archived) == [f"archive: body {'0' * 12} missing"]


def _without(times: dict, status: str) -> dict:
    return {s: t for s, t in times.items() if s != status}

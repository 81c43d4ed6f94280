"""Convergence, property-based: a generated conversation (messages, replies, statuses, edits,
deletions, reactions, calls, instance changes) delivered in any order, with any webhooks
repeated, leaves the same stored state as one delivery in order.

Both deliveries run through the process function's record handler against one moto table;
each uses its own instance id, and the states are compared as the tools read them.
"""

from __future__ import annotations

import itertools

from conversations import CHATS, Plan, conversations
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenhook_dev.webhooks import Instance

_instance_ids = itertools.count(3_000_000_000)


def stored_state(storage, plan: Plan, id_instance: int) -> dict:
    """Everything the tools can read about the conversation, instance id left out."""

    def without_instance(view):
        return {k: v for k, v in view.items() if k != "id_instance"} if view else view

    return {
        "chats": storage.list_chats(id_instance),
        "messages": {chat: storage.list_messages(id_instance, chat) for chat in CHATS},
        "message": {
            m: without_instance(storage.get_message(id_instance, m))
            for m in sorted(plan.message_ids())
        },
        "calls": storage.list_calls(id_instance),
        "instance": without_instance(storage.get_instance(id_instance)),
    }


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI never flakes on a new draw
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=conversations(), data=st.data())
def test_any_order_and_any_repetition_converges_to_the_in_order_state(processing, plan, data):
    in_order = Instance(id_instance=next(_instance_ids))
    for webhook in plan.webhooks(in_order):
        assert processing.deliver(webhook) == "stored"

    shuffled = Instance(id_instance=next(_instance_ids))
    webhooks = plan.webhooks(shuffled)
    repeats = data.draw(
        st.lists(st.sampled_from(webhooks), max_size=len(webhooks)), label="repeats"
    )
    for webhook in data.draw(st.permutations(webhooks + repeats), label="delivery order"):
        assert processing.deliver(webhook) == "stored"

    expected = stored_state(processing.storage, plan, in_order.id_instance)
    assert stored_state(processing.storage, plan, shuffled.id_instance) == expected
    assert expected["chats"]  # the state compared is not empty

"""Process handles the chats of a batch concurrently (issue 10): through the real handler,
the real storage and moto, each chat's records are handled in batch order, a record that
fails holds back only the rest of its own chat, and nothing is lost."""

from __future__ import annotations

import itertools
import json
import threading

from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenhook import process, routing
from greenhook_dev.poller import ingested_record
from greenhook_dev.webhooks import Instance

INSTANCE = Instance(id_instance=6601)
CHATS = [f"7900000{n:04d}@c.us" for n in range(4)]
serial = itertools.count()


def _records(stack, chats: int, per_chat: int) -> dict[str, list[dict]]:
    """Each chat's records, in its own order (as its message group delivers them)."""
    run = next(serial)
    by_chat: dict[str, list[dict]] = {}
    for chat in CHATS[:chats]:
        for n in range(per_chat):
            body = json.dumps(
                INSTANCE.text(f"CC{run}-{chat[:11]}-{n}", chat, 1_000 + n, f"message {n}")
            ).encode()
            record = ingested_record(
                body,
                next(serial),
                queue_arn=stack.attributes["WebhookQueue"]["Arn"],
                region=stack.region,
            )
            record["attributes"]["MessageGroupId"] = routing.route(body).group_id
            by_chat.setdefault(chat, []).append(record)
    return by_chat


@st.composite
def interleaved(draw, per_chat: list[int]) -> list[int]:
    """A batch order: which chat each next record comes from, each chat's order kept."""
    left = list(per_chat)
    order = []
    while any(left):
        chat = draw(st.sampled_from([c for c, n in enumerate(left) if n]))
        order.append(chat)
        left[chat] -= 1
    return order


class Recorder:
    """handle_prepared wrapped: which record each thread handled, in order; one fails."""

    def __init__(self, failing: str | None) -> None:
        self.handled: list[str] = []
        self.threads: set[int] = set()
        self.failing = failing
        self.lock = threading.Lock()
        self.original = process.handle_prepared

    def __call__(self, prepared, storage, payloads):
        id_message = json.loads(prepared.raw.body)["idMessage"]
        with self.lock:
            self.handled.append(id_message)
            self.threads.add(threading.get_ident())
        if id_message == self.failing:
            self.failing = None  # once: the redelivery goes through
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                "UpdateItem",
            )
        return self.original(prepared, storage, payloads)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_each_chat_keeps_its_order_and_a_failure_holds_back_only_its_chat(
    processing, monkeypatch, data
):
    by_chat = _records(processing.stack, chats=3, per_chat=3)
    chats = list(by_chat)
    order = data.draw(interleaved([3, 3, 3]))
    cursors = dict.fromkeys(range(3), 0)
    batch = []
    for chat in order:
        batch.append(by_chat[chats[chat]][cursors[chat]])
        cursors[chat] += 1
    ids = [json.loads(r["body"])["idMessage"] for r in batch]
    failing = data.draw(st.sampled_from([None, *ids]))
    recorder = Recorder(failing)
    monkeypatch.setattr(process, "handle_prepared", recorder)

    answer = process.handle({"Records": batch}, None)

    chat_of = {i: i.split("-")[1] for i in ids}
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    message_ids = {r["messageId"]: i for r, i in zip(batch, ids, strict=True)}
    failed_ids = [message_ids[m] for m in failed]
    for chat in {chat_of[i] for i in ids}:
        in_batch = [i for i in ids if chat_of[i] == chat]
        handled = [i for i in recorder.handled if chat_of[i] == chat]
        assert handled == in_batch[: len(handled)]  # in order, a prefix of its chat
        if failing and chat_of[failing] == chat:
            at = in_batch.index(failing)
            assert handled == in_batch[: at + 1]  # nothing after the failure
            assert sorted(failed_ids) == sorted(in_batch[at:])  # it and the rest come back
        else:
            assert handled == in_batch  # other chats went on
    # SQS delivers what failed again, in order: then everything is stored.
    again = [r for r in batch if r["messageId"] in failed]
    if again:
        assert process.handle({"Records": again}, None) == {"batchItemFailures": []}
    for chat in chats:
        stored = processing.storage.list_messages(INSTANCE.id_instance, chat, limit=1000)
        ours = [m["id_message"] for m in stored if m["id_message"] in ids]
        assert ours == [i for i in ids if chat_of[i] == chat[:11]]


def test_chats_of_a_batch_run_on_several_threads(processing, monkeypatch):
    by_chat = _records(processing.stack, chats=4, per_chat=2)
    batch = [record for records in zip(*by_chat.values(), strict=True) for record in records]
    recorder = Recorder(None)
    monkeypatch.setattr(process, "handle_prepared", recorder)
    assert process.handle({"Records": batch}, None) == {"batchItemFailures": []}
    assert len(recorder.handled) == 8
    assert len(recorder.threads) > 1  # CHATS_IN_PARALLEL (4) groups at once

"""Backfill from GREEN-API's journals: what GREEN-API gave up delivering, stored after all.

GREEN-API drops a webhook it could not deliver for 24 hours; its journals
(`lastIncomingMessages`, `lastOutgoingMessages`, docs section 9) still list the messages of
a window, flat (not the webhook's envelope), outgoing ones with their current status. Each
entry is turned back into the message webhook GREEN-API would have sent, validated by the
same models, and written by the same convergent writes, marked `source: journal`:

  * a message greenhook has no content for is stored (a content write that only applies where
    none is stored, Storage.put_message), so a webhook's content is never replaced;
  * a status further than the stored one is added as a status event (a set: order-free);
  * an edit, deletion, reaction or poll update goes to the message it refers to, as a webhook
    would (a set again, or newest wins).

A webhook of the same message arriving later changes nothing: put_message refuses to replace
journal content, so the message's events, published once with the journal's content, are not
published again. What the journal cannot tell (the chat's name; for an outgoing message the
time it was sent, since `timestamp` is the time of its last action) stays as the journal says.
An entry the models refuse is parked with its reason, like a webhook (nothing is dropped).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from greenhook.greenapi import GreenApiClient
from greenhook.handlers import REFERENCE_WRITERS, message_content
from greenhook.models import FileMessageData, MessageWebhook, TextMessageData, parse_webhook
from greenhook.ordering import message_status_rank
from greenhook.storage import JOURNAL, RawWebhook, Storage
from greenhook.views import message_view

# Journals answer at most this far back by default (1440); more is refused here rather than
# guessed at. Entries appear up to 2 minutes late: callers add JOURNAL_LAG_MINUTES.
MAX_MINUTES = 1440
JOURNAL_LAG_MINUTES = 2
# Journal statuses webhooks never send: a stored message is at least that far.
NOT_A_WEBHOOK_STATUS = frozenset({"pending"})

# The entry's own fields; everything else belongs to messageData.
_ENVELOPE = frozenset(
    {
        "type",
        "idMessage",
        "timestamp",
        "typeMessage",
        "chatId",
        "senderId",
        "senderName",
        "senderContactName",
        "chatName",
        "statusMessage",
        "sendByApi",
    }
)
_SENDER_FIELDS = ("senderName", "senderContactName", "chatName")
# typeMessage -> the content object whose fields the journal spreads into the entry.
_FILE_TYPES = ("imageMessage", "videoMessage", "documentMessage", "audioMessage", "stickerMessage")
_SPREAD: dict[str, tuple[str, frozenset[str]]] = {
    "textMessage": ("textMessageData", frozenset(TextMessageData.model_fields)),
    **{t: ("fileMessageData", frozenset(FileMessageData.model_fields)) for t in _FILE_TYPES},
}
# The journal's name of a content object -> messageData's.
_NESTED = {
    "extendedTextMessage": "extendedTextMessageData",
    "location": "locationMessageData",
    "contact": "contactMessageData",
}


def webhook_document(entry: dict, id_instance: int, wid: str = "") -> dict:
    """The message webhook GREEN-API would have sent for a journal entry."""
    outgoing = entry.get("type") == "outgoing"
    if not outgoing:
        type_webhook = "incomingMessageReceived"
    elif entry.get("sendByApi"):
        type_webhook = "outgoingAPIMessageReceived"
    else:
        type_webhook = "outgoingMessageReceived"
    type_message = entry.get("typeMessage")
    rest = {k: v for k, v in entry.items() if k not in _ENVELOPE}
    data: dict[str, Any] = {"typeMessage": type_message}
    if spread := _SPREAD.get(type_message):  # type: ignore[arg-type]
        name, fields = spread
        data[name] = {k: rest.pop(k) for k in list(rest) if k in fields}
    for flat, nested in _NESTED.items():
        if flat in rest:
            data[nested] = rest.pop(flat)
    data.update(rest)  # quotedMessage, pollMessageData, ...: as the webhook has them
    # The author: the entry's sender, else (outgoing) the instance itself.
    sender = entry.get("senderId") or (wid if outgoing else None) or entry.get("chatId")
    sender_data = {"chatId": entry.get("chatId"), "sender": sender}
    sender_data.update({k: entry[k] for k in _SENDER_FIELDS if k in entry})
    return {
        "typeWebhook": type_webhook,
        "instanceData": {"idInstance": id_instance, "wid": wid, "typeInstance": "whatsapp"},
        "timestamp": entry.get("timestamp"),
        "idMessage": entry.get("idMessage"),
        "senderData": sender_data,
        "messageData": data,
    }


def _summary(entry: dict) -> dict:
    return {
        "id_message": entry.get("idMessage"),
        "chat_id": entry.get("chatId"),
        "direction": entry.get("type"),
        "type_message": entry.get("typeMessage"),
        "timestamp": entry.get("timestamp"),
    }


@dataclass
class Outcome:
    """What one backfill found and did."""

    minutes: int
    entries: int = 0
    added: list[dict] = field(default_factory=list)  # messages stored from the journal
    # Edits, deletions, reactions, votes: applied to their message. Applying one again
    # changes nothing (an event set, or newest wins), so they are listed, not counted added.
    references: list[dict] = field(default_factory=list)
    statuses: list[dict] = field(default_factory=list)  # statuses moved on
    parked: list[dict] = field(default_factory=list)  # entries the models refused
    known: int = 0  # entries greenhook already had, as far as they go

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def counts(self) -> dict:
        """The numbers alone (the monitor records these on the instance item)."""
        return {
            "minutes": self.minutes,
            "entries": self.entries,
            "added": len(self.added),
            "references": len(self.references),
            "statuses": len(self.statuses),
            "parked": len(self.parked),
        }


@dataclass
class Backfill:
    client: GreenApiClient
    storage: Storage
    wid: str = ""  # the instance's own id: the author of its outgoing messages
    clock: Callable[[], float] = field(default=lambda: datetime.now(UTC).timestamp())

    @property
    def id_instance(self) -> int:
        return self.client.credentials.id_instance

    def run(
        self, minutes: int, progress: Callable[[int, int], None] = lambda done, total: None
    ) -> Outcome:
        """Ask both journals for the last `minutes` and store what greenhook lacks."""
        if not 1 <= minutes <= MAX_MINUTES:
            raise ValueError(f"minutes must be from 1 to {MAX_MINUTES}, got {minutes}")
        entries = self.client.last_incoming_messages(minutes)
        entries += self.client.last_outgoing_messages(minutes)
        outcome = Outcome(minutes, len(entries))
        ids = list(dict.fromkeys(str(e.get("idMessage")) for e in entries if e.get("idMessage")))
        stored = self.storage.message_items(self.id_instance, ids) if ids else {}
        # Oldest first, as the webhooks would have come; an id the journal repeats, once.
        ordered = sorted(entries, key=lambda e: (_number(e.get("timestamp")), e.get("type", "")))
        seen: set[str] = set()
        for done, entry in enumerate(ordered, 1):
            id_message = str(entry.get("idMessage") or "")
            if id_message not in seen:
                seen.add(id_message)
                self._apply(entry, stored.get(id_message), outcome)
            progress(done, len(ordered))
        return outcome

    def _apply(self, entry: dict, item: dict | None, outcome: Outcome) -> None:
        has_content = item is not None and item.get("type_message") is not None
        if has_content:
            outcome.known += 1
        else:
            document = webhook_document(entry, self.id_instance, self.wid)
            try:
                webhook = parse_webhook(document)
                if not isinstance(webhook, MessageWebhook):
                    raise ValueError(f"not a message: typeWebhook {webhook.typeWebhook}")
            except (ValidationError, ValueError) as error:
                self._park(document, error, outcome, entry)
                return
            writer = REFERENCE_WRITERS.get(webhook.type_message)
            if writer is not None:  # an edit, deletion, reaction or vote: to its message
                writer(webhook, self.storage)
                outcome.references.append(_summary(entry))
            elif self.storage.put_message(message_content(webhook, JOURNAL)):
                outcome.added.append(_summary(entry))
            else:
                outcome.known += 1  # a webhook stored it since the journal was read
        self._advance_status(entry, item, outcome)

    def _advance_status(self, entry: dict, item: dict | None, outcome: Outcome) -> None:
        status = entry.get("statusMessage")
        if entry.get("type") != "outgoing" or not isinstance(status, str):
            return
        if status in NOT_A_WEBHOOK_STATUS or not isinstance(entry.get("timestamp"), int):
            return
        current = message_view(item)["status"] if item else None
        if current is not None and message_status_rank(current) >= message_status_rank(status):
            return
        # The journal's timestamp of an outgoing message is the time of its last action:
        # the time the status webhook of that status carries too, so the event is the same.
        self.storage.put_message_status(
            self.id_instance,
            str(entry["idMessage"]),
            status,
            entry["timestamp"],
            chat_id=entry.get("chatId"),
        )
        outcome.statuses.append({**_summary(entry), "from": current, "to": status})

    def _park(self, document: dict, error: Exception, outcome: Outcome, entry: dict) -> None:
        body = json.dumps(document, ensure_ascii=False, sort_keys=True).encode()
        reason = f"journal entry not readable as a webhook: {error}"
        when = datetime.fromtimestamp(self.clock(), UTC)
        raw = RawWebhook(
            sha256=hashlib.sha256(body).hexdigest(),
            body=body,
            received_at=when.isoformat(timespec="milliseconds"),
            type_webhook=document["typeWebhook"],
            id_instance=self.id_instance,
            timestamp=entry.get("timestamp") if isinstance(entry.get("timestamp"), int) else None,
        )
        self.storage.park(raw, reason)
        outcome.parked.append({**_summary(entry), "reason": reason[:300]})


def _number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0

"""Business events from the table's stream: what a write really changed, as typed facts.

Each stream record holds an item's image before and after one write. The item's *current
view* (what `greenhook message --json` shows, without history or bookkeeping) is worked out
for both images with greenhook.views; an event is published only where the view changed.
So a duplicate delivery, a replay, or a late status that loses to a newer one publishes
nothing (and the local stack's stream, which has records for writes that changed nothing,
publishes nothing for them either), while an out-of-order delivery publishes the change it
really made.

Every event carries the item it is about (`item`), a `version` that orders the item's events
(the stream's sequence number: DynamoDB keeps each item's records in order), a deterministic
`event_id` (the same record always gives the same id, so a consumer can deduplicate a
re-published event), and the item's view after the change: replaying an item's events by
version ends at the stored view.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from boto3.dynamodb.types import TypeDeserializer

from greenhook import keys
from greenhook.storage import plain
from greenhook.views import INSTANCE_FIELDS, call_view, message_view

SOURCE = "greenhook"

MESSAGE_RECEIVED = "Message Received"
MESSAGE_SENT = "Message Sent"
MESSAGE_STATUS_CHANGED = "Message Status Changed"
MESSAGE_EDITED = "Message Edited"
MESSAGE_DELETED = "Message Deleted"
REACTION_CHANGED = "Reaction Changed"
POLL_VOTES_CHANGED = "Poll Votes Changed"
CALL_CHANGED = "Call Changed"
CHAT_BLOCKED = "Chat Blocked"
AVATAR_CHANGED = "Avatar Changed"
INSTANCE_STATE_CHANGED = "Instance State Changed"
INSTANCE_STATUS_CHANGED = "Instance Status Changed"
DEVICE_CHANGED = "Device Changed"
QUOTA_EXCEEDED = "Quota Exceeded"
WEBHOOK_PARKED = "Webhook Parked"

DETAIL_TYPES = (
    MESSAGE_RECEIVED,
    MESSAGE_SENT,
    MESSAGE_STATUS_CHANGED,
    MESSAGE_EDITED,
    MESSAGE_DELETED,
    REACTION_CHANGED,
    POLL_VOTES_CHANGED,
    CALL_CHANGED,
    CHAT_BLOCKED,
    AVATAR_CHANGED,
    INSTANCE_STATE_CHANGED,
    INSTANCE_STATUS_CHANGED,
    DEVICE_CHANGED,
    QUOTA_EXCEEDED,
    WEBHOOK_PARKED,
)

# The table's sort keys whose changes become events; everything else (the raw archive, a
# message's CONTENT item) changes nothing a subscriber sees. template.yaml's FilterCriteria
# on the stream mapping hold the same list (a test keeps them equal), so those records
# never even invoke the publisher.
EVENT_SORT_KEYS = (keys.MESSAGE_SK, keys.CHAT_SK, keys.CALL_SK, keys.INSTANCE_SK)
PARKED_SK = "PARKED"

# A message view's history and bookkeeping: kept in the table, not part of what is current
# (a late `sent` after `read` adds a time to status_times but changes nothing current).
_MESSAGE_HISTORY = ("status_times", "edits", "repairs", "thumbnail_bytes")

_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class Change:
    """One business event: its detail-type and the detail fields beyond the common ones."""

    detail_type: str
    fields: dict


@dataclass(frozen=True)
class BusinessEvent:
    detail_type: str
    detail: dict
    time: datetime

    def entry(self, bus_name: str) -> dict:
        """A PutEvents entry."""
        return {
            "Source": SOURCE,
            "DetailType": self.detail_type,
            "Detail": json.dumps(self.detail, ensure_ascii=False, separators=(",", ":")),
            "EventBusName": bus_name,
            "Time": self.time,
        }


def image(record: dict, name: str) -> dict | None:
    """A stream record's NewImage or OldImage as plain Python values (None if absent)."""
    raw = record.get("dynamodb", {}).get(name)
    if not raw:
        return None
    return plain({k: _deserializer.deserialize(v) for k, v in raw.items()})


# -- views: what is current about each kind of item ---------------------------------------
def message_event_view(item: dict | None) -> dict | None:
    """A message's current view; None until its content is stored (statuses, edits and
    reactions that arrive first publish with the message, not before)."""
    if not item or item.get("type_message") is None:
        return None
    view = message_view(item)
    view["status_at"] = view["status_times"].get(view["status"])  # when it reached it
    view["edited_at"] = view["edits"][-1]["timestamp"] if view["edits"] else None
    for name in _MESSAGE_HISTORY:
        view.pop(name, None)
    view["has_full_content"] = bool(item.get("content_item"))  # thumbnails etc.: CONTENT item
    return view


def chat_event_view(item: dict | None) -> dict | None:
    """What a chat item holds beyond its activity (which message events already carry)."""
    if not item:
        return None
    return {
        "id_instance": item.get("id_instance"),
        "chat_id": item.get("chat_id"),
        "chat_state": item.get("chat_state"),
        "chat_state_at": item.get("chat_state_at"),
        "avatar": item.get("avatar"),
        "avatar_at": item.get("avatar_at"),
    }


def call_event_view(item: dict | None) -> dict | None:
    if not item or not item.get("call_events"):
        return None
    return {"id_instance": item.get("id_instance"), **call_view(item)}


def instance_event_view(item: dict | None) -> dict | None:
    """An instance's state, status, device and quota (not the time of its newest webhook)."""
    if not item:
        return None
    return {name: item.get(name) for name in INSTANCE_FIELDS if name != "last_webhook_at"}


# -- what changed -------------------------------------------------------------------------
def _aspect(view: dict | None, *names: str) -> tuple | None:
    return tuple(view.get(n) for n in names) if view else None


def _message_changes(old: dict | None, new: dict | None) -> list[Change]:
    if new is None:
        return []
    outgoing = new.get("direction") == "outgoing"
    if outgoing:
        via = "api" if new.get("type_webhook") == "outgoingAPIMessageReceived" else "phone"
        content = Change(MESSAGE_SENT, {"via": via})
    else:
        content = Change(MESSAGE_RECEIVED, {})
    status = Change(
        MESSAGE_STATUS_CHANGED,
        {
            "from": old.get("status") if old else None,
            "to": new.get("status"),
            "at": new.get("status_at"),
            "description": new.get("status_description"),
        },
    )
    aspects: list[tuple[tuple[str, ...], Change, Callable[[dict], bool]]] = [
        (
            ("status", "status_description", "status_at"),
            status,
            lambda v: v.get("status") is not None,
        ),
        (
            ("text", "edited", "edited_at"),
            Change(MESSAGE_EDITED, {"at": new.get("edited_at")}),
            lambda v: bool(v.get("edited")),
        ),
        (
            ("deleted", "deleted_at"),
            Change(MESSAGE_DELETED, {"at": new.get("deleted_at")}),
            lambda v: bool(v.get("deleted")),
        ),
        (("reactions",), Change(REACTION_CHANGED, {}), lambda v: bool(v.get("reactions"))),
        (
            ("poll_votes",),
            Change(POLL_VOTES_CHANGED, {}),
            lambda v: v.get("poll_votes") is not None,
        ),
    ]
    if old is None:  # the content arrived: it, and whatever arrived before it
        return [content] + [change for _, change, present in aspects if present(new)]
    changes = []
    for names, change, present in aspects:
        if _aspect(old, *names) == _aspect(new, *names):
            continue
        if change.detail_type == MESSAGE_EDITED and not present(new):
            continue  # a new text without an edit: the content was re-sent (below)
        changes.append(change)
    # Every field of the view belongs to one fact: what no aspect covers is the content.
    covered = {name for names, _, _ in aspects for name in names}

    def rest(view: dict) -> dict:
        return {k: v for k, v in view.items() if k not in covered}

    resent_text = not new.get("edited") and old.get("text") != new.get("text")
    if rest(old) != rest(new) or resent_text:  # a corrected re-send of the content
        changes.insert(0, content)
    return changes


def _chat_changes(old: dict | None, new: dict | None) -> list[Change]:
    changes = []
    block = ("chat_state", "chat_state_at")
    if new and new.get("chat_state") is not None and _aspect(old, *block) != _aspect(new, *block):
        changes.append(Change(CHAT_BLOCKED, {"at": new.get("chat_state_at")}))
    if new and new.get("avatar") and _aspect(old, "avatar") != _aspect(new, "avatar"):
        changes.append(Change(AVATAR_CHANGED, {"at": new.get("avatar_at")}))
    return changes


def _call_changes(old: dict | None, new: dict | None) -> list[Change]:
    return [Change(CALL_CHANGED, {})] if new and old != new else []


def _instance_changes(old: dict | None, new: dict | None) -> list[Change]:
    if not new:
        return []
    changes = []
    for names, detail_type in (
        (("state_instance",), INSTANCE_STATE_CHANGED),
        (("status_instance",), INSTANCE_STATUS_CHANGED),
    ):
        before, after = _aspect(old, *names), _aspect(new, *names)
        if before != after and after[0] is not None:
            at = new.get(names[0].replace("_instance", "_timestamp"))
            changes.append(
                Change(
                    detail_type, {"from": before[0] if before else None, "to": after[0], "at": at}
                )
            )
    for name, detail_type in (("device", DEVICE_CHANGED), ("quota", QUOTA_EXCEEDED)):
        if _aspect(old, name) != _aspect(new, name) and new.get(name) is not None:
            changes.append(Change(detail_type, {"at": new.get(f"{name}_timestamp")}))
    return changes


# SK -> (view of an image, changes between two views, what the event is about)
_KINDS: dict[str, tuple[Callable, Callable, str]] = {
    keys.MESSAGE_SK: (message_event_view, _message_changes, "message"),
    keys.CHAT_SK: (chat_event_view, _chat_changes, "chat"),
    keys.CALL_SK: (call_event_view, _call_changes, "call"),
    keys.INSTANCE_SK: (instance_event_view, _instance_changes, "instance"),
}


def _subject(kind: str, view: dict) -> tuple[str, dict]:
    """The item's identity: a string to order its events by, and the ids for the detail."""
    id_instance = view.get("id_instance")
    if kind == "message":
        ids = {"chat_id": view.get("chat_id"), "id_message": view.get("id_message")}
        return f"message/{id_instance}/{view.get('id_message')}", ids
    if kind == "call":
        ids = {"chat_id": view.get("chat_id"), "id_call": view.get("id_call")}
        return f"call/{id_instance}/{view.get('id_call')}", ids
    if kind == "chat":
        return f"chat/{id_instance}/{view.get('chat_id')}", {"chat_id": view.get("chat_id")}
    return f"instance/{id_instance}", {}


def version(record: dict) -> str:
    """The record's sequence number, zero-padded so that string order is change order."""
    return record["dynamodb"]["SequenceNumber"].rjust(40, "0")


def event_id(item: str, version_: str, detail_type: str) -> str:
    return hashlib.sha256(f"{item}|{version_}|{detail_type}".encode()).hexdigest()[:32]


def _changed_at(record: dict) -> datetime:
    stamp = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if isinstance(stamp, datetime):
        return stamp.astimezone(UTC)
    if isinstance(stamp, int | float):
        # Lambda's stream event gives epoch seconds; moto's GetRecords milliseconds
        return datetime.fromtimestamp(stamp / 1000 if stamp > 1e11 else stamp, UTC)
    return datetime.now(UTC)


def _parked(record: dict) -> list[BusinessEvent]:
    new = image(record, "NewImage")
    if record.get("eventName") != "INSERT" or not new:
        return []
    sha256 = new.get("sha256")
    item = f"webhook/{sha256}"
    v = version(record)
    detail = {
        "event_id": event_id(item, v, WEBHOOK_PARKED),
        "version": v,
        "item": item,
        "id_instance": new.get("id_instance"),
        "view": {  # the body stays in the table (`greenhook parked`, `replay-parked`)
            "id": sha256,
            "reason": new.get("reason"),
            "type_webhook": new.get("type_webhook"),
            "received_at": new.get("received_at"),
            "body_size": new.get("body_size"),
            "payload_s3_key": new.get("payload_s3_key"),
        },
    }
    return [BusinessEvent(WEBHOOK_PARKED, detail, _changed_at(record))]


def record_events(record: dict) -> list[BusinessEvent]:
    """The business events of one DynamoDB stream record (none if nothing current changed)."""
    sk = record.get("dynamodb", {}).get("Keys", {}).get("SK", {}).get("S")
    if sk == PARKED_SK:
        return _parked(record)
    if sk not in _KINDS:
        return []
    view_of, changes_between, kind = _KINDS[sk]
    old = view_of(image(record, "OldImage"))
    new = view_of(image(record, "NewImage"))
    if old == new or new is None:
        return []
    changes = changes_between(old, new)
    if not changes:
        return []
    item, ids = _subject(kind, new)
    v = version(record)
    when = _changed_at(record)
    return [
        BusinessEvent(
            change.detail_type,
            {
                "event_id": event_id(item, v, change.detail_type),
                "version": v,
                "item": item,
                "id_instance": new.get("id_instance"),
                **ids,
                **change.fields,
                "view": new,
            },
            when,
        )
        for change in changes
    ]

"""What is current, worked out from a stored item's events (see greenhook.storage).

Statuses, edits, reactions, deletions and call statuses are stored as sets of events; these
functions turn an item into what the tools show: the furthest status, the newest edit, each
sender's newest reaction, the call's status sequence.
"""

from __future__ import annotations

import json

from greenhook.ordering import call_status_rank, message_status_rank


def _events(item: dict, attribute: str) -> list[tuple[int, list]]:
    """An event set's elements as (timestamp, fields), oldest first."""
    parsed = []
    for element in sorted(item.get(attribute) or ()):
        stamp, _, fields = element.partition("#")
        parsed.append((int(stamp), json.loads(fields)))
    return parsed


def _current_status(item: dict) -> tuple[str | None, dict[str, int], str | None]:
    """(furthest status, first time of each status, failure description)."""
    times: dict[str, int] = {}
    description = None
    best: tuple[str, str] | None = None
    for timestamp, (status, detail) in _events(item, "status_events"):
        times.setdefault(status, timestamp)
        rank = message_status_rank(status)
        if best is None or rank > best[0]:
            best, description = (rank, status), detail or None
    return (best[1] if best else None), times, description


def _reactions(item: dict) -> list[dict]:
    """Each sender's newest reaction; a sender whose newest reaction is empty has none."""
    newest: dict[str, tuple[int, str, str]] = {}
    for timestamp, (id_reaction, sender, emoji) in _events(item, "reaction_events"):
        newest[sender] = (timestamp, id_reaction, emoji)  # events are oldest first
    return [
        {"sender": sender, "emoji": emoji, "timestamp": ts, "id_message": id_reaction}
        for sender, (ts, id_reaction, emoji) in sorted(newest.items())
        if emoji
    ]


def message_view(item: dict, brief: bool = False) -> dict:
    """A message item as the tools show it; `brief` for listings."""
    status, status_times, description = _current_status(item)
    edits = [
        {"id_message": id_edit, "timestamp": ts, "text": text}
        for ts, (id_edit, text) in _events(item, "edit_events")
    ]
    deletions = _events(item, "deletion_events")
    view = {
        "id_message": item.get("id_message"),
        "chat_id": item.get("chat_id"),
        "timestamp": item.get("timestamp"),
        "direction": item.get("direction"),
        "type_message": item.get("type_message"),
        "sender": item.get("sender"),
        "sender_name": item.get("sender_name"),
        "text": edits[-1]["text"] if edits else item.get("text"),
        "edited": bool(edits),
        "deleted": bool(deletions),
        "status": status,
        "reactions": _reactions(item),
        "stanza_id": item.get("stanza_id"),
    }
    if brief:
        return view
    poll_votes = item.get("poll_votes")
    inline = item.get("message_data")
    return {
        **view,
        "id_instance": item.get("id_instance"),
        "type_webhook": item.get("type_webhook"),
        "chat_name": item.get("chat_name"),
        "stored": item.get("type_message") is not None,  # False: only statuses/edits so far
        "source": item.get("source") or "webhook",  # "journal": backfilled (greenhook.backfill)
        "original_text": item.get("text"),
        "text_truncated": bool(item.get("text_truncated")),  # the full text: message_data
        "status_times": status_times,
        "status_description": description,
        "edits": edits,
        "deleted_at": deletions[0][0] if deletions else None,
        "poll_votes": json.loads(poll_votes) if poll_votes else None,
        "message_data": json.loads(inline) if inline else None,
        "repairs": item.get("repairs") or [],  # what storage changed to keep it (storable)
    }


CHAT_FIELDS = (
    "chat_id",
    "chat_name",
    "last_activity_at",
    "last_id_message",
    "last_direction",
    "last_type_message",
    "last_sender_name",
    "last_text",
    "chat_state",
    "avatar",
)


def chat_view(item: dict) -> dict:
    return {name: item.get(name) for name in CHAT_FIELDS}


def call_view(item: dict) -> dict:
    sequence = [
        {"status": status, "timestamp": ts} for ts, (status,) in _events(item, "call_events")
    ]
    current = max(sequence, key=lambda e: call_status_rank(e["status"]), default=None)
    return {
        "id_call": item.get("id_call"),
        "chat_id": item.get("chat_id"),
        "direction": item.get("direction"),
        "started_at": item.get("started_at"),
        "status": current["status"] if current else None,
        "statuses": sequence,
        "is_video": item.get("is_video"),
        "duration": item.get("duration"),
    }


INSTANCE_FIELDS = (
    "id_instance",
    "wid",
    "state_instance",
    "state_timestamp",
    "status_instance",
    "status_timestamp",
    "device",
    "device_timestamp",
    "quota",
    "quota_timestamp",
    "last_webhook_at",
)


def instance_view(item: dict) -> dict:
    """The instance's webhook-reported fields, and the monitor's last check (greenhook.monitor):
    `monitor` whole, and its `drift` (None until a check ran; {} when the settings match)."""
    monitor = item.get("monitor")
    return {
        **{name: item.get(name) for name in INSTANCE_FIELDS},
        "monitor": monitor,
        "drift": monitor.get("drift") if monitor else None,
    }

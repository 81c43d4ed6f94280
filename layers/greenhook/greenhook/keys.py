"""The table's keys, in one place (the README's key-design table mirrors this module).

Every key comes from the webhook's own identity: its instance, chat, idMessage, the
referenced message's stanzaId, the body's SHA-256. Sort keys that order by time start with
a 12-digit zero-padded Unix timestamp, so string order is time order.
"""

from __future__ import annotations

GSI1 = "GSI1"  # archive by day, parked
GSI2 = "GSI2"  # a chat's messages, an instance's chats and calls, the instances

ARCHIVE_PREFIX = "ARCHIVE#"
PARKED_PARTITION = "PARKED"
INSTANCES_PARTITION = "INSTANCES"

MESSAGE_SK = "MESSAGE"
CONTENT_SK = "CONTENT"
EDIT_PREFIX = "EDIT#"
REACTION_PREFIX = "REACTION#"
CHAT_SK = "CHAT"
CALL_SK = "CALL"
INSTANCE_SK = "STATE"


def timed(timestamp: int | None, tail: str) -> str:
    """`<12-digit timestamp>#<tail>`: sorts by time, then by tail (a stable tie-break)."""
    return f"{timestamp or 0:012d}#{tail}"


def webhook(sha256: str) -> str:
    return f"WEBHOOK#{sha256}"


def message(id_instance: int, id_message: str) -> dict[str, str]:
    """A message's partition: its content, status, edits, reactions, deletion."""
    return {"PK": f"MSG#{id_instance}#{id_message}", "SK": MESSAGE_SK}


def chat(id_instance: int, chat_id: str) -> dict[str, str]:
    return {"PK": f"CHAT#{id_instance}#{chat_id}", "SK": CHAT_SK}


def chat_timeline(id_instance: int, chat_id: str) -> str:
    """GSI2 partition of one chat's messages (GSI2SK = timed(timestamp, idMessage))."""
    return f"CHAT#{id_instance}#{chat_id}"


def chats_by_activity(id_instance: int) -> str:
    """GSI2 partition of an instance's chats (GSI2SK = timed(last activity, chatId))."""
    return f"CHATS#{id_instance}"


def call(id_instance: int, id_call: str) -> dict[str, str]:
    return {"PK": f"CALL#{id_instance}#{id_call}", "SK": CALL_SK}


def calls(id_instance: int) -> str:
    """GSI2 partition of an instance's calls (GSI2SK = timed(start, call id))."""
    return f"CALLS#{id_instance}"


def instance(id_instance: int) -> dict[str, str]:
    return {"PK": f"INSTANCE#{id_instance}", "SK": INSTANCE_SK}


# What GSI2 carries besides its keys: exactly what the listings show (template.yaml holds the
# same list; a test keeps them equal). Content and thumbnails stay out of the index.
GSI2_ATTRIBUTES = (
    "id_instance",
    "id_message",
    "chat_id",
    "timestamp",
    "direction",
    "type_message",
    "sender",
    "sender_name",
    "text",
    "stanza_id",
    "status_events",
    "edit_events",
    "deletion_events",
    "reaction_events",
    "chat_name",
    "last_activity_at",
    "last_id_message",
    "last_direction",
    "last_type_message",
    "last_sender_name",
    "last_text",
    "chat_state",
    "avatar",
    "id_call",
    "started_at",
    "call_events",
    "is_video",
    "duration",
)

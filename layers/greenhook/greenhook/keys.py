"""The table's keys, in one place (the README's key-design table mirrors this module).

Every key comes from the webhook's own identity: its instance, chat, idMessage, the
referenced message's stanzaId, the body's SHA-256. Sort keys that order by time start with
a 12-digit zero-padded Unix timestamp, so string order is time order.
"""

from __future__ import annotations

import hashlib

GSI1 = "GSI1"  # parked webhooks
# A chat's messages, an instance's calls, the instances. Keys only: a write that does not
# move an item's listing keys (a status, an edit, a reaction) writes nothing to the index,
# and the listings read the few items they show with BatchGetItem.
GSI2 = "GSI2K"

PARKED_PARTITION = "PARKED"
INSTANCES_PARTITION = "INSTANCES"

MESSAGE_SK = "MESSAGE"
CONTENT_SK = "CONTENT"
EDIT_PREFIX = "EDIT#"
REACTION_PREFIX = "REACTION#"
CHAT_SK = "CHAT"
CALL_SK = "CALL"
INSTANCE_SK = "STATE"


# DynamoDB refuses a partition key over 2,048 bytes and a sort key over 1,024; ids come from
# the webhook, so one that would not fit is shortened to its start and its hash (still unique).
_MAX_ID_BYTES = 400


def _id(value: object) -> str:
    text = str(value)
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= _MAX_ID_BYTES:
        return text
    return f"{text[:100]}~{hashlib.sha256(data).hexdigest()}"


# Far beyond any real time; a webhook's absurd timestamp (any size is valid JSON) is held to
# it, which keeps the key short and its text within what Python will format.
_MAX_TIMESTAMP = 10**20 - 1


def bounded(number: int) -> int:
    """A webhook's time or count as an order can use it: absurd values held to +-10**20."""
    return max(-_MAX_TIMESTAMP, min(number, _MAX_TIMESTAMP))


def timed(timestamp: int | None, tail: str) -> str:
    """`<12-digit timestamp>#<tail>`: sorts by time, then by tail (a stable tie-break)."""
    return f"{bounded(timestamp or 0):012d}#{tail}"


def timed_key(timestamp: int | None, id_: str) -> str:
    """`timed` for a sort key: an id too long for a key is shortened (see _id)."""
    return timed(timestamp, _id(id_))


def webhook(sha256: str) -> str:
    return f"WEBHOOK#{sha256}"


def message(id_instance: int, id_message: str) -> dict[str, str]:
    """A message's partition: its content, status, edits, reactions, deletion."""
    return {"PK": f"MSG#{_id(id_instance)}#{_id(id_message)}", "SK": MESSAGE_SK}


def chat(id_instance: int, chat_id: str) -> dict[str, str]:
    return {"PK": chat_timeline(id_instance, chat_id), "SK": CHAT_SK}


def chat_timeline(id_instance: int, chat_id: str) -> str:
    """GSI2 partition of one chat's messages (GSI2SK = timed(timestamp, idMessage))."""
    return f"CHAT#{_id(id_instance)}#{_id(chat_id)}"


def chats_by_activity(id_instance: int) -> str:
    """The partition of an instance's activity markers: one item per chat and active minute
    (SK = activity(timestamp, chatId)), so a chat's messages of the same minute write none."""
    return f"CHATS#{_id(id_instance)}"


ACTIVITY_SECONDS = 60


def activity(id_instance: int, chat_id: str, timestamp: int | None) -> dict[str, str]:
    """A chat's activity marker for the minute of `timestamp`."""
    minute = bounded(timestamp or 0) // ACTIVITY_SECONDS * ACTIVITY_SECONDS
    return {"PK": chats_by_activity(id_instance), "SK": timed_key(minute, chat_id)}


def activity_minute(sort_key: str) -> str:
    """The minute part of an activity marker's sort key (markers of one minute share it)."""
    return sort_key.split("#", 1)[0]


def call(id_instance: int, id_call: str) -> dict[str, str]:
    return {"PK": f"CALL#{_id(id_instance)}#{_id(id_call)}", "SK": CALL_SK}


def calls(id_instance: int) -> str:
    """GSI2 partition of an instance's calls (GSI2SK = timed(start, call id))."""
    return f"CALLS#{_id(id_instance)}"


def instance(id_instance: int) -> dict[str, str]:
    return {"PK": f"INSTANCE#{_id(id_instance)}", "SK": INSTANCE_SK}

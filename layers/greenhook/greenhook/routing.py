"""What a webhook body says about where it belongs, read without validating it.

Ingest needs only this (no pydantic on the hot path): the type, the instance and the chat,
to pick the SQS message group that keeps each chat in order.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

QUARANTINE_GROUP = "quarantine"
_MAX_GROUP_ID = 128
_MAX_INT_DIGITS = 4000
_GROUP_ID_UNSAFE = re.compile(r"[^A-Za-z0-9!-/:-@\[-`{-~]")


@dataclass(frozen=True)
class Routing:
    """Where a body goes. `quarantine_reason` is set when it is not a usable webhook."""

    group_id: str
    type_webhook: str | None = None
    id_instance: int | str | None = None
    chat_id: str | None = None
    quarantine_reason: str | None = None
    document: dict | None = field(default=None, repr=False, compare=False)  # the parsed body

    @property
    def timestamp(self) -> int | None:
        value = (self.document or {}).get("timestamp")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def chat_id_of(webhook: dict) -> str | None:
    """The chat a webhook belongs to, or None for instance-level events."""
    sender = webhook.get("senderData")
    candidates = (
        sender.get("chatId") if isinstance(sender, dict) else None,  # messages
        webhook.get("chatId"),  # outgoingMessageStatus, incomingBlock
        webhook.get("from"),  # incomingCall, outgoingCall
    )
    return next((c for c in candidates if isinstance(c, str) and c), None)


def instance_id_of(webhook: dict) -> int | str | None:
    instance = webhook.get("instanceData")
    value = instance.get("idInstance") if isinstance(instance, dict) else None
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None


def message_group_id(id_instance: int | str | None, chat_id: str | None) -> str:
    """`<idInstance>:<chatId>`, or `<idInstance>` for instance events, made SQS-safe."""
    # Never empty: SQS refuses an empty group id, and ingest would answer 503 for 24 hours.
    group = str(id_instance) if id_instance not in (None, "") else "unknown-instance"
    if chat_id:
        group = f"{group}:{chat_id}"
    group = _GROUP_ID_UNSAFE.sub("_", group)
    if len(group) > _MAX_GROUP_ID:
        digest = hashlib.sha256(group.encode()).hexdigest()[:16]
        group = f"{group[: _MAX_GROUP_ID - 17]}#{digest}"
    return group


def _integer(text: str) -> int | Decimal:
    # Python refuses to turn more than 4,300 digits into an int; JSON has no such limit.
    return int(text) if len(text) <= _MAX_INT_DIGITS else Decimal(text)


def parse(body: bytes) -> Any:
    """The body's JSON (any size of number); ValueError or RecursionError if it has none."""
    return json.loads(body.decode("utf-8"), parse_int=_integer)


def route(body: bytes) -> Routing:
    """Route a raw body; anything that is not a JSON object with a typeWebhook is quarantined."""
    try:
        webhook = parse(body)
    except UnicodeDecodeError:
        return Routing(QUARANTINE_GROUP, quarantine_reason="body is not valid UTF-8")
    except ValueError:
        return Routing(QUARANTINE_GROUP, quarantine_reason="body is not valid JSON")
    except RecursionError:  # a body nested thousands of levels deep
        return Routing(QUARANTINE_GROUP, quarantine_reason="body is nested too deeply to read")
    if not isinstance(webhook, dict):
        return Routing(QUARANTINE_GROUP, quarantine_reason="body is not a JSON object")
    type_webhook = webhook.get("typeWebhook")
    if not isinstance(type_webhook, str) or not type_webhook:
        return Routing(QUARANTINE_GROUP, quarantine_reason="body has no typeWebhook")
    id_instance = instance_id_of(webhook)
    chat_id = chat_id_of(webhook)
    return Routing(
        group_id=message_group_id(id_instance, chat_id),
        type_webhook=type_webhook,
        id_instance=id_instance,
        chat_id=chat_id,
        document=webhook,
    )

"""greenhook's one DynamoDB table (and the S3 bucket for large bodies), behind one interface.

Keys are built in `greenhook.keys` (the README's key-design table mirrors it). Every write is
convergent: a repeated or out-of-order delivery leaves the state of one in-order delivery.
Three techniques do it, each chosen per attribute:
  * first write wins (`attribute_not_exists`) for things that never change (a parked body,
    a message's content backfilled from GREEN-API's journal);
  * newest wins, a conditional SET on a `<timestamp>#<tie-break>` version (instance state,
    a chat's last activity, a poll's votes);
  * events go into a string set with ADD (statuses, edits, reactions, deletions, call
    statuses): a set is order-free and adding an element twice is a no-op, so what is current
    (the furthest status, the newest edit, each sender's newest reaction) is worked out when
    the item is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from greenhook import keys
from greenhook.storable import repaired, storable_item
from greenhook.views import call_view, chat_view, instance_view, message_view

# A message item is rewritten by every status, edit and reaction, and each rewrite costs one
# write unit per KB of the item: content beyond this (and every thumbnail) goes to a CONTENT
# item written once, or past CONTENT_ITEM_LIMIT to S3.
INLINE_MESSAGE_DATA_LIMIT = 4 * 1024
CONTENT_ITEM_LIMIT = 350 * 1024  # DynamoDB's item limit is 400 KB
TEXT_PREVIEW_LIMIT = 1000
KNOWN_LIMIT = 100_000  # entries Storage keeps about what it wrote (a few MB at most)
JOURNAL = "journal"  # a message's `source` when it came from GREEN-API's journal (backfill)


def _is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def plain(value: Any) -> Any:
    """DynamoDB's Decimals, sets and Binary back to JSON-friendly Python values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return sorted(plain(v) for v in value)
    if hasattr(value, "value") and isinstance(value.value, bytes):  # boto3 Binary
        return value.value
    return value


def _size(text: str) -> int:
    """Bytes of `text` in UTF-8, lone surrogates included (storage replaces them later)."""
    return len(text.encode("utf-8", "surrogatepass"))


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _first_content_wins(source: str | None) -> dict:
    """The condition of a CONTENT item's put, as put_message's on the message item."""
    if source == JOURNAL:
        return {"ConditionExpression": "attribute_not_exists(PK)"}
    return {
        "ConditionExpression": "attribute_not_exists(#s) OR #s <> :journal",
        "ExpressionAttributeNames": {"#s": "source"},
        "ExpressionAttributeValues": {":journal": JOURNAL},
    }


def _event(timestamp: int | None, *fields: Any) -> str:
    """One element of an event set: sorts by time, then by its JSON fields."""
    return keys.timed(timestamp, _compact_json(list(fields)))


def without_thumbnails(value: Any) -> tuple[Any, int]:
    """`value` with every non-empty jpegThumbnail removed, and how many bytes were removed."""
    if isinstance(value, dict):
        kept, removed = {}, 0
        for key, item in value.items():
            if key == "jpegThumbnail" and isinstance(item, str) and item:
                removed += len(item)
                continue
            kept[key], size = without_thumbnails(item)
            removed += size
        return kept, removed
    if isinstance(value, list):
        pairs = [without_thumbnails(v) for v in value]
        return [v for v, _ in pairs], sum(n for _, n in pairs)
    return value, 0


@dataclass(frozen=True)
class RawWebhook:
    """One accepted body as it was received, with what ingest recorded about it."""

    sha256: str
    body: bytes
    received_at: str
    source_ip: str | None = None
    payload_s3_key: str | None = None
    type_webhook: str | None = None
    id_instance: int | str | None = None
    timestamp: int | None = None
    repairs: tuple[str, ...] = ()  # what was changed to read it (greenhook.storable)

    def text(self) -> str | None:
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def metadata(self) -> dict[str, Any]:
        """What ingest recorded and the body says of itself, the absent left out. Read from
        the body, so bounded: an item or an archive line must not outgrow its limit."""
        found = {
            "source_ip": self.source_ip,
            "type_webhook": self.type_webhook[:200] if self.type_webhook else None,
            "id_instance": self.id_instance[:200]
            if isinstance(self.id_instance, str)
            else self.id_instance,
            "timestamp": self.timestamp,
        }
        return {k: v for k, v in found.items() if v is not None}


@dataclass(frozen=True)
class MessageContent:
    """What a message webhook says about its message (the handler fills it from the model)."""

    id_instance: int
    id_message: str
    chat_id: str
    timestamp: int
    type_webhook: str
    direction: str
    type_message: str
    sender: str
    message_data: dict
    sender_name: str | None = None
    chat_name: str | None = None
    text: str | None = None
    stanza_id: str | None = None
    source: str | None = None  # JOURNAL when backfilled from GREEN-API's journal


class Storage:
    """Reads and convergent writes of greenhook's table."""

    def __init__(self, table_name: str, resource: Any = None, payloads: Payloads | None = None):
        self.table = (resource or boto3.resource("dynamodb")).Table(table_name)
        self.payloads = payloads  # where message content too large for an item goes
        # What this Storage has seen written, so that it skips writes whose outcome it can
        # predict: (PK, SK, version attribute) -> a version the item holds at least (a
        # newest-wins write at or below it would fail its condition), and the activity
        # markers and instance minutes already written. Versions only grow: never stale.
        self._known: dict[tuple[str, str, str], str | int] = {}

    def _remember(self, known_key: tuple[str, str, str], version: str | int) -> None:
        if len(self._known) >= KNOWN_LIMIT:  # a long-lived container: start afresh
            self._known.clear()
        self._known[known_key] = version

    def _known_at_least(self, known_key: tuple[str, str, str], version: str | int) -> bool:
        known = self._known.get(known_key)
        return known is not None and type(known) is type(version) and known >= version  # type: ignore[operator]

    # -- write primitives ------------------------------------------------------------------
    def _update(
        self,
        key: dict,
        *,
        set_: dict | None = None,
        set_if_absent: dict | None = None,
        add: dict | None = None,
        condition: tuple[str, str, Any] | None = None,
        absent: str | None = None,
    ) -> bool:
        """One UpdateItem; `condition` is (attribute, operator, value): apply only if the
        stored attribute is absent or compares so with value; `absent`: apply only if the
        attribute is absent. False if the condition failed."""
        # Whatever a webhook holds is made storable here, where every update passes.
        (key, set_, set_if_absent, add, condition), repairs = storable_item(
            (key, set_, set_if_absent, add, condition)
        )
        if repairs:
            add = {**(add or {}), "repairs": repairs}
        names: dict[str, str] = {}
        values: dict[str, Any] = {}

        def name(attribute: str) -> str:
            placeholder = f"#n{len(names)}"
            names[placeholder] = attribute
            return placeholder

        def value(v: Any) -> str:
            placeholder = f":v{len(values)}"
            values[placeholder] = v
            return placeholder

        sets = [f"{name(a)} = {value(v)}" for a, v in (set_ or {}).items() if v is not None]
        for attribute, v in (set_if_absent or {}).items():
            if v is not None:
                n = name(attribute)
                sets.append(f"{n} = if_not_exists({n}, {value(v)})")
        adds = [f"{name(a)} {value(v)}" for a, v in (add or {}).items() if v]
        expression = " ".join(
            part
            for part in (
                "SET " + ", ".join(sets) if sets else "",
                "ADD " + ", ".join(adds) if adds else "",
            )
            if part
        )
        request: dict[str, Any] = {"Key": key, "UpdateExpression": expression}
        if condition:
            attribute, operator, limit = condition
            n, v = name(attribute), value(limit)
            request["ConditionExpression"] = f"attribute_not_exists({n}) OR {n} {operator} {v}"
        elif absent:
            request["ConditionExpression"] = f"attribute_not_exists({name(absent)})"
        request["ExpressionAttributeNames"] = names
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            self.table.update_item(**request)
        except ClientError as error:
            if (condition or absent) and _is_condition_failure(error):
                return False
            raise
        return True

    def _newest_wins(
        self,
        key: dict,
        version_attribute: str,
        version: str | int,
        values: dict,
        identity: dict | None = None,
    ) -> bool:
        """SET values (and the identity attributes, if the item has none yet) unless the stored
        version is the same or newer; False if it was (or is known to be, without a write)."""
        known_key = (key["PK"], key["SK"], version_attribute)
        if self._known_at_least(known_key, version):
            return False
        written = self._update(
            key,
            set_={**values, version_attribute: version},
            set_if_absent=identity,
            condition=(version_attribute, "<", version),
        )
        # Written: the item holds this version. Refused: it holds a newer one.
        self._remember(known_key, version)
        return written

    def _put(self, item: dict, **request: Any) -> None:
        item, repairs = storable_item(item)
        if repairs:
            item["repairs"] = set(item.get("repairs") or ()) | repairs
        self.table.put_item(Item=item, **request)

    def _put_once(self, item: dict) -> bool:
        try:
            self._put(item, ConditionExpression="attribute_not_exists(PK)")
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    # -- parked webhooks (the raw archive is greenhook.archive's, in S3) --------------------
    def _raw_attributes(self, raw: RawWebhook) -> dict:
        item: dict[str, Any] = {
            "sha256": raw.sha256,
            "received_at": raw.received_at,
            "body_size": len(raw.body),
        }
        if raw.payload_s3_key:
            item["payload_s3_key"] = raw.payload_s3_key  # the body itself is in S3
        elif (text := raw.text()) is not None:
            item["body"] = text
        else:
            item["body_binary"] = raw.body
        item.update(raw.metadata())
        if raw.repairs:
            item["repairs"] = set(raw.repairs)
        return item

    def park(self, raw: RawWebhook, reason: str) -> bool:
        """Keep a webhook that could not be handled, with why; never expires."""
        item = {
            "PK": keys.webhook(raw.sha256),
            "SK": "PARKED",
            "GSI1PK": keys.PARKED_PARTITION,
            "GSI1SK": f"{raw.received_at}#{raw.sha256}",
            "reason": reason[:2000],
            **self._raw_attributes(raw),
        }
        return self._put_once(item)

    def unpark(self, sha256: str) -> None:
        """Forget a parked webhook once it has been handled (its archive copy stays)."""
        self.table.delete_item(Key={"PK": keys.webhook(sha256), "SK": "PARKED"})

    def _query_all(self, limit: int, **request: Any) -> list[dict]:
        items: list[dict] = []
        while len(items) < limit:
            response = self.table.query(Limit=limit - len(items), **request)
            items += response["Items"]
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return [plain(i) for i in items]

    def _listing(self, partitions: list[str], limit: int) -> list[dict]:
        """Full items listed by a GSI1 partition (the index holds only a few attributes)."""
        found: list[dict] = []
        for partition in partitions:
            found += self._query_all(
                limit - len(found),
                IndexName=keys.GSI1,
                KeyConditionExpression=Key("GSI1PK").eq(partition),
                ScanIndexForward=False,
            )
            if len(found) >= limit:
                break
        return self._get_many(found)

    def _get_many(self, wanted: list[dict]) -> list[dict]:
        """The items with these keys (PK, SK), in that order; absent ones left out."""
        wanted = [{"PK": k["PK"], "SK": k["SK"]} for k in wanted]
        items: dict[tuple[str, str], dict] = {}
        unique = list({(k["PK"], k["SK"]): k for k in wanted}.values())
        for start in range(0, len(unique), 100):  # BatchGetItem takes 100 keys
            request = {self.table.name: {"Keys": unique[start : start + 100]}}
            while request:
                response = self.table.meta.client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.table.name, []):
                    items[(item["PK"], item["SK"])] = item
                request = response.get("UnprocessedKeys") or {}
        ordered = [items.get((k["PK"], k["SK"])) for k in wanted]
        return [plain(i) for i in ordered if i]

    def list_parked(self, limit: int = 50) -> list[dict]:
        """Parked webhooks with their reason, newest first."""
        return [
            {**_archive_view(i), "reason": i.get("reason")}
            for i in self._listing([keys.PARKED_PARTITION], limit)
        ]

    # -- messages --------------------------------------------------------------------------
    def _place_content(self, content: MessageContent) -> dict:
        """Attributes that hold messageData: inline when small, else a CONTENT item or S3."""
        slim, thumbnail_bytes = without_thumbnails(content.message_data)
        slim_json = _compact_json(slim)
        if not thumbnail_bytes and _size(slim_json) <= INLINE_MESSAGE_DATA_LIMIT:
            return {"message_data": slim_json}
        full_json = _compact_json(content.message_data)
        key = keys.message(content.id_instance, content.id_message)
        item: dict[str, Any] = {"PK": key["PK"], "SK": keys.CONTENT_SK, "source": content.source}
        if _size(full_json) <= CONTENT_ITEM_LIMIT:
            item["message_data"] = full_json
        else:
            if self.payloads is None:
                raise RuntimeError("message content over the item limit and no bucket to hold it")
            item["message_data_s3_key"] = self.payloads.put_message_data(
                content.id_instance, content.id_message, repaired(full_json).encode()
            )
        item = {k: v for k, v in item.items() if v is not None}
        try:  # same content on every delivery: idempotent; the first source rule as below
            self._put(item, **_first_content_wins(content.source))
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
        inline = slim_json if _size(slim_json) <= INLINE_MESSAGE_DATA_LIMIT else None
        return {"message_data": inline, "content_item": True, "thumbnail_bytes": thumbnail_bytes}

    def put_message(self, content: MessageContent) -> bool:
        """A message's content, in its chat's timeline, and the chat's activity minute.

        Content from GREEN-API's journal (`source` JOURNAL, greenhook.backfill) is written
        only where none is stored, and a webhook never replaces it: the message's events went
        out with the first content, so a later copy of it must change nothing. A webhook's
        content is rewritten by the same webhook again (idempotent). False if not written."""
        text = content.text
        preview = text[:TEXT_PREVIEW_LIMIT] if text is not None else None
        attributes = {
            "id_instance": content.id_instance,
            "id_message": content.id_message,
            "chat_id": content.chat_id,
            "timestamp": content.timestamp,
            "type_webhook": content.type_webhook,
            "direction": content.direction,
            "type_message": content.type_message,
            "sender": content.sender,
            "sender_name": content.sender_name,
            "chat_name": content.chat_name,
            "text": preview,
            "text_truncated": True if text is not None and len(text) > len(preview or "") else None,
            "stanza_id": content.stanza_id,
            "source": content.source,
            "GSI2PK": keys.chat_timeline(content.id_instance, content.chat_id),
            "GSI2SK": keys.timed_key(content.timestamp, content.id_message),
            **self._place_content(content),
        }
        key = keys.message(content.id_instance, content.id_message)
        if content.source == JOURNAL:
            written = self._update(key, set_=attributes, absent="type_message")
        else:
            written = self._update(key, set_=attributes, condition=("source", "<>", JOURNAL))
        if written:
            # The chat's last message is its timeline's newest (list_chats reads it): no write
            # of the chat item per message, only its activity marker once a minute.
            self._mark_activity(content.id_instance, content.chat_id, content.timestamp)
        return written

    def _mark_activity(self, id_instance: int, chat_id: str, timestamp: int) -> None:
        """The chat's activity marker for this minute, once (list_chats reads them)."""
        marker = keys.activity(id_instance, chat_id, timestamp)
        known_key = (marker["PK"], marker["SK"], "marker")
        if self._known_at_least(known_key, 1):
            return
        self._put({**marker, "id_instance": id_instance, "chat_id": chat_id})
        self._remember(known_key, 1)

    def _message_event(
        self, id_instance: int, id_message: str, attribute: str, event: str, chat_id: str | None
    ) -> None:
        self._update(
            keys.message(id_instance, id_message),
            set_if_absent={
                "id_instance": id_instance,
                "id_message": id_message,
                "chat_id": chat_id,
            },
            add={attribute: {event}},
        )

    def put_message_status(
        self,
        id_instance: int,
        id_message: str,
        status: str,
        timestamp: int,
        chat_id: str | None = None,
        description: str | None = None,
    ) -> None:
        """A status of an outgoing message; kept even if the message is not stored yet."""
        event = _event(timestamp, status, description or "")
        self._message_event(id_instance, id_message, "status_events", event, chat_id)

    def put_edit(
        self,
        id_instance: int,
        id_message: str,
        id_edit: str,
        timestamp: int,
        text: str | None,
        chat_id: str,
    ) -> None:
        """An edit of message id_message (its new full text), in any order with the original."""
        event = _event(timestamp, id_edit, text or "")
        self._message_event(id_instance, id_message, "edit_events", event, chat_id)

    def put_deletion(
        self, id_instance: int, id_message: str, id_deletion: str, timestamp: int, chat_id: str
    ) -> None:
        event = _event(timestamp, id_deletion)
        self._message_event(id_instance, id_message, "deletion_events", event, chat_id)

    def put_reaction(
        self,
        id_instance: int,
        id_message: str,
        id_reaction: str,
        sender: str,
        emoji: str,
        timestamp: int,
        chat_id: str,
    ) -> None:
        """A sender's reaction to id_message; an empty emoji takes their reaction back."""
        event = _event(timestamp, id_reaction, sender, emoji)
        self._message_event(id_instance, id_message, "reaction_events", event, chat_id)

    def put_poll_votes(
        self,
        id_instance: int,
        id_poll: str,
        id_update: str,
        timestamp: int,
        votes: list,
        chat_id: str,
    ) -> bool:
        """The poll's full vote state as of this update; the newest update wins."""
        return self._newest_wins(
            keys.message(id_instance, id_poll),
            "poll_version",
            keys.timed(timestamp, id_update),
            {"poll_votes": _compact_json(votes)},
            {"id_instance": id_instance, "id_message": id_poll, "chat_id": chat_id},
        )

    def get_message(self, id_instance: int, id_message: str) -> dict | None:
        """One message with its content, statuses, edits, deletion and reactions."""
        key = keys.message(id_instance, id_message)
        items = self._query_all(1000, KeyConditionExpression=Key("PK").eq(key["PK"]))
        by_sk = {i["SK"]: i for i in items}
        if keys.MESSAGE_SK not in by_sk:
            return None
        view = message_view(by_sk[keys.MESSAGE_SK])
        if content := by_sk.get(keys.CONTENT_SK):
            if "message_data" in content:
                view["message_data"] = json.loads(content["message_data"])
            elif self.payloads is not None:
                data = self.payloads.get(content["message_data_s3_key"])
                view["message_data"] = json.loads(data)
            else:
                view["message_data_s3_key"] = content["message_data_s3_key"]
        return view

    def message_items(self, id_instance: int, ids: list[str]) -> dict[str, dict]:
        """The stored message items of these idMessages (absent ones left out), by id."""
        items = self._get_many([keys.message(id_instance, i) for i in ids])
        return {i["id_message"]: i for i in items if "id_message" in i}

    def _newest_in_gsi2(self, partition: str, limit: int) -> list[dict]:
        """Keys of a GSI2 partition's newest `limit` entries (the index holds keys only)."""
        return self._query_all(
            limit,
            IndexName=keys.GSI2,
            KeyConditionExpression=Key("GSI2PK").eq(partition),
            ScanIndexForward=False,
        )

    def list_messages(self, id_instance: int, chat_id: str, limit: int = 100) -> list[dict]:
        """A chat's newest `limit` messages, oldest first (incoming and outgoing)."""
        items = self._get_many(
            self._newest_in_gsi2(keys.chat_timeline(id_instance, chat_id), limit)
        )
        return [message_view(i, brief=True) for i in reversed(items)]

    def list_chats(self, id_instance: int, limit: int = 50) -> list[dict]:
        """An instance's chats, most recently active first.

        The activity markers, newest minute first, name each chat first at its last active
        minute; the whole minute at the limit is read, then the chats are ordered by their
        exact last activity. Chats stored before the markers existed are listed from their
        older GSI2 entries.
        """
        chat_ids: list[str] = []
        boundary = None
        request: dict[str, Any] = {
            "KeyConditionExpression": Key("PK").eq(keys.chats_by_activity(id_instance)),
            "ScanIndexForward": False,
            "ProjectionExpression": "SK, chat_id",
        }
        while True:
            response = self.table.query(**request)
            for marker in response["Items"]:
                minute = keys.activity_minute(marker["SK"])
                if boundary is not None and minute != boundary:
                    break
                if marker["chat_id"] not in chat_ids:
                    chat_ids.append(marker["chat_id"])
                    if len(chat_ids) == limit:
                        boundary = minute  # the rest of this minute may still come first
            else:
                if "LastEvaluatedKey" in response:
                    request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
                    continue
            break
        legacy = self._newest_in_gsi2(keys.chats_by_activity(id_instance), limit)
        chat_ids += [i["chat_id"] for i in self._get_many(legacy) if i["chat_id"] not in chat_ids]
        return self._chat_views(id_instance, chat_ids)[:limit]

    def _chat_views(self, id_instance: int, chat_ids: list[str]) -> list[dict]:
        """Chats with their newest message, most recent first (chats without one left out):
        the newest timeline entry of each, then the messages and chat items by key."""
        newest: dict[str, dict] = {}
        for chat_id in chat_ids:
            found = self._newest_in_gsi2(keys.chat_timeline(id_instance, chat_id), 1)
            if found:
                newest[chat_id] = found[0]
        ordered = sorted(newest, key=lambda c: newest[c]["GSI2SK"], reverse=True)
        messages = {i["PK"]: i for i in self._get_many([newest[c] for c in ordered])}
        items = self._get_many([keys.chat(id_instance, c) for c in ordered])
        chats = {i["chat_id"]: i for i in items if "chat_id" in i}
        views = []
        for chat_id in ordered:
            message = messages.get(newest[chat_id]["PK"], {})
            chat = chats.get(chat_id, {})
            text = message.get("text")
            views.append(
                chat_view(
                    {
                        **chat,
                        "chat_id": chat_id,
                        "chat_name": message.get("chat_name") or chat.get("chat_name"),
                        "last_activity_at": message.get("timestamp"),
                        "last_id_message": message.get("id_message"),
                        "last_direction": message.get("direction"),
                        "last_type_message": message.get("type_message"),
                        "last_sender_name": message.get("sender_name"),
                        "last_text": text[:200] if text else text,
                    }
                )
            )
        return views

    def get_chat(self, id_instance: int, chat_id: str) -> dict | None:
        """A chat with its newest message; one with none (only a block or an avatar) as its
        item holds it."""
        views = self._chat_views(id_instance, [chat_id])
        if views:
            return views[0]
        item = self.table.get_item(Key=keys.chat(id_instance, chat_id)).get("Item")
        return chat_view(plain(item)) if item else None

    def put_chat_block(
        self, id_instance: int, chat_id: str, chat_state: str, timestamp: int
    ) -> bool:
        """incomingBlock: the contact blocked the instance (newest notice wins)."""
        return self._newest_wins(
            keys.chat(id_instance, chat_id),
            "chat_state_version",
            keys.timed(timestamp, chat_state),
            {"chat_state": chat_state, "chat_state_at": timestamp},
            {"id_instance": id_instance, "chat_id": chat_id},
        )

    def put_avatar(self, id_instance: int, chat_id: str, avatar: dict, timestamp: int) -> bool:
        """A contact's avatar answer (deviceInfo with avatarInfo); newest wins."""
        return self._newest_wins(
            keys.chat(id_instance, chat_id),
            "avatar_version",
            keys.timed(timestamp, _compact_json(avatar)),
            {"avatar": avatar, "avatar_at": timestamp},
            {"id_instance": id_instance, "chat_id": chat_id},
        )

    # -- calls -----------------------------------------------------------------------------
    def put_call_status(
        self,
        id_instance: int,
        id_call: str,
        status: str,
        timestamp: int,
        details: dict,
    ) -> None:
        """One status of a call; the call is listed by its earliest status time."""
        key = keys.call(id_instance, id_call)
        event = _event(timestamp, status)
        timestamp = keys.bounded(timestamp)  # compared as a number: it must stay one
        common = {"id_instance": id_instance, "id_call": id_call, **details}
        # Known: the stored start is at or before -(that value), so this status is no start.
        known_key = (key["PK"], key["SK"], "started_at")
        started = not self._known_at_least(known_key, -timestamp) and self._update(
            key,
            set_={
                "started_at": timestamp,
                "GSI2PK": keys.calls(id_instance),
                "GSI2SK": keys.timed_key(timestamp, id_call),
            },
            set_if_absent=common,
            add={"call_events": {event}},
            condition=("started_at", ">", timestamp),
        )
        if not started:  # an earlier status is stored: only add this one
            self._update(key, set_if_absent=common, add={"call_events": {event}})
        self._remember(known_key, -timestamp)

    def put_call_duration(self, id_instance: int, id_call: str, duration: int) -> None:
        """The longest duration reported wins (a later webhook of the call knows more)."""
        duration = keys.bounded(duration)  # compared as a number: it must stay one
        self._update(
            keys.call(id_instance, id_call),
            set_={"duration": duration},
            condition=("duration", "<", duration),
        )

    def list_calls(self, id_instance: int, limit: int = 50) -> list[dict]:
        """An instance's calls, newest first, each with its status sequence."""
        items = self._get_many(self._newest_in_gsi2(keys.calls(id_instance), limit))
        return [call_view(i) for i in items]

    # -- instance --------------------------------------------------------------------------
    @staticmethod
    def _instance_identity(id_instance: int) -> dict:
        return {
            "id_instance": id_instance,
            "GSI2PK": keys.INSTANCES_PARTITION,
            "GSI2SK": str(id_instance),
        }

    def _instance_update(self, id_instance: int, aspect: str, version: str, values: dict) -> bool:
        return self._newest_wins(
            keys.instance(id_instance),
            f"{aspect}_version",
            version,
            values,
            self._instance_identity(id_instance),
        )

    def put_instance_state(
        self, id_instance: int, state: str, timestamp: int, wid: str | None = None
    ) -> bool:
        """Record an instance's state unless a newer one is stored; False if it was older.

        The version is `<timestamp>#<state>`, so two states of the same second settle on the
        same one in any arrival order.
        """
        return self._instance_update(
            id_instance,
            "state",
            keys.timed(timestamp, state),
            {"state_instance": state, "state_timestamp": timestamp, "wid": wid or None},
        )

    def put_instance_status(self, id_instance: int, status: str, timestamp: int) -> bool:
        """statusInstanceChanged (online/offline); the newest wins."""
        return self._instance_update(
            id_instance,
            "status",
            keys.timed(timestamp, status),
            {"status_instance": status, "status_timestamp": timestamp},
        )

    def put_device(self, id_instance: int, device: dict, timestamp: int) -> bool:
        """deviceInfo (phone model, battery); the newest wins."""
        return self._instance_update(
            id_instance,
            "device",
            keys.timed(timestamp, _compact_json(device)),
            {"device": device, "device_timestamp": timestamp},
        )

    def put_quota(self, id_instance: int, quota: dict, timestamp: int | None) -> bool:
        """quotaExceeded; the newest wins (a notice without a timestamp ranks oldest)."""
        return self._instance_update(
            id_instance,
            "quota",
            keys.timed(timestamp, _compact_json(quota)),
            {"quota": quota, "quota_timestamp": timestamp},
        )

    def touch_instance(self, id_instance: int, timestamp: int) -> bool:
        """The minute of the newest webhook seen from the instance (its start): one write a
        minute at most, and the same value in any order of delivery."""
        minute = keys.bounded(timestamp) // 60 * 60  # compared as a number: it must stay one
        return self._newest_wins(
            keys.instance(id_instance),
            "last_webhook_at",
            minute,
            {},
            self._instance_identity(id_instance),
        )

    def put_monitor(self, id_instance: int, checked_at: int, finding: dict) -> bool:
        """What the instance monitor found (greenhook.monitor); a later check wins. The
        instance is not listed for it (list_instances: those that have sent webhooks)."""
        return self._newest_wins(
            keys.instance(id_instance),
            "monitor_checked_at",
            checked_at,
            {"monitor": finding},
            {"id_instance": id_instance},
        )

    def claim_heal(self, id_instance: int, now: int, every_seconds: int) -> bool:
        """Take the instance's one re-registration per `every_seconds`; False if taken. A
        conditional write, so two monitor runs at once cannot both re-register."""
        return self._update(
            keys.instance(id_instance),
            set_={"monitor_healed_at": now},
            condition=("monitor_healed_at", "<=", now - every_seconds),
        )

    def get_instance(self, id_instance: int) -> dict | None:
        item = self.table.get_item(Key=keys.instance(id_instance)).get("Item")
        return instance_view(plain(item)) if item else None

    def list_instances(self) -> list[int]:
        """The instances that have sent webhooks, by idInstance."""
        items = self._query_all(
            1000,
            IndexName=keys.GSI2,
            KeyConditionExpression=Key("GSI2PK").eq(keys.INSTANCES_PARTITION),
        )
        return sorted(int(i["GSI2SK"]) for i in items)


def _archive_view(item: dict) -> dict:
    """An archive or parked item as the tools show it."""
    return {
        "id": item.get("sha256"),
        "received_at": item.get("received_at"),
        "type_webhook": item.get("type_webhook"),
        "id_instance": item.get("id_instance"),
        "body": item.get("body"),
        "payload_s3_key": item.get("payload_s3_key"),
        "repairs": item.get("repairs") or [],
    }


class Payloads:
    """Large bodies that ingest put in S3 instead of the queue."""

    PARKED_PREFIX = "parked/"  # outside the lifecycle rule that expires payloads/

    def __init__(self, bucket: str, client: Any = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("s3")
        return self._client

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def put(self, key: str, body: bytes) -> str:
        """Keep a body under `key`; returns the key."""
        self.client.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType="application/json"
        )
        return key

    MESSAGES_PREFIX = "messages/"  # message content too large for an item; never expires

    def put_message_data(self, id_instance: int, id_message: str, data: bytes) -> str:
        """Keep a message's full content (thumbnails and all); returns its key."""
        return self.put(f"{self.MESSAGES_PREFIX}{id_instance}/{id_message}.json", data)

    def keep(self, key: str) -> str:
        """Copy a payload out of the expiring prefix (for parked webhooks); returns the new key."""
        kept = self.PARKED_PREFIX + key.rsplit("/", 1)[-1]
        self.client.copy_object(
            Bucket=self.bucket, Key=kept, CopySource={"Bucket": self.bucket, "Key": key}
        )
        return kept


class SecretDocuments:
    """JSON documents in Secrets Manager: GREEN-API credentials, registration state."""

    def __init__(self, client: Any = None) -> None:
        self.client = client or boto3.client("secretsmanager")

    def read_text(self, secret_id: str) -> str:
        return self.client.get_secret_value(SecretId=secret_id).get("SecretString") or ""

    def read(self, secret_id: str) -> dict:
        text = self.read_text(secret_id).strip()
        return json.loads(text) if text else {}

    def write(self, secret_id: str, document: dict) -> None:
        self.client.put_secret_value(SecretId=secret_id, SecretString=json.dumps(document))

"""greenhook's one DynamoDB table (and the S3 bucket for large bodies), behind one interface.

Single-table keys (documented in the README):
  raw archive     PK=WEBHOOK#<sha256>       SK=ARCHIVE   GSI1=ARCHIVE#<day>, <received_at>#<sha256>
  parked          PK=WEBHOOK#<sha256>       SK=PARKED    GSI1=PARKED, <received_at>#<sha256>
  instance state  PK=INSTANCE#<idInstance>  SK=STATE
Keys come from the webhook itself (its SHA-256, its instance), and every write is
conditional, so a repeated or out-of-order delivery leaves the state of one in-order delivery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

ARCHIVE_PREFIX = "ARCHIVE#"
PARKED_INDEX_KEY = "PARKED"
GSI1 = "GSI1"


def _is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals and Binary back to JSON-friendly Python values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and isinstance(value.value, bytes):  # boto3 Binary
        return value.value
    return value


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

    def text(self) -> str | None:
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            return None


class Storage:
    """Reads and convergent writes of greenhook's table."""

    def __init__(self, table_name: str, resource: Any = None) -> None:
        self.table = (resource or boto3.resource("dynamodb")).Table(table_name)

    # -- raw archive -----------------------------------------------------------------------
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
        optional = {
            "source_ip": raw.source_ip,
            "type_webhook": raw.type_webhook,
            "id_instance": raw.id_instance,
            "timestamp": raw.timestamp,
        }
        item.update({k: v for k, v in optional.items() if v is not None})
        return item

    def archive(self, raw: RawWebhook, retention_days: int) -> bool:
        """Store a raw body once (first write wins); False if it was already archived."""
        received = datetime.fromisoformat(raw.received_at)
        item = {
            "PK": f"WEBHOOK#{raw.sha256}",
            "SK": "ARCHIVE",
            "GSI1PK": f"{ARCHIVE_PREFIX}{raw.received_at[:10]}",
            "GSI1SK": f"{raw.received_at}#{raw.sha256}",
            "expires_at": int((received + timedelta(days=retention_days)).timestamp()),
            **self._raw_attributes(raw),
        }
        return self._put_once(item)

    def park(self, raw: RawWebhook, reason: str) -> bool:
        """Keep a webhook that could not be handled, with why; never expires."""
        item = {
            "PK": f"WEBHOOK#{raw.sha256}",
            "SK": "PARKED",
            "GSI1PK": PARKED_INDEX_KEY,
            "GSI1SK": f"{raw.received_at}#{raw.sha256}",
            "reason": reason[:2000],
            **self._raw_attributes(raw),
        }
        return self._put_once(item)

    def _put_once(self, item: dict) -> bool:
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(PK)")
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def get_archived(self, sha256: str) -> dict | None:
        item = self.table.get_item(Key={"PK": f"WEBHOOK#{sha256}", "SK": "ARCHIVE"}).get("Item")
        return _plain(item) if item else None

    def _listing(self, partitions: list[str], limit: int) -> list[dict]:
        keys: list[dict] = []
        for partition in partitions:
            response = self.table.query(
                IndexName=GSI1,
                KeyConditionExpression=Key("GSI1PK").eq(partition),
                ScanIndexForward=False,
                Limit=limit - len(keys),
            )
            keys += [{"PK": i["PK"], "SK": i["SK"]} for i in response["Items"]]
            if len(keys) >= limit:
                break
        items = [self.table.get_item(Key=key).get("Item") for key in keys]
        return [_plain(i) for i in items if i]

    def list_archive(self, limit: int = 50, days: int = 7) -> list[dict]:
        """The newest archived webhooks (received in the last `days` days), newest first."""
        today = datetime.now(UTC).date()
        partitions = [f"{ARCHIVE_PREFIX}{today - timedelta(days=d)}" for d in range(days)]
        return [_archive_view(i) for i in self._listing(partitions, limit)]

    def list_parked(self, limit: int = 50) -> list[dict]:
        """Parked webhooks with their reason, newest first."""
        return [
            {**_archive_view(i), "reason": i.get("reason")}
            for i in self._listing([PARKED_INDEX_KEY], limit)
        ]

    # -- instance --------------------------------------------------------------------------
    def put_instance_state(
        self, id_instance: int, state: str, timestamp: int, wid: str | None = None
    ) -> bool:
        """Record an instance's state unless a newer one is stored; False if it was older.

        The version is `<timestamp>#<state>`, so two states of the same second settle on the
        same one in any arrival order.
        """
        version = f"{timestamp:012d}#{state}"
        try:
            self.table.update_item(
                Key={"PK": f"INSTANCE#{id_instance}", "SK": "STATE"},
                UpdateExpression=(
                    "SET state_instance = :state, state_timestamp = :ts, state_version = :v, "
                    "id_instance = :id" + (", wid = :wid" if wid else "")
                ),
                ConditionExpression="attribute_not_exists(state_version) OR state_version < :v",
                ExpressionAttributeValues={
                    ":state": state,
                    ":ts": timestamp,
                    ":v": version,
                    ":id": id_instance,
                    **({":wid": wid} if wid else {}),
                },
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def get_instance(self, id_instance: int) -> dict | None:
        item = self.table.get_item(Key={"PK": f"INSTANCE#{id_instance}", "SK": "STATE"}).get("Item")
        return _plain(item) if item else None


def _archive_view(item: dict) -> dict:
    """An archive or parked item as the tools show it."""
    return {
        "id": item.get("sha256"),
        "received_at": item.get("received_at"),
        "type_webhook": item.get("type_webhook"),
        "id_instance": item.get("id_instance"),
        "body": item.get("body"),
        "payload_s3_key": item.get("payload_s3_key"),
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

"""DynamoDB write units as DynamoDB bills them, counted on a client's real writes.

Used by bench figures (d) and (g) and by the write-unit ceiling tests: one meter, so a
figure and a test cannot disagree. moto's own ConsumedCapacity is probed (`moto_capacity`)
and used only where it is right.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
import moto

WRITE_OPERATIONS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}


def attribute_size(value: Any) -> int:
    """Bytes DynamoDB counts for one attribute value (the developer guide's item-size rules)."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, int | float | Decimal):
        digits = Decimal(str(value)).normalize().as_tuple().digits
        return (len(digits) + 1) // 2 + 1  # 1 byte per two significant digits, plus 1
    if isinstance(value, bytes | bytearray):
        return len(value)
    if hasattr(value, "value") and isinstance(value.value, bytes):  # boto3 Binary
        return len(value.value)
    if isinstance(value, set | frozenset):
        return sum(attribute_size(v) for v in value)
    if isinstance(value, list):
        return 3 + sum(1 + attribute_size(v) for v in value)
    if isinstance(value, dict):
        return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in value.items())
    raise TypeError(f"no DynamoDB size for {type(value).__name__}")


def item_size(item: dict | None) -> int:
    """Bytes DynamoDB counts for an item: attribute names plus values."""
    return sum(len(k.encode()) + attribute_size(v) for k, v in (item or {}).items())


def kilobytes(size: int) -> int:
    """Write units of an item of `size` bytes: 1 per KB started, at least 1."""
    return max(1, math.ceil(size / 1024))


@dataclass(frozen=True)
class Index:
    """What a global secondary index holds of an item."""

    key_names: tuple[str, ...]
    projected: tuple[str, ...] | None  # None: ALL

    def entry(self, item: dict | None, table_keys: tuple[str, ...]) -> dict | None:
        """The item's index entry, or None when it lacks the index's keys."""
        if item is None or any(name not in item for name in self.key_names):
            return None
        names = item if self.projected is None else (*table_keys, *self.key_names, *self.projected)
        return {name: item[name] for name in names if name in item}


@dataclass
class WriteCost:
    """One write request and what it consumed (one element per item it wrote)."""

    operation: str
    condition_failed: bool = False
    table_units: int = 0
    index_units: dict[str, int] = field(default_factory=dict)
    reported: dict | list | None = None  # moto's ConsumedCapacity, as it answered


def write_units(
    before: dict | None, after: dict | None, indexes: dict[str, Index], table_keys: tuple[str, ...]
) -> tuple[int, dict[str, int]]:
    """Write units of one successful item write: the larger of the item before and after, and
    per index 1 write of the entry put or changed, 2 when its keys changed, 0 if unchanged."""
    table = max(kilobytes(item_size(before)), kilobytes(item_size(after)))
    units: dict[str, int] = {}
    for name, index in indexes.items():
        old, new = index.entry(before, table_keys), index.entry(after, table_keys)
        if old == new:
            continue
        same_keys = (
            old is not None and new is not None and all(old[k] == new[k] for k in index.key_names)
        )
        if same_keys:
            units[name] = max(kilobytes(item_size(old)), kilobytes(item_size(new)))
        else:
            units[name] = sum(kilobytes(item_size(e)) for e in (old, new) if e is not None)
    return table, units


class WriteMeter:
    """Counts one DynamoDB client's write requests and computes what each costs.

    botocore event hooks on the client: before each write the item(s) it touches are read
    (consistently, through another client, so the reads are neither counted nor hooked) and
    ReturnConsumedCapacity=INDEXES is added; after it they are read again and compared.
    The parameter goes in at before-parameter-build: boto3 answers provide-client-params with
    its own copy of the parameters, so a change there is lost.
    """

    def __init__(self, client: Any, table_name: str, session: Any = None) -> None:
        self.table_name = table_name
        # A session of its own: its reads must not show in request counts on the default one.
        session = session or boto3.Session()
        self.reader = session.resource("dynamodb").Table(table_name)
        description = self.reader.meta.client.describe_table(TableName=table_name)["Table"]
        self.table_keys = tuple(k["AttributeName"] for k in description["KeySchema"])
        self.indexes = {
            gsi["IndexName"]: Index(
                key_names=tuple(k["AttributeName"] for k in gsi["KeySchema"]),
                projected={"ALL": None, "KEYS_ONLY": ()}.get(
                    gsi["Projection"]["ProjectionType"],
                    tuple(gsi["Projection"].get("NonKeyAttributes", ())),
                ),
            )
            for gsi in description.get("GlobalSecondaryIndexes", [])
        }
        self.writes: list[WriteCost] = []
        self._spent = threading.local()  # seconds this thread spent metering (bench (g))
        client.meta.events.register("provide-client-params.dynamodb", self._before)
        client.meta.events.register("before-parameter-build.dynamodb", self._ask_capacity)
        client.meta.events.register("after-call.dynamodb", self._after)

    def _keys(self, operation: str, params: dict) -> list[dict]:
        if operation == "PutItem":
            return [{k: params["Item"][k] for k in self.table_keys}]
        if operation in ("UpdateItem", "DeleteItem"):
            return [params["Key"]]
        requests_ = params["RequestItems"].get(self.table_name, [])  # BatchWriteItem
        return [
            {k: r["PutRequest"]["Item"][k] for k in self.table_keys}
            if "PutRequest" in r
            else r["DeleteRequest"]["Key"]
            for r in requests_
        ]

    def _read(self, key: dict) -> dict | None:
        return self.reader.get_item(Key=key, ConsistentRead=True).get("Item")

    def spent(self) -> float:
        """Seconds the calling thread spent in the meter's own reads since the last call."""
        spent, self._spent.seconds = getattr(self._spent, "seconds", 0.0), 0.0
        return spent

    def _timed(self, started: float) -> None:
        self._spent.seconds = getattr(self._spent, "seconds", 0.0) + time.perf_counter() - started

    def _before(self, params: dict, model: Any, context: dict, **_: Any) -> None:
        if model.name in WRITE_OPERATIONS:
            started = time.perf_counter()
            keys = self._keys(model.name, params)
            context["bench_before"] = [(key, self._read(key)) for key in keys]
            self._timed(started)

    def _ask_capacity(self, params: dict, model: Any, **_: Any) -> None:
        if model.name in WRITE_OPERATIONS:
            params["ReturnConsumedCapacity"] = "INDEXES"

    def _after(self, parsed: dict, model: Any, context: dict, **_: Any) -> None:
        if model.name not in WRITE_OPERATIONS:
            return
        started = time.perf_counter()
        try:
            self._measure(parsed, model, context)
        finally:
            self._timed(started)
            # for another after-call hook timing the call: this part was the meter's
            context["meter_after_seconds"] = time.perf_counter() - started

    def _measure(self, parsed: dict, model: Any, context: dict) -> None:
        cost = WriteCost(model.name, reported=parsed.get("ConsumedCapacity"))
        for key, before in context.pop("bench_before"):
            if "Error" in parsed:
                # A failed condition still costs the size of the item it was checked
                # against (at least 1), and writes no index.
                code = parsed["Error"].get("Code")
                cost.condition_failed = code == "ConditionalCheckFailedException"
                cost.table_units += kilobytes(item_size(before))
                continue
            table, indexes = write_units(before, self._read(key), self.indexes, self.table_keys)
            cost.table_units += table
            for name, units in indexes.items():
                cost.index_units[name] = cost.index_units.get(name, 0) + units
        self.writes.append(cost)

    def take(self) -> list[WriteCost]:
        """The writes counted since the last take."""
        taken, self.writes = self.writes, []
        return taken

    def units(self, writes: list[WriteCost]) -> float:
        """Table and index units of some writes, all told (computed, not moto's)."""
        return sum(c.table_units + sum(c.index_units.values()) for c in writes)


def moto_capacity(table: Any) -> tuple[bool, str]:
    """Whether moto's ConsumedCapacity is right for writes, and what it answered.

    Probed on one item of about 3 KB with a listing-index entry: DynamoDB would say 3 units
    for the table and 1 for the index for the PutItem, and for an UpdateItem that moves the
    entry's sort key 3 and 2 (the old entry deleted, the new one put).
    """
    from greenhook.keys import GSI2

    key = {"PK": "BENCH#capacity-probe", "SK": "PROBE"}
    item = {**key, "GSI2PK": "BENCH#capacity-probe", "GSI2SK": "0", "padding": "x" * 3000}
    put = table.put_item(Item=item, ReturnConsumedCapacity="INDEXES").get("ConsumedCapacity")
    update = table.update_item(
        Key=key,
        UpdateExpression="SET padding = :p, GSI2SK = :k",
        ExpressionAttributeValues={":p": "y" * 3000, ":k": "1"},
        ReturnConsumedCapacity="INDEXES",
    ).get("ConsumedCapacity")
    table.delete_item(Key=key)
    size = kilobytes(item_size(item))

    def right(capacity: dict | None, index_units: int) -> bool:
        return (
            capacity is not None
            and capacity.get("Table", {}).get("CapacityUnits") == size
            and capacity.get("GlobalSecondaryIndexes", {}).get(GSI2, {}).get("CapacityUnits")
            == index_units
        )

    def said(capacity: dict | None) -> str:
        if capacity is None:
            return "no ConsumedCapacity"
        indexes = capacity.get("GlobalSecondaryIndexes") or "no GSI figure"
        return f"{capacity.get('CapacityUnits')} units, {indexes}"

    return right(put, 1) and right(update, 2), (
        f"moto {moto.__version__}, for a {item_size(item) / 1024:.1f} KB item with an index entry "
        f"(DynamoDB: {size} + 1 units, moved {size} + 2):\n"
        f"      PutItem {said(put)}; UpdateItem {said(update)}"
    )


def reported(cost: WriteCost) -> list[dict]:
    return cost.reported if isinstance(cost.reported, list) else [cost.reported or {}]


def reported_units(cost: WriteCost) -> tuple[float, dict[str, float]]:
    table, indexes = 0.0, {}
    for capacity in reported(cost):
        table += capacity.get("Table", {}).get("CapacityUnits", 0)
        for name, units in capacity.get("GlobalSecondaryIndexes", {}).items():
            indexes[name] = indexes.get(name, 0) + units["CapacityUnits"]
    return table, indexes


def reported_total(writes: list[WriteCost]) -> float:
    """The units moto reported for these writes, all told."""
    return sum(c.get("CapacityUnits", 0) for cost in writes for c in reported(cost))

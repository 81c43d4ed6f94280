"""Any value a webhook can carry, made into one DynamoDB accepts, saying what had to change.

DynamoDB refuses, for their content alone: a number with more than 38 significant digits or
outside 1E-130..1E+126 (and NaN or infinity), a string that is not valid Unicode (a lone
surrogate, which JSON's `"\\ud800"` escape produces), maps and lists nested deeper than 32
levels. A webhook may hold any of them. Refusing would park a valid webhook (or, before
this module, fail its record into the DLQ and hold its chat); the raw archive keeps the exact
bytes anyway, so the stored view is repaired instead: such a number is kept as its text, a
lone surrogate becomes U+FFFD, a value nested too deep is kept as its JSON text. Each repair
is named, and the item records the names in its `repairs` set.
"""

from __future__ import annotations

import decimal
import json
import re
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT

# DynamoDB allows 32 levels; the item's own attribute map is the first.
MAX_DEPTH = 30
# Far beyond any GREEN-API shape (six levels); pydantic serialises at most 255.
MAX_DOCUMENT_DEPTH = 64
SURROGATES = "lone surrogates replaced"
NUMBERS = "numbers out of DynamoDB's range kept as text"
NESTING = "values nested too deep kept as JSON text"

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _number(value: int | float | decimal.Decimal) -> tuple[Any, str | None]:
    try:
        text = str(value) if isinstance(value, float) else value
        return DYNAMODB_CONTEXT.create_decimal(text), None
    except (decimal.DecimalException, ValueError):
        # Decimal's text, not int's: str() of an int over 4,300 digits raises.
        return str(decimal.Decimal(value) if isinstance(value, int) else value), NUMBERS


def _json_text(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=True, default=str)
    except (RecursionError, ValueError):
        return "<nested too deep to keep here: see the raw archive>"


def repaired(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, so that it encodes as UTF-8."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def storable(
    value: Any, repairs: set[str], depth: int = 1, *, max_depth: int = MAX_DEPTH, numbers=True
) -> Any:
    """`value` as DynamoDB takes it (floats as Decimal); adds each repair made to `repairs`."""
    if isinstance(value, str):
        if _LONE_SURROGATE.search(value):
            repairs.add(SURROGATES)
            return repaired(value)
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | decimal.Decimal):
        if not numbers:
            return value
        number, repair = _number(value)
        if repair:
            repairs.add(repair)
        return number
    if isinstance(value, dict | list | tuple) and depth >= max_depth:
        repairs.add(NESTING)
        return storable(_json_text(value), repairs, depth)

    def inner(item: Any, level: int) -> Any:
        return storable(item, repairs, level, max_depth=max_depth, numbers=numbers)

    if isinstance(value, dict):
        return {inner(k, depth): inner(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [inner(v, depth + 1) for v in value]
    if isinstance(value, set | frozenset):
        return {inner(v, depth) for v in value}
    return value  # bytes and boto3's Binary are stored as they are


def readable(document: dict, repairs: set[str]) -> dict:
    """A parsed webhook as the models can take it: lone surrogates replaced (pydantic refuses
    them in its string fields) and values nested past MAX_DOCUMENT_DEPTH kept as JSON text
    (pydantic cannot serialise them back). Numbers stay as they are: storage sees to them."""
    return storable(document, repairs, 0, max_depth=MAX_DOCUMENT_DEPTH, numbers=False)


def storable_item(item: dict) -> tuple[dict, set[str]]:
    """A whole item (or a map of attribute values) made storable, and the repairs made."""
    repairs: set[str] = set()
    return storable(item, repairs, depth=0), repairs

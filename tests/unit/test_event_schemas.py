"""The event schemas: one per detail-type, valid draft-04, the same in template.yaml, and
strict enough to refuse a wrong event. (Real events of every detail-type, from the table's
stream, are checked against them in tests/integration/test_stream_event_schemas.py.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from boto3.dynamodb.types import TypeSerializer
from jsonschema import Draft4Validator, ValidationError

from greenhook import changes
from greenhook.changes import BusinessEvent, record_events
from greenhook.publish import ENTRY_LIMIT, entry_size, fitted_entry
from greenhook_dev import event_schemas
from greenhook_dev.template_resources import TEMPLATE_PATH, load_template

_serializer = TypeSerializer()
BUS = "greenhook-events"


def _record(sk: str, new: dict, old: dict | None = None, sequence: str = "4200") -> dict:
    """A DynamoDB stream record as Lambda gets it, images in DynamoDB JSON."""
    dynamodb = {
        "Keys": {"PK": {"S": new["PK"]}, "SK": {"S": sk}},
        "NewImage": {k: _serializer.serialize(v) for k, v in new.items()},
        "SequenceNumber": sequence,
        "ApproximateCreationDateTime": 1_700_000_100,
    }
    if old is not None:
        dynamodb["OldImage"] = {k: _serializer.serialize(v) for k, v in old.items()}
    return {"eventName": "MODIFY" if old else "INSERT", "dynamodb": dynamodb}


def _instance_event() -> dict:
    instance = {"PK": "INSTANCE#1101000001", "SK": "STATE", "id_instance": 1101000001}
    new = {**instance, "state_instance": "authorized", "state_timestamp": 1_700_000_000}
    (event,) = record_events(_record("STATE", new, instance))
    return event_schemas.delivered(event.entry(BUS))


def _message_event(message_data: str) -> BusinessEvent:
    item = {
        "PK": "MSG#1101000001#M1",
        "SK": "MESSAGE",
        "id_instance": 1101000001,
        "id_message": "M1",
        "chat_id": "79001234567@c.us",
        "timestamp": 1_700_000_000,
        "type_webhook": "incomingMessageReceived",
        "direction": "incoming",
        "type_message": "textMessage",
        "sender": "79001234567@c.us",
        "text": "hi",
        "message_data": message_data,
    }
    (event,) = record_events(_record("MESSAGE", item))
    return event


def test_one_schema_per_detail_type() -> None:
    files = {p.stem for p in event_schemas.SCHEMAS_DIR.glob("*.json")}
    assert files == {event_schemas.name(t) for t in changes.DETAIL_TYPES}


@pytest.mark.parametrize("detail_type", changes.DETAIL_TYPES)
def test_schema_is_draft4_in_the_registry_s_shape(detail_type: str) -> None:
    schema = event_schemas.load(detail_type)
    Draft4Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert schema["title"] == event_schemas.name(detail_type)
    assert schema["x-amazon-events-source"] == changes.SOURCE
    assert schema["x-amazon-events-detail-type"] == detail_type
    assert schema["properties"]["detail-type"]["enum"] == [detail_type]
    assert schema["properties"]["source"]["enum"] == [changes.SOURCE]
    assert schema["properties"]["detail"] == {"$ref": f"#/definitions/{schema['title']}"}
    text = json.dumps(schema)
    for later_keyword in ('"$defs"', '"const"', '"$id"', '"if"', '"exclusiveMinimum": 0'):
        assert later_keyword not in text


def test_template_holds_every_schema() -> None:
    resources = load_template()["Resources"]
    assert resources[event_schemas.REGISTRY_ID]["Type"] == "AWS::EventSchemas::Registry"
    schemas = {k: r for k, r in resources.items() if r["Type"] == "AWS::EventSchemas::Schema"}
    assert set(schemas) == {f"EventSchema{event_schemas.name(t)}" for t in changes.DETAIL_TYPES}
    for detail_type in changes.DETAIL_TYPES:
        properties = schemas[f"EventSchema{event_schemas.name(detail_type)}"]["Properties"]
        assert properties["SchemaName"] == event_schemas.schema_name(detail_type)
        assert properties["Type"] == "JSONSchemaDraft4"
        assert properties["RegistryName"] == {
            "Fn::GetAtt": [event_schemas.REGISTRY_ID, "RegistryName"]
        }
        assert json.loads(properties["Content"]) == event_schemas.load(detail_type)


def test_template_is_up_to_date() -> None:
    text = TEMPLATE_PATH.read_text()
    assert event_schemas.synced(text) == text, "run python -m greenhook_dev.event_schemas --write"


def test_writer_inserts_once_then_replaces_only_its_block() -> None:
    template = (
        "Resources:\n  Before:\n    Type: X\n\n"
        f"{event_schemas.ANCHOR}\n  # more\n  After:\n    Type: Y\n"
    )
    inserted = event_schemas.synced(template)
    assert inserted.startswith(
        "Resources:\n  Before:\n    Type: X\n\n" + event_schemas.BEGIN_MARKER
    )
    assert inserted.endswith(
        f"{event_schemas.END_MARKER}\n\n{event_schemas.ANCHOR}\n  # more\n  After:\n    Type: Y\n"
    )
    assert event_schemas.synced(inserted) == inserted
    stale = inserted.replace("SchemaName: greenhook@", "SchemaName: old@")
    assert event_schemas.synced(stale) == inserted


def test_a_delivered_event_validates() -> None:
    event = _instance_event()
    assert event["detail-type"] == changes.INSTANCE_STATE_CHANGED
    assert event["time"] == "2023-11-14T22:15:00Z"
    assert event["resources"] == []
    event_schemas.validate(event)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda e: e["detail"].pop("event_id"),
        lambda e: e["detail"].update(version=42),
        lambda e: e["detail"].update(event_id="not-hex"),
        lambda e: e["detail"].update(id_instance="1101000001"),
        lambda e: e["detail"].update(to=None),
        lambda e: e["detail"]["view"].update(state_timestamp="yesterday"),
        lambda e: e["detail"]["view"].pop("wid"),
        lambda e: e.update(source="someone.else"),
        lambda e: e.update(time="yesterday"),
        lambda e: e.pop("region"),
        lambda e: e.update({"detail-type": "Something Else"}),  # no schema at all
    ],
)
def test_a_wrong_event_fails(spoil) -> None:
    event = _instance_event()
    spoil(event)
    with pytest.raises(ValidationError):
        event_schemas.validate(event)


def test_added_fields_do_not_break_the_schemas() -> None:
    event = _instance_event()
    event["detail"]["view"]["battery_saver"] = True
    event["detail"]["new_field"] = 1
    event["replay-name"] = "after-the-fix"  # EventBridge adds it to replayed events
    event_schemas.validate(event)


def test_a_truncated_event_validates() -> None:
    event = _message_event(json.dumps({"typeMessage": "textMessage", "x": "y" * ENTRY_LIMIT}))
    entry = fitted_entry(event, BUS)
    assert entry is not None and entry_size(entry) <= ENTRY_LIMIT
    delivered = event_schemas.delivered(entry)
    assert delivered["detail"]["view_truncated"] is True
    assert "message_data" not in delivered["detail"]["view"]
    event_schemas.validate(delivered)

    without_view = {**event.detail, "view": None, "view_truncated": True}
    small = BusinessEvent(event.detail_type, without_view, datetime.now(UTC)).entry(BUS)
    event_schemas.validate(event_schemas.delivered(small))

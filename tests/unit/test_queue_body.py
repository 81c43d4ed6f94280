import base64

import pytest

from greenhook.queue import BASE64, message_text, payload_key, sha256_hex


def test_utf8_json_travels_as_itself(event_bytes):
    body = event_bytes("incomingMessageReceived.json")
    assert message_text(body) == (body.decode("utf-8"), None)


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\x00garbage",  # not UTF-8
        b'{"typeWebhook": "x\x00"}',  # NUL: valid UTF-8, refused by SQS
        b"\x01\x02",
        "\ufffe".encode(),  # a non-character SQS refuses
    ],
)
def test_bodies_sqs_refuses_travel_base64(body):
    text, encoding = message_text(body)
    assert encoding == BASE64
    assert base64.b64decode(text) == body


def test_payload_key_is_by_day_and_hash():
    digest = sha256_hex(b"x")
    assert payload_key(digest, "2026-11-27T10:00:00.000+00:00") == f"payloads/2026-11-27/{digest}"

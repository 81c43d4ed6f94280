"""The ingest handler against moto: who gets in, what is kept, what each caller is told."""

import base64
import json

import pytest
from aws_lambda_powertools.utilities import parameters

from greenhook.observability import logger

GREEN_API_IP = "51.250.84.44"


def test_webhook_is_enqueued_raw_in_its_chat_group(pipeline, event_bytes):
    body = event_bytes("incomingMessageReceived.json")
    status, answer = pipeline.post(body)
    assert (status, answer) == (200, {"status": "accepted"})
    (message,) = pipeline.queued()
    assert message["Body"].encode() == body  # byte for byte, emoji and Cyrillic included
    assert message["Attributes"]["MessageGroupId"] == "7103220992:79876543210@c.us"
    assert len(message["Attributes"]["MessageDeduplicationId"]) == 64
    attributes = message["MessageAttributes"]
    assert attributes["source_ip"]["StringValue"] == GREEN_API_IP
    assert attributes["received_at"]["StringValue"].startswith("20")


def test_identical_resend_is_deduplicated_by_sqs(pipeline, sample_body):
    assert pipeline.post(sample_body)[0] == 200
    assert pipeline.post(sample_body)[0] == 200
    assert len(pipeline.queued()) == 1


@pytest.mark.parametrize(
    ("source_ip", "status"),
    [
        (GREEN_API_IP, 200),
        ("51.250.84.45", 403),
        ("203.0.113.3", 200),
        ("203.0.113.4", 403),
        ("2001:db8:10::abcd", 200),
        ("2001:db8:11::1", 403),
        ("::ffff:51.250.84.44", 200),
        (None, 403),
        ("garbage", 403),
    ],
)
def test_source_ip_allowlist(pipeline, sample_body, source_ip, status):
    assert pipeline.post(sample_body, source_ip=source_ip)[0] == status
    assert len(pipeline.queued()) == (1 if status == 200 else 0)


def test_x_forwarded_for_cannot_spoof_an_allowed_ip(pipeline, sample_body):
    status, answer = pipeline.post(
        sample_body,
        source_ip="198.51.100.7",
        headers={"x-forwarded-for": GREEN_API_IP, "x-real-ip": GREEN_API_IP},
    )
    assert (status, answer) == (403, {"error": "forbidden"})
    assert pipeline.queued() == []


def test_a_forbidden_ip_is_refused_before_the_token_is_looked_at(pipeline, sample_body):
    assert pipeline.post(sample_body, source_ip="198.51.100.7", authorization=None)[0] == 403


@pytest.mark.parametrize(
    ("make_header", "status"),
    [
        (lambda t: None, 401),
        (lambda t: "", 401),
        (lambda t: "Bearer ", 401),
        (lambda t: "Bearer wrong-token", 401),
        (lambda t: f"Bearer {t[:-1]}", 401),  # a prefix of the real token
        (lambda t: f"Bearer {t}X", 401),
        (lambda t: f"Digest {t}", 401),
        (lambda t: f"Bearer {t}", 200),
        (lambda t: f"Basic {t}", 200),
        (lambda t: t, 200),
        (lambda t: f"bearer {t}", 200),
        (lambda t: f"  Bearer    {t}  ", 200),
    ],
)
def test_token_matrix(pipeline, sample_body, make_header, status):
    code, answer = pipeline.post(sample_body, authorization=make_header(pipeline.token))
    assert code == status
    if status == 401:
        assert answer == {"error": "unauthorized"}
    assert len(pipeline.queued()) == (1 if status == 200 else 0)


def test_rejections_never_log_the_token(pipeline, sample_body, caplog):
    pipeline.post(sample_body, authorization=f"Bearer {pipeline.token}")
    pipeline.post(sample_body, authorization=f"Bearer {pipeline.token[:-3]}")
    pipeline.post(sample_body, authorization=f"Bearer {pipeline.token}", source_ip="198.51.100.7")
    # Each record as the function's JSON log line would show it, extra keys included.
    lines = [logger.registered_formatter.format(record) for record in caplog.records]
    reasons = [json.loads(line).get("reason") for line in lines]
    assert "wrong token" in reasons and "source IP not in the allowlist" in reasons
    assert not [line for line in lines if pipeline.token[:-3] in line]


def test_previous_token_is_accepted_during_rotation(pipeline, sample_body):
    secrets = pipeline.session.client("secretsmanager")
    secrets.put_secret_value(
        SecretId=pipeline.stack.refs["WebhookTokenSecret"],
        SecretString=json.dumps({"token": "new-token-1", "previous_token": pipeline.token}),
    )
    parameters.clear_caches()  # as when the token cache's max_age has passed
    assert pipeline.post(sample_body, authorization="Bearer new-token-1")[0] == 200
    assert pipeline.post(sample_body, authorization=f"Bearer {pipeline.token}")[0] == 200
    assert pipeline.post(sample_body, authorization="Bearer new-token-")[0] == 401


def test_missing_token_in_secret_fails_closed(pipeline, sample_body):
    pipeline.session.client("secretsmanager").put_secret_value(
        SecretId=pipeline.stack.refs["WebhookTokenSecret"], SecretString='{"token": ""}'
    )
    status, answer = pipeline.post(sample_body, authorization="Bearer ")
    assert (status, answer) == (503, {"error": "temporarily unavailable"})
    assert pipeline.queued() == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("this is not json", "body is not valid JSON"),
        ("[1, 2, 3]", "body is not a JSON object"),
        ('{"instanceData": {"idInstance": 1}}', "body has no typeWebhook"),
    ],
)
def test_authenticated_unusable_body_is_kept_and_answered_200(pipeline, body, reason):
    status, answer = pipeline.post(body)
    assert status == 200
    assert answer == {"status": "quarantined", "reason": reason, "kept": True}
    (message,) = pipeline.queued()
    assert message["Body"] == body
    assert message["Attributes"]["MessageGroupId"] == "quarantine"


def test_invalid_utf8_is_kept_byte_for_byte(pipeline):
    body = b'{"typeWebhook": "x", "text": "\xff\xfe"}'
    status, answer = pipeline.post(body, base64_body=True)
    assert status == 200 and answer["reason"] == "body is not valid UTF-8"
    (message,) = pipeline.queued()
    assert message["MessageAttributes"]["body_encoding"]["StringValue"] == "base64"
    assert base64.b64decode(message["Body"]) == body


def test_base64_encoded_webhook_is_decoded(pipeline, sample_body):
    status, answer = pipeline.post(sample_body, base64_body=True)
    assert (status, answer) == (200, {"status": "accepted"})
    (message,) = pipeline.queued()
    assert message["Body"].encode() == sample_body


@pytest.mark.parametrize("body", [None, "", "   \n"])
def test_empty_body_is_a_clear_400(pipeline, body):
    assert pipeline.post(body) == (400, {"error": "empty body"})
    assert pipeline.queued() == []


def test_broken_base64_is_a_clear_400(pipeline):
    event = pipeline.http_event("x")
    event.update(body="%%%not base64%%%", isBase64Encoded=True)
    response = pipeline.ingest_function(event)
    assert response["statusCode"] == 400
    assert json.loads(response["body"]) == {"error": "body is not valid base64"}


def test_very_large_body_goes_to_s3_and_a_pointer_is_queued(pipeline, event_json):
    webhook = event_json("incomingMessageReceived.json")
    webhook["messageData"] = {
        "typeMessage": "imageMessage",
        "fileMessageData": {"jpegThumbnail": "A" * 2_000_000, "downloadUrl": "https://x/y"},
    }
    body = json.dumps(webhook).encode()
    assert pipeline.post(body) == (200, {"status": "accepted"})
    (message,) = pipeline.queued()
    key = message["MessageAttributes"]["payload_s3_key"]["StringValue"]
    assert len(message["Body"]) < 1000
    stored = pipeline.session.client("s3").get_object(
        Bucket=pipeline.stack.refs["PayloadBucket"], Key=key
    )
    assert stored["Body"].read() == body


def test_queue_failure_answers_503_so_green_api_retries(pipeline, sample_body):
    pipeline.sqs.delete_queue(QueueUrl=pipeline.queue_url)
    status, answer = pipeline.post(sample_body)
    assert (status, answer) == (503, {"error": "temporarily unavailable"})


def test_secret_failure_answers_503(pipeline, sample_body):
    pipeline.session.client("secretsmanager").delete_secret(
        SecretId=pipeline.stack.refs["WebhookTokenSecret"], ForceDeleteWithoutRecovery=True
    )
    assert pipeline.post(sample_body) == (503, {"error": "temporarily unavailable"})
    assert pipeline.queued() == []

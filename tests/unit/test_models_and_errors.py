import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from pydantic import ValidationError

from greenhook.models import StateInstanceChanged, UnknownWebhook, parse_webhook
from greenhook.transient import is_transient


def test_state_change_parses_into_its_model(event_json):
    webhook = parse_webhook(event_json("stateInstanceChanged.json"))
    assert isinstance(webhook, StateInstanceChanged)
    assert webhook.stateInstance == "authorized"
    assert webhook.instanceData.idInstance == 1101000001


def test_large_instance_id_and_new_state_are_accepted():
    webhook = parse_webhook(
        {
            "typeWebhook": "stateInstanceChanged",
            "instanceData": {"idInstance": "7103220992", "wid": "", "typeInstance": "whatsapp"},
            "timestamp": 1700000000,
            "stateInstance": "suspended",
            "somethingNew": {"kept": True},
        }
    )
    assert webhook.instanceData.idInstance == 7103220992
    assert webhook.model_dump()["somethingNew"] == {"kept": True}


def test_unknown_type_falls_back_and_keeps_everything():
    webhook = parse_webhook({"typeWebhook": "brandNew", "instanceData": {"idInstance": 1}, "x": 1})
    assert isinstance(webhook, UnknownWebhook)
    assert webhook.model_dump()["x"] == 1


@pytest.mark.parametrize(
    "document",
    [
        {"typeWebhook": "stateInstanceChanged", "instanceData": {"idInstance": 1}, "timestamp": 1},
        {"typeWebhook": "stateInstanceChanged", "timestamp": 1, "stateInstance": "authorized"},
        {"typeWebhook": "x", "instanceData": {"idInstance": "abc"}},
    ],
)
def test_invalid_webhooks_raise(document):
    with pytest.raises(ValidationError):
        parse_webhook(document)


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutItem",
    )


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_client_error("ProvisionedThroughputExceededException", 400), True),
        (_client_error("ThrottlingException", 400), True),
        (_client_error("InternalServerError", 500), True),
        (_client_error("SomethingNew", 503), True),
        (_client_error("ValidationException", 400), False),
        (_client_error("ResourceNotFoundException", 400), False),
        (_client_error("AccessDeniedException", 400), False),
        (EndpointConnectionError(endpoint_url="https://dynamodb"), True),
        (ReadTimeoutError(endpoint_url="https://dynamodb"), True),
        (_client_error("TooManyRequestsException", 429), True),
        (_client_error("ConditionalCheckFailedException", 400), False),
        (TimeoutError(), True),
        (ValueError("bug"), False),
        (RecursionError(), False),
    ],
)
def test_only_throttling_service_and_network_errors_are_transient(error, transient):
    assert is_transient(error) is transient

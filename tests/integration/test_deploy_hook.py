"""The GreenApiRegistration custom resource against the fake GREEN-API, end to end.

The real register function (functions/register/app.py) gets the events CloudFormation
sends; its one response is PUT to a local stand-in for the pre-signed response URL.
"""

from __future__ import annotations

import json
import logging

import boto3
import pytest
from moto import mock_aws

from greenhook.observability import logger
from greenhook_dev.cfn_response import ResponseReceiver, custom_resource_event
from greenhook_dev.fake_green_api import FakeGreenApi
from greenhook_dev.lambda_runtime import LocalFunction
from greenhook_dev.template_resources import create_stack

ID_INSTANCE = 1101000001
API_TOKEN = "d75b3a66374942c5b3c019c698abc2067e151558acbd412345"
OLD_URL = "https://old.example.com/hook"


class Hook:
    """The stack's registration resource, invoked as CloudFormation would."""

    def __init__(self, stack, fake, receiver, function):
        self.stack, self.fake, self.receiver, self.function = stack, fake, receiver, function
        self.physical_id = None

    def __call__(self, request_type: str, **kwargs) -> dict:
        before = len(self.receiver.responses)
        event = custom_resource_event(
            self.stack,
            "GreenApiRegistration",
            request_type,
            self.receiver.url,
            physical_id=self.physical_id,
            **kwargs,
        )
        self.function(event)
        responses = self.receiver.responses[before:]
        assert len(responses) == 1, responses  # exactly one answer, always
        (response,) = responses
        assert response["RequestId"] == event["RequestId"]
        if response["Status"] == "SUCCESS":
            self.physical_id = response["PhysicalResourceId"]
        return response

    def set_settings_calls(self) -> int:
        return sum(1 for c in self.fake.calls if c[0].lower() == "setsettings" and c[2] == 200)

    @property
    def token(self) -> str:
        secret = self.stack.refs["WebhookTokenSecret"]
        value = boto3.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"]
        return json.loads(value)["token"]


@pytest.fixture
def hook(monkeypatch):
    fake = FakeGreenApi(instances={ID_INSTANCE: API_TOKEN}, apply_delay=0.0)
    with fake, ResponseReceiver() as receiver, mock_aws():
        session = boto3.session.Session(region_name="eu-central-1")
        stack = create_stack(
            session,
            parameters={
                "GreenApiIdInstance": str(ID_INSTANCE),
                "GreenApiTokenInstance": API_TOKEN,
                "GreenApiUrl": fake.url,
            },
        )
        stack.refs["WebhookApi"] = "abc123"  # the HTTP API's id, as CloudFormation knows it
        function = LocalFunction.from_template(stack, "RegisterFunction")
        function.timeout = 60
        yield Hook(stack, fake, receiver, function)


def webhook_url(hook: Hook) -> str:
    return hook.stack.resolve(
        hook.stack.template["Resources"]["GreenApiRegistration"]["Properties"]["WebhookUrl"]
    )


def test_create_registers_url_token_and_switches_then_confirms(hook):
    response = hook("Create")
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert response["PhysicalResourceId"] == f"greenhook-registration-{ID_INSTANCE}"
    assert response["Data"] == {"IdInstance": str(ID_INSTANCE), "Changed": "true"}
    applied = hook.fake.settings(ID_INSTANCE)
    assert applied["webhookUrl"] == webhook_url(hook)
    assert applied["webhookUrlToken"] == hook.token
    assert applied["incomingWebhook"] == "yes" and applied["deviceWebhook"] == "no"
    assert hook.set_settings_calls() == 1


def test_no_set_settings_when_nothing_differs(hook):
    assert hook("Create")["Status"] == "SUCCESS"
    response = hook("Update")
    assert response["Status"] == "SUCCESS"
    assert response["Data"]["Changed"] == "false"
    assert hook.set_settings_calls() == 1  # only the Create's: an Update must not reboot


def test_rate_limited_set_settings_is_retried(hook):
    hook.fake.fail_next("setSettings", 429)
    response = hook("Create")
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert hook.fake.settings(ID_INSTANCE)["webhookUrl"] == webhook_url(hook)
    statuses = [c[2] for c in hook.fake.calls if c[0].lower() == "setsettings"]
    assert statuses == [429, 200]


def test_settings_that_apply_late_are_waited_for(hook):
    hook.fake.apply_delay = 3.0
    response = hook("Create")
    assert response["Status"] == "SUCCESS", response["Reason"]
    reads = [c for c in hook.fake.calls if c[0].lower() == "getsettings"]
    assert len(reads) >= 3  # read, then polled until the new values showed
    assert hook.fake.settings(ID_INSTANCE)["webhookUrl"] == webhook_url(hook)


@pytest.mark.parametrize("wrong", ["token", "instance"])
def test_wrong_credentials_fail_the_deploy_with_a_readable_reason(hook, wrong):
    secret = hook.stack.refs["GreenApiCredentialsSecret"]
    credentials = {"idInstance": ID_INSTANCE, "apiTokenInstance": "nope", "apiUrl": hook.fake.url}
    if wrong == "instance":
        credentials.update(idInstance=999, apiTokenInstance=API_TOKEN)
    boto3.client("secretsmanager").put_secret_value(
        SecretId=secret, SecretString=json.dumps(credentials)
    )
    response = hook("Create")
    assert response["Status"] == "FAILED"
    assert "GREEN-API rejected the credentials" in response["Reason"]
    assert "nope" not in response["Reason"] and API_TOKEN not in response["Reason"]


def test_an_instance_that_is_not_authorized_fails_the_deploy(hook):
    hook.fake.set_state(ID_INSTANCE, "notAuthorized")
    response = hook("Create")
    assert response["Status"] == "FAILED"
    assert "'notAuthorized', not 'authorized'" in response["Reason"]
    assert hook.set_settings_calls() == 0


def test_delete_restores_the_previous_endpoint(hook):
    hook.fake.preset(ID_INSTANCE, {"webhookUrl": OLD_URL, "webhookUrlToken": "old-secret"})
    assert hook("Create")["Status"] == "SUCCESS"
    assert hook("Update")["Status"] == "SUCCESS"  # an Update keeps the first previous value
    response = hook("Delete")
    assert response["Status"] == "SUCCESS"
    assert response["Reason"] == "restored the previous webhookUrl"
    applied = hook.fake.settings(ID_INSTANCE)
    assert (applied["webhookUrl"], applied["webhookUrlToken"]) == (OLD_URL, "old-secret")


def test_delete_clears_when_there_was_nothing_before(hook):
    assert hook("Create")["Status"] == "SUCCESS"
    assert hook("Delete")["Reason"] == "cleared webhookUrl"
    assert hook.fake.settings(ID_INSTANCE)["webhookUrl"] == ""


def test_delete_leaves_a_url_someone_else_set_since(hook):
    assert hook("Create")["Status"] == "SUCCESS"
    hook.fake.preset(ID_INSTANCE, {"webhookUrl": "https://someone.else/hook"})
    response = hook("Delete")
    assert response["Status"] == "SUCCESS"
    assert hook.fake.settings(ID_INSTANCE)["webhookUrl"] == "https://someone.else/hook"


def test_green_api_down_does_not_fail_a_delete(hook):
    assert hook("Create")["Status"] == "SUCCESS"
    hook.fake.down()
    response = hook("Delete")
    assert response["Status"] == "SUCCESS"
    assert "getSettings: HTTP 503" in response["Reason"]  # what was left undone, and why


def test_delete_after_a_failed_create_succeeds_without_calling_green_api(hook):
    hook.fake.set_state(ID_INSTANCE, "blocked")
    assert hook("Create")["Status"] == "FAILED"
    calls = len(hook.fake.calls)
    hook.physical_id = "GreenApiRegistration-some-request"  # what a failed Create reported
    response = hook("Delete")
    assert response["Status"] == "SUCCESS"
    assert len(hook.fake.calls) == calls


def test_the_watchdog_answers_before_the_lambda_times_out(hook):
    hook.fake.apply_delay = 3600  # settings never show within the function's time
    hook.function.timeout = 12  # 10 s watchdog margin: the work gets 2 s
    response = hook("Create")
    assert response["Status"] == "FAILED"
    assert "did not finish" in response["Reason"] or "still shows old values" in response["Reason"]


def test_no_log_line_or_response_carries_a_token(hook, caplog):
    # greenhook's own lines at every level, and urllib3's DEBUG lines (which quote request
    # URLs, where GREEN-API puts the token). botocore's DEBUG dump of secret values is
    # botocore's business and never enabled by greenhook.
    caplog.set_level(logging.DEBUG, logger=logger.name)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    hook.fake.fail_next("setSettings", 500)
    hook("Create")
    hook("Update")
    hook.fake.down()
    hook("Delete")
    lines = [logger.registered_formatter.format(r) for r in caplog.records]
    lines += [json.dumps(r) for r in hook.receiver.responses]
    assert lines
    for secret in (API_TOKEN, hook.token):
        assert not [line for line in lines if secret in line]

"""custom_resource.handle answers CloudFormation exactly once, whatever the action does."""

import time

import pytest

from greenhook.custom_resource import Result, handle
from greenhook_dev.cfn_response import ResponseReceiver


def event(request_type: str, url: str, physical_id: str | None = None) -> dict:
    e = {
        "RequestType": request_type,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:eu-central-1:123456789012:stack/s/1",
        "RequestId": "req-1",
        "LogicalResourceId": "GreenApiRegistration",
        "ResourceProperties": {},
    }
    if physical_id:
        e["PhysicalResourceId"] = physical_id
    return e


def ok(_event, _budget):
    return Result("phys-1", {"Changed": "true"}, "done")


def boom(_event, _budget):
    raise RuntimeError("GREEN-API said no")


def slow(_event, _budget):
    time.sleep(2.5)
    return Result("phys-1", reason="finished late")


@pytest.fixture
def receiver():
    with ResponseReceiver() as r:
        yield r


def test_success_is_answered_with_data(receiver):
    assert (
        handle(event("Create", receiver.url), 60, on_create_update=ok, on_delete=boom) == "SUCCESS"
    )
    (response,) = receiver.responses
    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == "phys-1"
    assert response["Data"] == {"Changed": "true"}
    assert response["Reason"] == "done"
    assert (response["RequestId"], response["LogicalResourceId"]) == (
        "req-1",
        "GreenApiRegistration",
    )


def test_an_exception_fails_create_with_its_message(receiver):
    assert (
        handle(event("Create", receiver.url), 60, on_create_update=boom, on_delete=ok) == "FAILED"
    )
    (response,) = receiver.responses
    assert response["Reason"] == "RuntimeError: GREEN-API said no"
    assert response["PhysicalResourceId"] == "GreenApiRegistration-req-1"


def test_an_exception_never_fails_a_delete(receiver):
    status = handle(
        event("Delete", receiver.url, "phys-1"), 60, on_create_update=ok, on_delete=boom
    )
    assert status == "SUCCESS"
    (response,) = receiver.responses
    assert response["PhysicalResourceId"] == "phys-1"
    assert "GREEN-API said no" in response["Reason"]


@pytest.mark.parametrize(("request_type", "status"), [("Update", "FAILED"), ("Delete", "SUCCESS")])
def test_the_watchdog_answers_before_the_timeout_and_only_once(receiver, request_type, status):
    started = time.monotonic()
    # 11 s left, 10 s margin: the watchdog fires after 1 s while the action still runs.
    handle(event(request_type, receiver.url, "phys-1"), 11, on_create_update=slow, on_delete=slow)
    assert time.monotonic() - started >= 2.5  # the action ran to its end...
    (response,) = receiver.responses  # ...but its late result was not sent again
    assert response["Status"] == status
    assert "did not finish" in response["Reason"]

"""moto_states: state machines run on moto's ASL engine in a ThreadedMotoServer started in
this process, as the local stack runs them, with Lambda Tasks routed to in-process handlers."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from greenhook_dev import moto_states

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/x"
INVOKE = "arn:aws:states:::lambda:invoke"


def arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


ROTATE, FETCH, CONFIRM, FALLBACK = (
    arn(n) for n in ("greenhook-rotate", "greenhook-fetch", "greenhook-confirm", "greenhook-fb")
)


class RotationRejected(Exception):
    pass


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    moto_states.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def sfn(endpoint: str) -> Iterator[Any]:
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    yield boto3.client(
        "stepfunctions",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()


@pytest.fixture
def handlers() -> Iterator[Callable[[str, Callable[[Any], Any]], list]]:
    """register(arn, handler) -> the list of events the handler was called with."""
    registered: list[str] = []

    def register(function_arn: str, handler: Callable[[Any], Any]) -> list:
        calls: list = []

        def recording(event: Any) -> Any:
            calls.append(event)
            return handler(event)

        moto_states.register(function_arn, recording)
        registered.append(function_arn)
        return calls

    yield register
    for function_arn in registered:
        moto_states.unregister(function_arn)


def run(sfn: Any, definition: dict, execution_input: dict | None = None) -> dict:
    machine = sfn.create_state_machine(
        name=f"m-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=machine, input=json.dumps(execution_input or {})
    )["executionArn"]
    return moto_states.wait_for_execution(sfn, execution, timeout=15)


def history(sfn: Any, described: dict) -> list[str]:
    events = sfn.get_execution_history(executionArn=described["executionArn"])["events"]
    return [e["type"] for e in events]


def test_task_chain_passes_data_through_both_resource_styles(sfn, handlers) -> None:
    fetched = handlers(FETCH, lambda event: {"token": f"t-{event['instance']}", "spare": 1})
    rotated = handlers(ROTATE, lambda event: {"old": event["fetched"]["token"], "new": "t-2"})
    confirmed = handlers(CONFIRM, lambda event: "confirmed")
    definition = {
        "StartAt": "Fetch",
        "States": {
            "Fetch": {  # the service integration, its result wrapped like AWS's
                "Type": "Task",
                "Resource": INVOKE,
                "Parameters": {"FunctionName": FETCH, "Payload.$": "$"},
                "ResultSelector": {"token.$": "$.Payload.token", "code.$": "$.StatusCode"},
                "ResultPath": "$.fetched",
                "Next": "Rotate",
            },
            "Rotate": {  # the function's own ARN, qualified: the result as is
                "Type": "Task",
                "Resource": f"{ROTATE}:live",
                "ResultPath": "$.rotated",
                "Next": "Confirm",
            },
            "Confirm": {  # by bare name, the whole Invoke response kept
                "Type": "Task",
                "Resource": INVOKE,
                "Parameters": {"FunctionName": "greenhook-confirm", "Payload.$": "$.rotated"},
                "ResultPath": "$.confirmed",
                "End": True,
            },
        },
    }

    described = run(sfn, definition, {"instance": 7})

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {
        "instance": 7,
        "fetched": {"token": "t-7", "code": 200},
        "rotated": {"old": "t-7", "new": "t-2"},
        "confirmed": {"Payload": "confirmed", "StatusCode": 200, "ExecutedVersion": "$LATEST"},
    }
    assert fetched == [{"instance": 7}]
    assert rotated == [{"instance": 7, "fetched": {"token": "t-7", "code": 200}}]
    assert confirmed == [{"old": "t-7", "new": "t-2"}]


def test_wait_seconds_path_really_waits(sfn, handlers) -> None:
    reached: list[float] = []
    handlers(ROTATE, lambda event: reached.append(time.monotonic()))
    definition = {
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "Wait", "SecondsPath": "$.wait_seconds", "Next": "Rotate"},
            "Rotate": {"Type": "Task", "Resource": ROTATE, "End": True},
        },
    }
    started = time.monotonic()
    described = run(sfn, definition, {"wait_seconds": 1})

    assert described["status"] == "SUCCEEDED"
    assert len(reached) == 1
    assert 1.0 <= reached[0] - started < 3.0
    assert "WaitStateExited" in history(sfn, described)


@pytest.mark.parametrize("style", ["function-arn", "lambda-invoke"])
@pytest.mark.parametrize("catches", ["RotationRejected", "States.TaskFailed", "States.ALL"])
def test_handler_exception_is_caught_by_error_name(sfn, handlers, style, catches) -> None:
    def rotate(event: Any) -> Any:
        raise RotationRejected(f"token refused for {event['instance']}")

    rotations = handlers(ROTATE, rotate)
    fallbacks = handlers(FALLBACK, lambda event: {"restored": True})
    task: dict[str, Any] = {"Type": "Task", "Resource": ROTATE}
    if style == "lambda-invoke":
        task = {
            **task,
            "Resource": INVOKE,
            "Parameters": {"FunctionName": ROTATE, "Payload.$": "$"},
        }
    definition = {
        "StartAt": "Rotate",
        "States": {
            "Rotate": {
                **task,
                "Catch": [
                    {"ErrorEquals": ["ValueError"], "Next": "WrongCatcher"},
                    {"ErrorEquals": [catches], "ResultPath": "$.error", "Next": "Fallback"},
                ],
                "End": True,
            },
            "Fallback": {
                "Type": "Task",
                "Resource": FALLBACK,
                "ResultPath": "$.fallback",
                "Next": "RotationFailed",
            },
            "RotationFailed": {"Type": "Fail", "Error": "RotationFailed", "Cause": "fell back"},
            "WrongCatcher": {"Type": "Fail", "Error": "WrongCatcher"},
        },
    }

    described = run(sfn, definition, {"instance": 7})

    assert (described["status"], described["error"], described["cause"]) == (
        "FAILED",
        "RotationFailed",
        "fell back",
    )
    assert len(rotations) == 1
    (fallback_input,) = fallbacks
    assert fallback_input["instance"] == 7
    assert fallback_input["error"]["Error"] == "RotationRejected"
    cause = json.loads(fallback_input["error"]["Cause"])  # Lambda's error payload
    assert cause["errorType"] == "RotationRejected"
    assert cause["errorMessage"] == "token refused for 7"
    assert cause["stackTrace"]
    assert "ExecutionFailed" in history(sfn, described)


def test_retry_reinvokes_max_attempts_times_then_fails(sfn, handlers) -> None:
    def rotate(event: Any) -> Any:
        raise RotationRejected("still refused")

    calls = handlers(ROTATE, rotate)
    definition = {
        "StartAt": "Rotate",
        "States": {
            "Rotate": {
                "Type": "Task",
                "Resource": INVOKE,
                "Parameters": {"FunctionName": ROTATE, "Payload.$": "$"},
                "Retry": [
                    {
                        "ErrorEquals": ["States.TaskFailed"],
                        "IntervalSeconds": 1,  # the engine's minimum, and it sleeps it
                        "MaxAttempts": 2,
                        "BackoffRate": 1.0,
                    }
                ],
                "End": True,
            }
        },
    }

    described = run(sfn, definition, {"attempt": "x"})

    assert described["status"] == "FAILED"
    assert described["error"] == "RotationRejected"
    assert json.loads(described["cause"])["errorMessage"] == "still refused"
    assert calls == [{"attempt": "x"}] * 3  # the first attempt and MaxAttempts retries
    assert history(sfn, described).count("TaskScheduled") == 3


def test_retry_until_the_handler_succeeds(sfn, handlers) -> None:
    outcomes = iter([RotationRejected("busy"), {"new": "t-2"}])

    def rotate(event: Any) -> Any:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    calls = handlers(ROTATE, rotate)
    definition = {
        "StartAt": "Rotate",
        "States": {
            "Rotate": {
                "Type": "Task",
                "Resource": ROTATE,
                "Retry": [{"ErrorEquals": ["RotationRejected"], "MaxAttempts": 3}],
                "End": True,
            }
        },
    }

    described = run(sfn, definition)

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"new": "t-2"}
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("resource", "parameters", "error"),
    [
        (arn("greenhook-nowhere"), None, "Exception"),
        (INVOKE, {"FunctionName": arn("greenhook-nowhere")}, "Lambda.ResourceNotFoundException"),
    ],
)
def test_unregistered_function_fails_the_execution(
    sfn, handlers, resource, parameters, error
) -> None:
    calls = handlers(arn("greenhook-nowhere"), lambda event: "ran")
    moto_states.unregister(arn("greenhook-nowhere"))
    task: dict[str, Any] = {"Type": "Task", "Resource": resource, "End": True}
    if parameters:
        task["Parameters"] = parameters
    started = time.monotonic()

    described = run(sfn, {"StartAt": "T", "States": {"T": task}})

    assert time.monotonic() - started < 5
    assert described["status"] == "FAILED"
    assert described["error"] == error
    assert "Function not found" in described["cause"]  # this process's moto Lambda answered
    assert calls == []


def test_service_integrations_reach_this_process_moto(sfn, endpoint) -> None:
    # moto's engine would dial localhost:5000, not this server on port 0.
    clients = {
        service: boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        for service in ("secretsmanager", "sqs")
    }
    clients["secretsmanager"].create_secret(Name="greenhook/token", SecretString="old")
    queue_url = clients["sqs"].create_queue(QueueName="rotations")["QueueUrl"]
    definition = {
        "StartAt": "Put",
        "States": {
            "Put": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:secretsmanager:putSecretValue",
                "Parameters": {"SecretId": "greenhook/token", "SecretString.$": "$.token"},
                "ResultPath": "$.put",
                "Next": "Tell",
            },
            "Tell": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {"QueueUrl": queue_url, "MessageBody.$": "$.put.VersionId"},
                "End": True,
            },
        },
    }

    described = run(sfn, definition, {"token": "new"})

    assert described["status"] == "SUCCEEDED", described.get("cause")
    current = clients["secretsmanager"].get_secret_value(SecretId="greenhook/token")
    assert current["SecretString"] == "new"
    (message,) = clients["sqs"].receive_message(QueueUrl=queue_url)["Messages"]
    assert message["Body"] == current["VersionId"]


def test_unserialisable_result_fails_as_lambda_marshal_error(sfn, handlers) -> None:
    handlers(ROTATE, lambda event: {"tokens": {"a", "b"}})
    definition = {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": ROTATE, "End": True}},
    }

    described = run(sfn, definition)

    assert (described["status"], described["error"]) == ("FAILED", "Runtime.MarshalError")


def test_executions_without_a_name_get_their_own(sfn) -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    machine = sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=ROLE)

    arns = [
        sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
        for _ in range(2)
    ]

    assert len(set(arns)) == 2
    assert not any(a.endswith(":None") for a in arns)
    for execution in arns:
        assert moto_states.wait_for_execution(sfn, execution, timeout=5)["status"] == "SUCCEEDED"


def test_function_names_resolve_to_the_registered_handler(handlers) -> None:
    handlers(ROTATE, lambda event: None)
    other_region = ROTATE.replace(REGION, "eu-west-1")
    other_account = ROTATE.replace(ACCOUNT, "210987654321")
    found = {
        name: moto_states.registered_handler(name, REGION) is not None
        for name in [
            ROTATE,
            f"{ROTATE}:live",
            "greenhook-rotate",
            "greenhook-rotate:$LATEST",
            f"{ACCOUNT}:function:greenhook-rotate",
            other_region,
            other_account,
            "greenhook-rotated",
        ]
    }
    assert found == {
        ROTATE: True,
        f"{ROTATE}:live": True,
        "greenhook-rotate": True,
        "greenhook-rotate:$LATEST": True,
        f"{ACCOUNT}:function:greenhook-rotate": True,
        other_region: False,
        other_account: False,
        "greenhook-rotated": False,
    }
    assert moto_states.registered_handler("greenhook-rotate", "eu-west-1") is None
    with pytest.raises(ValueError):
        moto_states.register("greenhook-rotate", lambda event: None)

"""Run Step Functions state machines on moto's own ASL engine, with Lambda tasks in-process.

moto ships a real Amazon States Language interpreter (`moto.stepfunctions.parser`), off
unless its `stepfunctions.execute_state_machine` config is on; without it StartExecution
only records an execution. Its Task states invoke Lambda through a boto3 client on moto's
Lambda, which runs code in Docker, and that we do not have: greenhook's functions run in this
process as Python callables (greenhook_dev.lambda_runtime.LocalFunction). `install()` turns
the engine on for this process (mock_aws and a ThreadedMotoServer started here alike) and
sends an invocation of a `register`ed function to its callable instead, for both resource
styles: `arn:aws:states:::lambda:invoke` (result wrapped as {"Payload": ..., "StatusCode":
200, ...}) and the function's ARN itself (the result as is).

A handler that raises fails the Task as a Lambda function error does on AWS: FunctionError
"Unhandled", the State's error name is the exception's class name (Lambda's errorType), its
cause the JSON error payload ({"errorMessage", "errorType", "requestId", "stackTrace"}),
so `Retry`/`Catch` on that name, on States.TaskFailed and on States.ALL all apply. A result
that is not JSON fails with Runtime.MarshalError, as in Lambda's Python runtime.

Two fixes to moto 5.2.5's engine, both towards AWS:
- the engine's AWS clients (every service integration, e.g. `aws-sdk:secretsmanager:...`,
  `sqs:sendMessage`, and Lambda for unregistered functions) dial http://localhost:$MOTO_PORT
  (5000) outside mock_aws, not the server started here on port 0: they failed with a
  connection error, or reached whatever listens on 5000. They are served by this process's
  moto in-process instead (`moto_client`), the way mock_aws serves them, never by AWS;
- StartExecution without a name gets a UUID, as on AWS; moto named every such execution
  "None", so the second one failed with ExecutionAlreadyExists.
Both stay for the life of the process, like moto_speedups.install().
"""

from __future__ import annotations

import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

Handler = Callable[[Any], Any]
FunctionKey = tuple[str, str, str]  # region, account, function name

_lock = threading.Lock()
_installed = False
_handlers: dict[FunctionKey, Handler] = {}
_clients: dict[tuple[str, str], Any] = {}  # (service, region) -> client on moto in-process
_moto: dict[str, Callable[..., Any]] = {}  # moto's own functions that install() replaced


def _parse_function_name(function_name: str) -> tuple[str | None, str | None, str]:
    """(region, account, name) of any FunctionName Lambda accepts: a name, `name:qualifier`,
    `account:function:name[:qualifier]` or a function ARN (qualified or not)."""
    parts = function_name.split(":")
    if function_name.startswith("arn:") and len(parts) >= 7 and parts[5] == "function":
        return parts[3], parts[4], parts[6]
    if len(parts) >= 3 and parts[1] == "function":
        return None, parts[0], parts[2]
    return None, None, parts[0]


def _key(function_arn: str) -> FunctionKey:
    region, account, name = _parse_function_name(function_arn)
    if not region or not account:
        raise ValueError(f"not a Lambda function ARN: {function_arn!r}")
    return region, account, name


def register(function_arn: str, handler: Handler) -> None:
    """Route invocations of `function_arn` (any qualifier) to `handler(payload) -> result`.

    A LocalFunction is such a handler. Replaces an earlier registration of the function.
    """
    key = _key(function_arn)
    with _lock:
        _handlers[key] = handler


def unregister(function_arn: str) -> None:
    """Stop routing `function_arn`; its invocations go to moto's Lambda again."""
    with _lock:
        _handlers.pop(_key(function_arn), None)


def registered_handler(function_name: str, region: str) -> Handler | None:
    """The handler for an invocation's FunctionName, made in `region` (the Task's)."""
    name_region, account, name = _parse_function_name(function_name)
    region = name_region or region
    with _lock:
        if account is not None:
            return _handlers.get((region, account, name))
        # A bare name means the caller's account, which the engine does not pass here:
        # the one registered function of that name in the region.
        found = [h for (r, _, n), h in _handlers.items() if (r, n) == (region, name)]
    return found[0] if len(found) == 1 else None


def _function_error(error_type: str, message: str, stack: list[str]) -> dict[str, Any]:
    # The payload Lambda's Python runtime returns for an unhandled exception.
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": str(uuid.uuid4()),
        "stackTrace": stack,
    }


def invoke_handler(handler: Handler, payload: bytes | str | None) -> dict[str, Any]:
    """What Lambda's Invoke answers for `handler` run on `payload`, Payload decoded."""
    response: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    event = json.loads(payload) if payload else {}
    try:
        result = handler(event)
    except Exception as error:
        stack = traceback.format_list(traceback.extract_tb(error.__traceback__))
        response["FunctionError"] = "Unhandled"
        response["Payload"] = _function_error(type(error).__name__, str(error), stack)
        return response
    try:
        # Round-tripped, as Lambda serialises it: the state sees what AWS would pass on.
        response["Payload"] = json.loads(json.dumps(result))
    except (TypeError, ValueError) as error:
        response["FunctionError"] = "Unhandled"
        response["Payload"] = _function_error(
            "Runtime.MarshalError", f"Unable to marshal response: {error}", []
        )
    return response


def moto_client(service: str, region: str) -> Any:
    """A boto3 client for `service` served by this process's moto, in-process (as mock_aws
    serves it), whatever port its server has; it never reaches AWS."""
    with _lock:
        if (service, region) not in _clients:
            _clients[service, region] = _new_moto_client(service, region)
        return _clients[service, region]


def _new_moto_client(service: str, region: str) -> Any:
    import boto3
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config
    from botocore.exceptions import EndpointConnectionError
    from moto.core.botocore_stubber import MockRawResponse
    from moto.core.models import botocore_stubber

    def serve(request: Any, **_: Any) -> AWSResponse:
        answer = botocore_stubber.process_request(request)
        if answer is None:  # not a URL moto serves: fail rather than go out to AWS
            raise EndpointConnectionError(endpoint_url=request.url)
        status, headers, body = answer
        return AWSResponse(request.url, status, headers, MockRawResponse(body))

    client = boto3.session.Session().client(  # boto3's default session is not thread-safe
        service,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # moto's dummy credentials: its default account
        config=Config(
            parameter_validation=False,  # as moto's engine: it normalises parameters itself
            retries={"total_max_attempts": 1},
            ignore_configured_endpoint_urls=True,  # AWS's URL, which moto routes by
        ),
    )
    client.meta.events.register_first("before-send", serve)
    return client


def _boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """Replaces the engine's boto_client_for, which (outside mock_aws) dials
    http://localhost:$MOTO_PORT: every service integration's calls, and Lambda's."""
    return moto_client(service, region)


def _invoke_lambda_function(parameters: dict, region: str, state_credentials: Any) -> dict:
    """Replaces lambda_eval_utils._invoke_lambda_function: the Invoke response with its
    Payload decoded, from which the engine raises on FunctionError."""
    handler = registered_handler(str(parameters["FunctionName"]), region)
    if handler is not None:
        return invoke_handler(handler, parameters.get("Payload"))
    return _moto["invoke_lambda_function"](parameters, region, state_credentials)


def _patch_boto_client_for() -> None:
    """Every engine module that imported boto_client_for by name gets ours."""
    import importlib
    from pathlib import Path

    import moto.stepfunctions.parser as parser
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    root = Path(parser.__file__).parent
    for path in sorted(root.rglob("*.py")):
        if "boto_client_for" not in path.read_text(encoding="utf-8"):
            continue
        relative = path.relative_to(root).with_suffix("").parts
        module = importlib.import_module(".".join((parser.__name__, *relative)))
        if getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = _boto_client_for


def _named_start_execution(original: Callable[..., Any]) -> Callable[..., Any]:
    def start_execution(
        self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    return start_execution


def install() -> None:
    """Turn moto's Step Functions engine on in this process and route registered functions.

    Idempotent. Call before creating state machines: the engine has its own backend, so
    those created while it was off are not seen by it.
    """
    global _installed
    with _lock:
        if _installed:
            return
        from moto.core.config import default_user_config
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
            lambda_eval_utils,
        )
        from moto.stepfunctions.parser.models import StepFunctionsParserBackend

        # Set in the dict itself, which mock_aws's patch.dict of the config restores to.
        default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
        # Both Lambda Task styles (StateTaskLambda, StateTaskServiceLambda) invoke through
        # execute_lambda_function_integration, which calls this module-level function.
        _moto["invoke_lambda_function"] = lambda_eval_utils._invoke_lambda_function
        lambda_eval_utils._invoke_lambda_function = _invoke_lambda_function
        _patch_boto_client_for()
        StepFunctionsParserBackend.start_execution = _named_start_execution(
            StepFunctionsParserBackend.start_execution
        )
        _installed = True


def wait_for_execution(
    client: Any, execution_arn: str, timeout: float = 30.0, interval: float = 0.05
) -> dict[str, Any]:
    """describe_execution once the execution has left RUNNING; TimeoutError if it has not
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        described = client.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{execution_arn} still RUNNING after {timeout} s")
        time.sleep(interval)

"""Run greenhook locally: moto + the real handlers behind an HTTP front (`make run`).

No Docker here, so `sam local` cannot run. Instead, in one process:
- moto's server on 127.0.0.1 holds the queue, DLQ, table, secret and bucket, created from
  template.yaml (`template_resources.create_stack`);
- the real ingest and process handlers are loaded from their files with the environment
  the template gives them, pointed at moto through AWS_ENDPOINT_URL;
- an HTTP front plays API Gateway's HTTP API for the ingest function, and a poller plays
  the SQS event source mapping for the process function;
- a stream poller plays the DynamoDB stream's event source mapping for the publish function,
  which puts business events on moto's event bus; a rule on that bus to a queue, read into
  <state-dir>/events.jsonl, is what `greenhook events` shows (greenhook_dev.event_sink);
- a fake GREEN-API instance (greenhook_dev.fake_green_api) stands in for the real one: the
  real register function runs the deploy hook's Create against it, as `sam deploy` would,
  so the instance's webhookUrl and token point at this stack, and the fake can deliver
  webhooks here the way GREEN-API does.
Loopback is added to the sender allowlist here, and only here. The endpoints and the token
go to <state-dir>/stack.json for `greenhook send`/`greenhook archive` and the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer

from greenhook_dev import moto_inprocess, moto_states
from greenhook_dev.cfn_response import ResponseReceiver, custom_resource_event, resource_properties
from greenhook_dev.event_sink import EVENTS_FILE_NAME, EventSink
from greenhook_dev.fake_green_api import FakeGreenApi
from greenhook_dev.http_front import ApiSettings, HttpFront
from greenhook_dev.lambda_runtime import LocalFunction
from greenhook_dev.moto_speedups import install as install_moto_speedups
from greenhook_dev.poller import DEFAULT_RETRY_DELAY, QueuePoller
from greenhook_dev.schedules import ScheduleRunner
from greenhook_dev.stream_poller import StreamPoller, sqs_on_failure
from greenhook_dev.template_resources import (
    LocalStack,
    create_stack,
    function_arn,
    load_template,
)

log = logging.getLogger(__name__)

REGION = "us-east-1"
DEFAULT_PORT = 3000
DEFAULT_STATE_DIR = Path(".local")
STACK_FILE_NAME = "stack.json"
LOOPBACK_CIDRS = ("127.0.0.0/8", "::1/128")
INGEST = "IngestFunction"
PROCESS = "ProcessFunction"
PUBLISH = "PublishFunction"
REGISTER = "RegisterFunction"
MONITOR = "MonitorFunction"
ROTATE = "RotateFunction"
REGISTRATION = "GreenApiRegistration"
LOCAL_INSTANCE = 1101000001
# Locally the token cache is short so that `greenhook rotate-token` is quick to watch
# (the template's TOKEN_CACHE_SECONDS is 300); the fake GREEN-API applies settings after
# 1 s (real: up to minutes) and re-sends a failed webhook after 5 s (real: 60 s).
LOCAL_TOKEN_CACHE_SECONDS = 3
LOCAL_APPLY_DELAY = 1.0
LOCAL_GREEN_API_RETRY = 5.0


class EnvironmentConflict(RuntimeError):
    """Two functions need different values for one variable; one process cannot host both."""


def merged_function_environment(stack: LocalStack, logical_ids: list[str]) -> dict[str, str]:
    """The union of the functions' environments; in one process they must agree."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for logical_id in logical_ids:
        for key, value in stack.function_environment(logical_id).items():
            if key in merged and merged[key] != value:
                raise EnvironmentConflict(
                    f"{key} is {merged[key]!r} for {owner[key]} but {value!r} for {logical_id}"
                )
            merged[key] = value
            owner.setdefault(key, logical_id)
    return merged


def aws_environment(endpoint_url: str, region: str) -> dict[str, str | None]:
    """What points every boto3 client in this process at moto (None = unset)."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
    }


class ProcessEnvironment:
    """Every change this process makes to os.environ goes through here, and is undone."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, values: dict[str, str | None]) -> None:
        for key, value in values.items():
            self._saved.setdefault(key, os.environ.get(key))
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def restore(self) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()


def http_routes(stack: LocalStack, logical_id: str) -> frozenset[str]:
    """Route keys ("POST /path") of the function's HttpApi events."""
    events = stack.function_properties(logical_id).get("Events", {})
    return frozenset(
        f"{e['Properties']['Method'].upper()} {e['Properties']['Path']}"
        for e in events.values()
        if e["Type"] == "HttpApi"
    )


def sqs_event_source(stack: LocalStack, logical_id: str) -> tuple[str, int]:
    """The logical id of the queue feeding the function, and the batch size: from an
    AWS::Lambda::EventSourceMapping naming the function, or from its SAM SQS event."""
    mappings = [
        {**r["Properties"], "Queue": r["Properties"]["EventSourceArn"]}
        for r in stack.template["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"].get("FunctionName") == {"Ref": logical_id}
    ]
    events = stack.function_properties(logical_id).get("Events", {})
    sam_events = [e["Properties"] for e in events.values() if e["Type"] == "SQS"]
    (props,) = mappings + sam_events
    queue_arn = stack.resolve(props["Queue"])
    (queue_id,) = [lid for lid, attrs in stack.attributes.items() if attrs["Arn"] == queue_arn]
    return queue_id, int(props.get("BatchSize", 10))


@dataclass(frozen=True)
class StreamMapping:
    """A function's DynamoDB stream event source, as the template declares it."""

    stream_arn: str
    batch_size: int
    filters: list[str]
    bisect_on_error: bool
    max_retry_attempts: int
    on_failure_queue: str | None  # logical id of the on-failure destination queue


def stream_event_source(stack: LocalStack, logical_id: str) -> StreamMapping:
    (props,) = [
        {k: stack.resolve(v) for k, v in r["Properties"].items() if k != "FunctionName"}
        for r in stack.template["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"].get("FunctionName") == {"Ref": logical_id}
    ]
    destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    queues = [lid for lid, attrs in stack.attributes.items() if attrs.get("Arn") == destination]
    return StreamMapping(
        stream_arn=props["EventSourceArn"],
        batch_size=int(props.get("BatchSize", 100)),
        filters=[f["Pattern"] for f in props.get("FilterCriteria", {}).get("Filters", [])],
        bisect_on_error=bool(props.get("BisectBatchOnFunctionError", False)),
        max_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
        on_failure_queue=queues[0] if queues else None,
    )


def local_parameters(
    template: dict,
    log_level: str | None,
    green_api: FakeGreenApi | None = None,
    handler_modules: str = "",
) -> dict[str, Any]:
    """Template parameters for the local stack: the defaults, plus loopback senders."""
    default_cidrs = template["Parameters"]["AllowedCidrs"].get("Default", "")
    cidrs = [c.strip() for c in default_cidrs.split(",") if c.strip()] + list(LOOPBACK_CIDRS)
    parameters: dict[str, Any] = {"AllowedCidrs": cidrs}
    if green_api is not None:
        parameters.update(
            MonitorIntervalMinutes=1,  # a newcomer sees the monitor's first check within a minute
            GreenApiIdInstance=str(LOCAL_INSTANCE),
            GreenApiTokenInstance=green_api.instances[LOCAL_INSTANCE],
            GreenApiUrl=green_api.url,
        )
    if log_level:
        parameters["LogLevel"] = log_level
    if handler_modules:
        parameters["ExtraHandlerModules"] = handler_modules
    return parameters


@dataclass
class RunningStack:
    """A started local stack: what it runs, what it wrote, and how to stop it."""

    info: dict[str, Any]
    stack: LocalStack
    functions: dict[str, LocalFunction]
    front: HttpFront
    poller: QueuePoller
    stream_poller: StreamPoller
    event_sink: EventSink
    green_api: FakeGreenApi | None = None
    schedules: ScheduleRunner | None = None
    stack_file: Path | None = None
    _stoppers: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        """Stop everything in reverse order of start; remove stack.json."""
        while self._stoppers:
            stopper = self._stoppers.pop()
            try:
                stopper()
            except Exception:
                log.exception("while stopping the local stack")


def _write_atomically(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # Owner-only from the start: the file holds the webhook token.
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)  # readers never see a half-written file


def registration_properties(stack: LocalStack, webhook_url: str) -> dict:
    """The custom resource's properties, with the local front's URL as the webhook URL."""
    return {**resource_properties(stack, REGISTRATION), "WebhookUrl": webhook_url}


def run_deploy_hook(stack: LocalStack, properties: dict) -> dict:
    """Invoke the real register function with CloudFormation's Create event; its response."""
    register = LocalFunction.from_template(stack, REGISTER)
    with ResponseReceiver() as receiver:
        event = custom_resource_event(
            stack, REGISTRATION, "Create", receiver.url, properties=properties
        )
        register(event)
    (response,) = receiver.responses
    if response["Status"] != "SUCCESS":
        raise RuntimeError(f"registering with the fake GREEN-API failed: {response['Reason']}")
    return response


def start_local_stack(
    *,
    port: int = DEFAULT_PORT,
    state_dir: Path | None = DEFAULT_STATE_DIR,
    retry_delay: int = DEFAULT_RETRY_DELAY,
    log_level: str | None = None,
    start_poller: bool = True,
    access_log: Callable[[str], None] | None = None,
    green_api: bool = True,
    handler_modules: str = "",
) -> RunningStack:
    """Start moto, the resources, the handlers, the HTTP front and the poller.

    On failure everything already started is stopped again before the error propagates.
    With `state_dir=None` no stack.json is written (in-process use, e.g. the benchmark).
    """
    stoppers: list[Callable[[], None]] = []
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's line per request
    try:
        install_moto_speedups()  # moto's algorithms, not its HTTP, bound the stack under load
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        stoppers.append(moto.stop)
        host, moto_port = moto.get_host_and_port()
        endpoint_url = f"http://{host}:{moto_port}"
        # moto's state lives in the process, not the server: a second stack started in the
        # same process (tests, the benchmark) must not find the first one's resources.
        requests.post(f"{endpoint_url}/moto-api/reset", timeout=10).raise_for_status()

        fake = None
        if green_api:
            fake = FakeGreenApi(
                instances={LOCAL_INSTANCE: secrets.token_hex(25)},
                apply_delay=LOCAL_APPLY_DELAY,
                retry_interval=LOCAL_GREEN_API_RETRY,
            )
            fake.start()
            stoppers.append(fake.stop)

        environment = ProcessEnvironment()
        stoppers.append(environment.restore)
        environment.set(aws_environment(endpoint_url, REGION))
        session = boto3.Session(region_name=REGION)
        template = load_template()
        parameters = local_parameters(template, log_level, fake, handler_modules)
        stack = create_stack(session, parameters=parameters)
        environment.set(merged_function_environment(stack, [INGEST, PROCESS, PUBLISH]))
        environment.set({"TOKEN_CACHE_SECONDS": str(LOCAL_TOKEN_CACHE_SECONDS)})

        secret = session.client("secretsmanager").get_secret_value(
            SecretId=stack.refs["WebhookTokenSecret"]
        )
        token = json.loads(secret["SecretString"])["token"]
        # From here on this process's own SQS/DynamoDB/EventBridge calls skip the HTTP hop;
        # the resources above were created over HTTP, so their URLs are the server's.
        moto_inprocess.enable(endpoint_url, sessions=(session,))
        stoppers.append(lambda: moto_inprocess.disable(endpoint_url))

        ingest = LocalFunction.from_template(stack, INGEST)
        process = LocalFunction.from_template(stack, PROCESS)
        publish = LocalFunction.from_template(stack, PUBLISH)

        api = ApiSettings(routes=http_routes(stack, INGEST), region=REGION)
        front = HttpFront(ingest, api, port=port, access_log=access_log)
        front.start()
        stoppers.append(front.stop)

        queue_id, batch_size = sqs_event_source(stack, PROCESS)
        poller = QueuePoller(
            session.client("sqs"),
            process,
            queue_url=stack.refs[queue_id],
            queue_arn=stack.attributes[queue_id]["Arn"],
            region=REGION,
            batch_size=batch_size,
            retry_delay=retry_delay,
        )
        if start_poller:
            poller.start()
        stoppers.append(poller.stop)

        events_file = Path(state_dir) / EVENTS_FILE_NAME if state_dir is not None else None
        sink = EventSink(
            session, bus_name=stack.refs["EventBus"], stack_name=stack.stack_name, path=events_file
        )
        sink.start()
        stoppers.append(sink.stop)
        mapping = stream_event_source(stack, PUBLISH)
        on_failure = (
            sqs_on_failure(session.client("sqs"), stack.refs[mapping.on_failure_queue])
            if mapping.on_failure_queue
            else None
        )
        stream_poller = StreamPoller(
            session.client("dynamodbstreams"),
            publish,
            stream_arn=mapping.stream_arn,
            region=REGION,
            batch_size=mapping.batch_size,
            filters=mapping.filters,
            bisect_on_error=mapping.bisect_on_error,
            max_retry_attempts=mapping.max_retry_attempts,
            on_failure=on_failure,
        )
        if start_poller:
            stream_poller.start()
        stoppers.append(stream_poller.stop)

        (route,) = sorted(api.routes)
        webhook_url = front.url + route.split(" ", 1)[1]
        registration: dict[str, Any] = {}
        functions = {INGEST: ingest, PROCESS: process, PUBLISH: publish}
        schedules = None
        if fake is not None:
            stack.refs["WebhookApi"] = api.api_id
            properties = registration_properties(stack, webhook_url)
            run_deploy_hook(stack, properties)  # after the front is up, as on AWS
            # The monitor checks what the deploy hook registered: the local front's URL.
            environment.set(merged_function_environment(stack, [MONITOR, ROTATE]))
            environment.set({"WEBHOOK_URL": properties["WebhookUrl"]})
            monitor = LocalFunction.from_template(stack, MONITOR)
            functions[MONITOR] = monitor
            schedules = ScheduleRunner(
                session.client("scheduler"), {function_arn(REGION, monitor.name): monitor}
            )
            if start_poller:
                schedules.start()
            stoppers.append(schedules.stop)
            # The token rotation's state machine runs on moto's engine; its tasks here.
            rotate = LocalFunction.from_template(stack, ROTATE)
            functions[ROTATE] = rotate
            rotate_arn = function_arn(REGION, rotate.name)
            moto_states.register(rotate_arn, rotate)
            stoppers.append(lambda: moto_states.unregister(rotate_arn))
            registration = {
                "registration": properties,
                "green_api": {"url": fake.url, "id_instance": LOCAL_INSTANCE},
                "token_rotation_arn": stack.refs["TokenRotation"],
            }

        info: dict[str, Any] = {
            "webhook_url": webhook_url,
            "authorization": f"Bearer {token}",
            "aws_endpoint_url": endpoint_url,
            "region": REGION,
            "stack_name": stack.stack_name,
            "table_name": stack.refs["WebhookTable"],
            "queue_url": stack.refs["WebhookQueue"],
            "dlq_url": stack.refs["WebhookDLQ"],
            "bucket_name": stack.refs["PayloadBucket"],
            "event_bus_name": stack.refs["EventBus"],
            "events_file": str(events_file.resolve()) if events_file else None,
            "failed_events_queue_url": stack.refs["FailedEventsQueue"],
            "secret_arn": stack.refs["WebhookTokenSecret"],
            "listen": front.addresses,
            "retry_delay_seconds": retry_delay,
            "token_cache_seconds": LOCAL_TOKEN_CACHE_SECONDS,
            **registration,
            "pid": os.getpid(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        running = RunningStack(
            info=info,
            stack=stack,
            functions=functions,
            front=front,
            poller=poller,
            stream_poller=stream_poller,
            event_sink=sink,
            green_api=fake,
            schedules=schedules,
            _stoppers=stoppers,
        )
        if state_dir is not None:
            stack_file = Path(state_dir) / STACK_FILE_NAME
            _write_atomically(stack_file, info)
            stoppers.append(lambda: stack_file.unlink(missing_ok=True))
            running.stack_file = stack_file
    except BaseException:
        for stopper in reversed(stoppers):
            try:
                stopper()
            except Exception:
                log.exception("while cleaning up a failed start")
        raise
    return running


def _cli_command() -> str:
    """How to call the `greenhook` CLI from here: bare if on PATH, else the venv's script."""
    script = Path(sys.prefix) / "bin" / "greenhook"
    on_path = shutil.which("greenhook")
    if not script.exists() or (on_path and Path(on_path).resolve() == script.resolve()):
        return "greenhook"
    with contextlib.suppress(ValueError):
        return str(script.relative_to(Path.cwd()))
    return str(script)


def banner(running: RunningStack, seconds: float) -> str:
    info = running.info
    stack_file = running.stack_file or "(not written)"
    cli = _cli_command()
    return "\n".join(
        [
            f"greenhook local stack up in {seconds:.1f} s",
            f"  webhook:       POST {info['webhook_url']}",
            f"  authorization: {info['authorization']}",
            f"  AWS (moto):    {info['aws_endpoint_url']}  region {info['region']}",
            f"  state:         {stack_file}",
            *(
                [
                    f"  GREEN-API:     fake instance {info['green_api']['id_instance']} at "
                    f"{info['green_api']['url']}, registered to this stack"
                ]
                if "green_api" in info
                else []
            ),
            "",
            f"  send a sample:   {cli} send events/webhooks/stateInstanceChanged.json",
            f"  see the archive: {cli} archive",
            f"  the events:      {cli} events --follow",
            f"  GREEN-API side:  {cli} settings | {cli} rotate-token --wait --grace 2",
            "  stop:            Ctrl-C",
        ]
    )


def running_stack_pid(stack_file: Path) -> int | None:
    """The pid of a live local stack that owns `stack_file`, if any."""
    try:
        pid = int(json.loads(stack_file.read_text())["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if pid != os.getpid() else None


def _configure_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    dev_log = logging.getLogger("greenhook_dev")
    dev_log.addHandler(handler)
    dev_log.setLevel(logging.WARNING if quiet else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m greenhook_dev.local_stack", description=__doc__.split("\n", 1)[0]
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="HTTP front port (0: any free port)"
    )
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument(
        "--retry-delay",
        type=int,
        default=DEFAULT_RETRY_DELAY,
        metavar="SECONDS",
        help="visibility timeout given to failed records (the template's is 180 s)",
    )
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="the functions' POWERTOOLS_LOG_LEVEL (default: the template's LogLevel)",
    )
    parser.add_argument(
        "--handlers",
        default="",
        metavar="MODULES",
        help="your handler modules (ExtraHandlerModules), e.g. auto_reply for "
        "functions/process/auto_reply.py",
    )
    parser.add_argument("--quiet", action="store_true", help="no banner, no access log")
    args = parser.parse_args(argv)
    _configure_logging(args.quiet)
    other = running_stack_pid(args.state_dir / STACK_FILE_NAME)
    if other:
        print(
            f"a local stack is already running (pid {other}, {args.state_dir / STACK_FILE_NAME});"
            " stop it or pass another --state-dir",
            file=sys.stderr,
        )
        return 1

    stop_requested = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    started = time.perf_counter()
    try:
        running = start_local_stack(
            port=args.port,
            state_dir=args.state_dir,
            retry_delay=args.retry_delay,
            log_level=args.log_level,
            handler_modules=args.handlers,
            access_log=None if args.quiet else lambda line: print(line, flush=True),
        )
    except OSError as error:  # typically: the port is taken
        print(f"cannot start the local stack: {error} (try --port 0)", file=sys.stderr)
        return 1
    try:
        if not args.quiet:
            print(banner(running, time.perf_counter() - started), flush=True)
        while not stop_requested.wait(0.2):
            pass
    finally:
        running.stop()
    if not args.quiet:
        print("greenhook local stack stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

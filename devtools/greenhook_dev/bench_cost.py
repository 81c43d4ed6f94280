"""Bench figure (g): a stated mix of webhooks through the whole local stack over HTTP, with
every AWS meter counted in the same run, priced by `greenhook_dev.cost`.

What is counted, and how:
  * HTTP API requests: the POSTs sent (each 512 KB started is one);
  * Lambda: each function's invocations and billed milliseconds (its handler's own time
    here, less the time it waited for moto, plus AWS_LATENCY_MS per request it made), and
    the bytes its code logs (its Logger lines and metric documents, plus CloudWatch's 26
    bytes per event) and the platform lines Lambda adds unless its LoggingConfig drops them;
  * requests to SQS, DynamoDB, Streams, EventBridge, Firehose, S3: botocore hooks on every
    client the functions create (on the default session) and on the event source
    mappings' clients; the bench's own reads use sessions of their own and are not counted;
  * DynamoDB write units: the WriteMeter on the process function's client.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
import requests

from greenhook_dev import cost
from greenhook_dev.local_stack import INGEST, PROCESS, PUBLISH, RunningStack
from greenhook_dev.webhooks import Instance
from greenhook_dev.write_meter import WriteMeter

CLOUDWATCH_EVENT_OVERHEAD = 26  # bytes CloudWatch Logs counts per log event
# Lambda's own lines per invocation when they are kept, as it writes them (arm64, 2026):
# text: START, END, REPORT (with an XRAY line part when traced); JSON: platform.start and
# platform.report. A SystemLogLevel of WARN or above drops them all.
PLATFORM_TEXT_BYTES = 71 + 52 + 160
PLATFORM_JSON_BYTES = 140 + 330
XRAY_SAMPLED_SHARE = 0.05  # X-Ray's default rule at volume: 5% (plus 1 a second)
FUNCTIONS = {"ingest": INGEST, "process": PROCESS, "publish": PUBLISH}
STATUSES = ("sent", "delivered", "read")
# moto answers in its own time, not AWS's: a function's billed duration is its wall time
# here less the time spent waiting for moto (and for the write meter), plus this typical
# in-region latency per request (ms, the SDK's own work included).
AWS_LATENCY_MS = {
    "dynamodb": 5,
    "sqs": 8,
    "events": 20,
    "firehose": 15,
    "s3": 20,
    "secretsmanager": 15,
}


# -- the mix -------------------------------------------------------------------------------
def _counts(mix: dict[str, float], webhooks: int) -> dict[str, int]:
    """Whole webhooks per kind, summing to `webhooks` (largest remainders first)."""
    exact = {kind: share * webhooks for kind, share in mix.items()}
    counts = {kind: int(value) for kind, value in exact.items()}
    by_remainder = sorted(exact, key=lambda kind: exact[kind] - counts[kind], reverse=True)
    for kind in by_remainder[: webhooks - sum(counts.values())]:
        counts[kind] += 1
    return counts


def mix_bodies(
    mix: dict[str, float], webhooks: int, first_timestamp: int
) -> list[tuple[str, bytes]]:
    """(kind, body) in sending order: incoming and outgoing texts over 50 chats, the
    statuses of the outgoing ones (sent, delivered, read, each after its message), and
    instance and call events; every body a new webhook, one second apart."""
    instance = Instance()
    counts = _counts(mix, webhooks)
    chats = [f"7900{n:07d}@c.us" for n in range(50)]
    planned: list[tuple[float, str, Any]] = []  # (position in the run, kind, what)
    for n in range(counts["incoming"]):
        planned.append(((n + 0.5) / counts["incoming"], "incoming", n))
    outgoing = counts["outgoing"]
    for n in range(outgoing):
        planned.append(((n + 0.5) / outgoing, "outgoing", n))
    for n in range(counts["status"]):
        message = n // len(STATUSES) % outgoing if outgoing else n
        at = (message + 0.5) / outgoing if outgoing else (n + 0.5) / counts["status"]
        planned.append((at + (n % len(STATUSES) + 1) * 0.001, "status", (message, n)))
    for n in range(counts["other"]):
        planned.append(((n + 0.5) / counts["other"], "other", n))
    planned.sort(key=lambda item: item[0])
    bodies: list[tuple[str, bytes]] = []
    for offset, (_, kind, what) in enumerate(planned):
        at = first_timestamp + offset
        if kind == "incoming":
            document = instance.text(f"COSTIN{what:08X}", chats[what % 50], at, f"hello {what}")
        elif kind == "outgoing":
            document = instance.text(
                f"COSTOUT{what:08X}", chats[what % 50], at, f"reply {what}", direction="api"
            )
        elif kind == "status":
            message, n = what
            status = STATUSES[n % len(STATUSES)]
            document = instance.status(f"COSTOUT{message:08X}", chats[message % 50], at, status)
        else:
            document = _other(instance, what, at, chats)
        bodies.append((kind, json.dumps(document, ensure_ascii=False).encode()))
    return bodies


def _other(instance: Instance, n: int, at: int, chats: list[str]) -> dict:
    """Instance and call events in turn: a call's three statuses, then the instance's state."""
    step = n % 4
    if step < 3:
        status = ("offer", "pickUp", "hangUp")[step]
        return instance.call(f"COSTCALL{n // 4:08X}", chats[n % 50], at, status)
    return {**instance._envelope("stateInstanceChanged", at), "stateInstance": "authorized"}


# -- the meters ------------------------------------------------------------------------------
@dataclass
class Request:
    actor: str
    service: str
    operation: str
    params: dict
    parsed: dict


class RequestCounter:
    """Every AWS request made while recording, with who made it: a function (set by the
    handler wrappers, per thread) or an event source mapping's client."""

    def __init__(self) -> None:
        self.recording = False
        self.requests: list[Request] = []
        self.actor = threading.local()
        self.lock = threading.Lock()

    def register(self, events: Any, actor: str | None = None) -> None:
        """Hook one emitter: the default session's (then every client created from it
        after this), or one client's, whose requests are all `actor`'s."""

        def before(params: dict, model: Any, context: dict, **_: Any) -> None:
            context["cost_params"] = dict(params)

        def sending(context: dict, **_: Any) -> None:
            context["cost_started"] = time.perf_counter()

        def after(parsed: dict, model: Any, context: dict, **_: Any) -> None:
            service = model.service_model.service_name
            if actor is None and "cost_started" in context:  # a function's own request
                # less the write meter's reads, when its hook ran first (they are its own)
                waited = time.perf_counter() - context["cost_started"]
                waited -= context.get("meter_after_seconds", 0.0)
                self.actor.waited = getattr(self.actor, "waited", 0.0) + waited
                self.actor.latency_ms = getattr(self.actor, "latency_ms", 0.0) + (
                    AWS_LATENCY_MS.get(service, 10)
                )
            who = actor or getattr(self.actor, "name", None)
            if not self.recording or who is None:
                return
            request = Request(who, service, model.name, context.get("cost_params", {}), parsed)
            with self.lock:
                self.requests.append(request)

        events.register("before-parameter-build", before)
        events.register("before-call", sending)
        events.register("after-call", after)

    def take(self) -> list[Request]:
        with self.lock:
            taken, self.requests = self.requests, []
        return taken


class CountingStream:
    """stdout for the handlers' log lines and metric documents: counts bytes and lines per
    function (the thread's actor) and throws them away, as a silenced bench does."""

    def __init__(self, counter: RequestCounter) -> None:
        self.counter = counter
        self.bytes: Counter[str] = Counter()
        self.lines: Counter[str] = Counter()

    def write(self, text: str) -> int:
        actor = getattr(self.counter.actor, "name", None)
        if actor:
            self.bytes[actor] += len(text.encode("utf-8", "surrogatepass"))
            self.lines[actor] += text.count("\n")
        return len(text)

    def flush(self) -> None:
        pass


@dataclass
class Invocations:
    billed_ms: dict[str, list[int]] = field(default_factory=dict)


def install_counter() -> RequestCounter:
    """Before any client exists: hook the default session (the functions' clients)."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    counter = RequestCounter()
    counter.register(boto3.DEFAULT_SESSION.events)
    return counter


# -- the run ---------------------------------------------------------------------------------
def _platform_bytes(properties: dict) -> int:
    logging_config = properties.get("LoggingConfig") or {}
    if str(logging_config.get("SystemLogLevel", "INFO")).upper() in ("WARN", "ERROR", "FATAL"):
        return 0
    if logging_config.get("LogFormat") == "JSON":
        return PLATFORM_JSON_BYTES
    return PLATFORM_TEXT_BYTES


def _wrap_handlers(
    running: RunningStack, counter: RequestCounter, timings: Invocations, meter: WriteMeter
) -> dict:
    """Each function's handler, timed and marking its thread as the function's."""
    saved = {}
    for name, logical_id in FUNCTIONS.items():
        function = running.functions[logical_id]
        saved[logical_id] = function.handler
        timings.billed_ms[name] = []

        def timed(event: Any, context: Any, _handler=function.handler, _name=name) -> Any:
            actor = counter.actor
            actor.name, actor.waited, actor.latency_ms = _name, 0.0, 0.0
            meter.spent()
            started = time.perf_counter()
            try:
                return _handler(event, context)
            finally:
                own = time.perf_counter() - started - actor.waited - meter.spent()
                billed = own * 1000 + actor.latency_ms
                actor.name = None
                if counter.recording:
                    timings.billed_ms[_name].append(max(1, math.ceil(billed)))

        function.handler = timed
    return saved


@contextlib.contextmanager
def _logs_counted(stream: CountingStream) -> Iterator[None]:
    """The handlers' Logger lines and metric documents (print) go to `stream`."""
    from greenhook.observability import logger

    handler = logger.registered_handler
    saved_stdout, saved_stream = sys.stdout, handler.stream
    sys.stdout = stream  # type: ignore[assignment]
    handler.setStream(stream)
    try:
        yield
    finally:
        handler.setStream(saved_stream)
        sys.stdout = saved_stdout


def _sequential_process() -> Any:
    """CHATS_IN_PARALLEL=1 for the process function until the returned undo is called."""
    from greenhook import config  # process reads chats_in_parallel per batch

    saved = os.environ.get("CHATS_IN_PARALLEL")
    os.environ["CHATS_IN_PARALLEL"] = "1"
    config.process_config.cache_clear()

    def undo() -> None:
        if saved is None:
            os.environ.pop("CHATS_IN_PARALLEL", None)
        else:
            os.environ["CHATS_IN_PARALLEL"] = saved
        config.process_config.cache_clear()

    return undo


def _queue_drained(sqs: Any, queue_url: str) -> bool:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(value == "0" for value in attributes.values())


def post_all(running: RunningStack, bodies: list[bytes], threads: int) -> list[int]:
    """Each body POSTed once over HTTP; the status answered to each."""
    local = threading.local()
    headers = {"Content-Type": "application/json", "Authorization": running.info["authorization"]}
    url = running.info["webhook_url"]

    def send(body: bytes) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return local.session.post(url, data=body, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(send, bodies))


@dataclass
class MixRun:
    usage: cost.Usage
    answered: Counter
    seconds: float


def run_mix(
    running: RunningStack,
    counter: RequestCounter,
    mix: dict[str, float],
    webhooks: int,
    threads: int,
    timeout: float,
) -> MixRun:
    """The mix over HTTP through ingest, the queue, process, the stream and publish."""
    from greenhook import process

    bodies = mix_bodies(mix, webhooks, first_timestamp=2_200_000_000)
    # One chat at a time: each request's wait is then the invocation's (with chats in
    # parallel the waits overlap), so process's duration is an upper bound.
    sequential = _sequential_process()
    timings = Invocations()
    counter.register(running.poller.sqs.meta.events, "esm")
    counter.register(running.stream_poller.streams.meta.events, "esm")
    meter = WriteMeter(process._storage().table.meta.client, running.info["table_name"])
    saved = _wrap_handlers(running, counter, timings, meter)
    own = boto3.Session().client("sqs")  # the bench's own polling: not counted
    stream = CountingStream(counter)
    started = time.perf_counter()
    try:
        with _logs_counted(stream):
            meter.take()
            counter.take()
            counter.recording = True
            running.poller.start()
            running.stream_poller.start()
            statuses = post_all(running, [body for _, body in bodies], threads)
            deadline = time.monotonic() + timeout
            while not _queue_drained(own, running.info["queue_url"]):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the queue did not drain in {timeout:.0f} s")
                time.sleep(0.1)
            running.poller.stop()
            running.stream_poller.stop()
            while running.stream_poller.poll_once():  # every record written so far
                pass
            counter.recording = False
    finally:
        counter.recording = False
        for logical_id, handler in saved.items():
            running.functions[logical_id].handler = handler
        sequential()
    seconds = time.perf_counter() - started
    requests_made = counter.take()
    writes = meter.take()
    usage = _usage(running, bodies, statuses, requests_made, meter.units(writes), timings, stream)
    return MixRun(
        usage=usage,
        answered=Counter(statuses),
        seconds=seconds,
    )


def _items_read(parsed: dict) -> int:
    if "Item" in parsed:
        return 1
    if "Items" in parsed:
        return len(parsed["Items"])
    return sum(len(items) for items in parsed.get("Responses", {}).values())


def _message_bytes(params: dict) -> int:
    attributes = params.get("MessageAttributes") or {}
    size = len(str(params.get("MessageBody", "")).encode("utf-8", "surrogatepass"))
    for name, value in attributes.items():
        size += len(name) + len(value.get("DataType", "")) + len(str(value.get("StringValue", "")))
    return size


def _usage(
    running: RunningStack,
    bodies: list[tuple[str, bytes]],
    statuses: list[int],
    requests_made: list[Request],
    write_units: float,
    timings: Invocations,
    stream: CountingStream,
) -> cost.Usage:
    from greenhook.publish import entry_size
    from greenhook_dev.write_meter import item_size

    prices = cost.load_prices()
    usage = cost.Usage(webhooks=len(bodies), write_units=write_units)
    increment = int(prices["http_api_request_increment_bytes"])
    usage.http_requests = sum(cost.increments(len(body), increment) for _, body in bodies)
    for name, logical_id in FUNCTIONS.items():
        function = running.functions[logical_id]
        properties = running.stack.function_properties(logical_id)
        usage.functions[name] = cost.FunctionUsage(
            memory_mb=function.memory_mb,
            billed_ms=timings.billed_ms[name],
            log_bytes=stream.bytes[name] + stream.lines[name] * CLOUDWATCH_EVENT_OVERHEAD,
            platform_log_bytes=_platform_bytes(properties) * len(timings.billed_ms[name]),
        )
        if running.stack.resolve(properties.get("Tracing")) == "Active":
            usage.traced_invocations += len(timings.billed_ms[name]) * XRAY_SAMPLED_SHARE
    sqs_increment = int(prices["sqs_request_increment_bytes"])
    firehose_increment = int(prices["firehose_record_increment_bytes"])
    events_increment = int(prices["eventbridge_event_increment_bytes"])
    archived: list[bytes] = []
    for request in requests_made:
        operation, params, parsed = request.operation, request.params, request.parsed
        if request.service == "sqs":
            if operation == "SendMessage":
                usage.sqs_requests += cost.increments(_message_bytes(params), sqs_increment)
            elif operation == "ReceiveMessage":
                received = parsed.get("Messages", [])
                if received:  # the mapping's idle long polls are a fixed cost, not per webhook
                    size = sum(len(m.get("Body", "")) for m in received)
                    usage.sqs_requests += cost.increments(size, sqs_increment)
            else:
                usage.sqs_requests += 1
        elif request.service == "dynamodb":
            if operation in ("GetItem", "Query", "BatchGetItem", "Scan"):
                usage.read_units += 0.5 * max(1, _items_read(parsed))
            if operation == "PutItem" and params.get("Item", {}).get("SK") == "ARCHIVE":
                # the archive item and its GSI1 entry, each with DynamoDB's 100 bytes
                usage.table_archive_bytes += item_size(params["Item"]) * 2 + 200
        elif request.service == "dynamodbstreams" and operation == "GetRecords":
            usage.stream_reads += 1
        elif request.service == "events" and operation == "PutEvents":
            results = parsed.get("Entries", [])
            for entry, result in zip(params.get("Entries", []), results, strict=False):
                if not result.get("ErrorCode"):
                    size = entry_size(entry)
                    usage.events += cost.increments(size, events_increment)
                    usage.event_bytes += size
        elif request.service == "firehose" and operation == "PutRecordBatch":
            for record in params.get("Records", []):
                data = record["Data"]
                usage.firehose_billed_bytes += (
                    cost.increments(len(data), firehose_increment) * firehose_increment
                )
                archived.append(data)
        elif request.service == "s3" and operation == "PutObject":
            usage.s3_puts += 1
            usage.s3_stored_bytes += len(params.get("Body") or b"")
    if archived:  # Firehose writes gzip objects of many batches: compressed together
        usage.s3_stored_bytes += len(gzip.compress(b"".join(archived)))
        usage.s3_puts += 1  # buffered objects: a handful a minute, not per webhook
    usage.s3_retention_days = usage.table_archive_days = int(
        running.stack.parameters.get("ArchiveRetentionDays", 0)
    )
    return usage


def format_mix_run(run: MixRun, mix: dict[str, float]) -> str:
    usage = run.usage
    lines = cost.cost_lines(usage, cost.load_prices())
    out = [
        f"\n(g) cost at a mix: {usage.webhooks} webhooks over HTTP through the whole stack "
        f"in {run.seconds:.0f} s (answers: "
        + ", ".join(f"{n} x {status}" for status, n in sorted(run.answered.items()))
        + ")"
    ]
    per = 1 / usage.webhooks
    for name, function in sorted(usage.functions.items()):
        invocations = function.invocations
        mean = sum(function.billed_ms) / invocations if invocations else 0
        out.append(
            f"    {name:8} {invocations * per:5.2f} invocations/webhook, {mean:7.1f} ms billed "
            f"each, {(function.log_bytes + function.platform_log_bytes) * per:6.0f} "
            "log bytes/webhook"
        )
    logged = sum(f.log_bytes + f.platform_log_bytes for f in usage.functions.values())
    out.append(f"    log bytes per webhook, all functions: {logged * per:.0f}")
    out.append(
        f"    per webhook: {usage.sqs_requests * per:.2f} SQS requests, "
        f"{usage.write_units * per:.2f} write units, {usage.read_units * per:.2f} read units, "
        f"{usage.events * per:.2f} events"
    )
    out.append(cost.format_cost(lines, cost.load_prices(), mix))
    return "\n".join(out)

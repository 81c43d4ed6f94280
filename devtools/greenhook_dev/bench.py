"""Figures for greenhook's hot path, all measured in one run (`make bench`). No pass/fail.

(a) ingest handler time per webhook against moto, next to a bare handler that only calls
    `sqs.send_message` with the same kind of body, group and deduplication id;
(b) cold start, each in a fresh interpreter: importing the ingest app and its first call,
    next to `import boto3` + `boto3.client("sqs")`;
(c) webhooks per second from the HTTP front to stored, through the whole local stack;
(d) DynamoDB write requests and write units per webhook, per type, through the process path
    (`handle_record`), next to one `put_item` of the same body;
(e) process time per record (warm), next to the same DynamoDB requests sent again bare;
(f) business events: the events each webhook type publishes (and a duplicate's: none), the
    latency from ingest's 200 to the event on the bus over HTTP (`--events N` webhooks),
    what the stream and the publish function do per webhook, and what that costs on AWS.

`--only d,e` runs some of them. moto runs in this process and slows down as queues deepen,
so queues are kept short and these figures compare code paths on this machine; they are not
AWS latencies. (d)'s units are DynamoDB's pricing rules applied to moto's items; (f)'s
durations are moto's, its prices AWS's published ones.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

from greenhook_dev import bench_cost, cost
from greenhook_dev.http_front import build_event
from greenhook_dev.lambda_runtime import LocalFunction
from greenhook_dev.local_stack import INGEST, PUBLISH, RunningStack, start_local_stack
from greenhook_dev.poller import ingested_record
from greenhook_dev.template_resources import REPO_ROOT
from greenhook_dev.webhooks import Instance
from greenhook_dev.write_meter import (
    WRITE_OPERATIONS,
    WriteCost,
    WriteMeter,
    moto_capacity,
    reported_total,
    reported_units,
)

EVENTS = REPO_ROOT / "events"
SAMPLE = EVENTS / "stateInstanceChanged.json"
MESSAGE_SAMPLE = EVENTS / "incomingMessageReceived.json"


class Bodies:
    """Distinct webhook bodies (so SQS deduplication never turns a send into a no-op)."""

    def __init__(
        self, sample: Path, first_timestamp: int = 1_700_000_000, id_prefix: str = "BENCH"
    ) -> None:
        self.document = json.loads(sample.read_text())
        self.first_timestamp = first_timestamp
        self.id_prefix = id_prefix  # one per figure: the same idMessage is the same message
        self.counter = 0
        self.lock = threading.Lock()

    def next(self) -> bytes:
        with self.lock:
            self.counter += 1
            n = self.counter
        document = dict(self.document)
        document["timestamp"] = self.first_timestamp + n
        if "idMessage" in document:
            document["idMessage"] = f"{self.id_prefix}{n:011X}"
        return json.dumps(document, ensure_ascii=False).encode()

    def group_id(self) -> str:
        return str(self.document["instanceData"]["idInstance"])


@contextlib.contextmanager
def stdout_silenced() -> Iterator[None]:
    """Send fd 1 to /dev/null: the handlers log and emit metrics there, as in Lambda."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def _drain(sqs: Any, queue_url: str) -> None:
    """Empty the queue (moto enforces PurgeQueue's once-a-minute limit)."""
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not messages:
            return
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )


def ingest_event(running: RunningStack, body: bytes) -> dict:
    route = sorted(running.front.api.routes)[0]
    return build_event(
        api=running.front.api,
        method="POST",
        target=route.split(" ", 1)[1],
        header_items=[
            ("Host", f"127.0.0.1:{running.front.port}"),
            ("Content-Type", "application/json"),
            ("Authorization", running.info["authorization"]),
            ("Content-Length", str(len(body))),
        ],
        body=body,
        source_ip="127.0.0.1",
        server_port=running.front.port,
    )


# -- (a) warm handler time ---------------------------------------------------------------
def bench_handler(running: RunningStack, calls: int, warmup: int) -> dict[str, float]:
    sqs = boto3.client("sqs")
    queue_url = running.info["queue_url"]
    bodies = Bodies(SAMPLE)
    group = bodies.group_id()

    def bare_send(event: dict, context: Any) -> dict:
        body = event["body"]
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=body,
            MessageGroupId=group,
            MessageDeduplicationId=hashlib.sha256(body.encode()).hexdigest(),
        )
        return {"statusCode": 200, "body": "{}"}

    ingest = running.functions[INGEST]
    baseline = LocalFunction("bench-baseline", bare_send, region=running.info["region"])
    timings: dict[str, list[float]] = {"ingest": [], "baseline": []}
    with stdout_silenced():
        for i in range(warmup + calls):
            if i % 50 == 0:
                _drain(sqs, queue_url)  # outside the timed calls: keep moto's queue short
            # Interleaved, so both see the same queue depth and machine load.
            for name, function in (("ingest", ingest), ("baseline", baseline)):
                event = ingest_event(running, bodies.next())
                started = time.perf_counter()
                response = function(event)
                elapsed = time.perf_counter() - started
                if response["statusCode"] != 200:
                    raise RuntimeError(f"{name} answered {response['statusCode']}")
                if i >= warmup:
                    timings[name].append(elapsed)
    _drain(sqs, queue_url)
    return {name: statistics.median(values) for name, values in timings.items()}


# -- (b) cold start ----------------------------------------------------------------------
# Each probe runs with sys.path led by a copy laid out as on Lambda (see compiled_copy).
_COLD_INGEST = """
import importlib.util, json, sys, time
sys.path[:0] = sys.argv[2:]
event = json.loads(sys.stdin.read())
class Context:
    function_name = "bench-ingest"; function_version = "$LATEST"; memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-ingest"
    aws_request_id = "bench"; log_group_name = "bench"; log_stream_name = "bench"
    def get_remaining_time_in_millis(self): return 10000
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("ingest_app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
imported = time.perf_counter()
response = module.lambda_handler(event, Context())
called = time.perf_counter()
assert response["statusCode"] == 200, response
print(json.dumps({"import": imported - started, "first_call": called - imported}), file=sys.stderr)
"""

_COLD_BOTO3 = """
import json, sys, time
sys.path[:0] = sys.argv[3:]
started = time.perf_counter()
import boto3
sqs = boto3.client("sqs")
created = time.perf_counter()
sqs.send_message(QueueUrl=sys.argv[1], MessageBody=sys.argv[2], MessageGroupId="bench",
                 MessageDeduplicationId=str(time.time_ns()))
sent = time.perf_counter()
print(json.dumps({"import_client": created - started, "first_send": sent - created}),
      file=sys.stderr)
"""


def _run_fresh(script: str, args: list[str], stdin: str = "") -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"cold-start probe failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stderr.strip().splitlines()[-1])


# What the runtime brings (boto3 and its dependencies, precompiled on Lambda) and what the
# layer ships (layers/greenhook/requirements.lock and greenhook itself).
RUNTIME_DISTRIBUTIONS = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "urllib3",
    "python-dateutil",
    "six",
)
LAYER_LOCK = REPO_ROOT / "layers" / "greenhook" / "requirements.lock"


def compiled_copy(root: Path) -> tuple[Path, Path]:
    """The layer and the runtime's boto3 copied under `root` and compiled as the layer's
    Makefile compiles (`compileall --invalidation-mode unchecked-hash`): the .pyc Lambda
    loads. This machine writes no bytecode itself (PYTHONDONTWRITEBYTECODE), so without
    this every probe would compile every module it imports."""
    import importlib.metadata
    import re
    import shutil

    layer, runtime = root / "layer" / "python", root / "runtime"
    locked = re.findall(r"^([A-Za-z0-9_.-]+)==", LAYER_LOCK.read_text(), flags=re.M)
    for target, names in ((layer, locked), (runtime, RUNTIME_DISTRIBUTIONS)):
        for name in names:
            distribution = importlib.metadata.distribution(name)
            for file in distribution.files or ():
                source = Path(distribution.locate_file(file))
                if file.parts[0] in ("..", "bin") or "__pycache__" in file.parts:
                    continue
                destination = target / file
                destination.parent.mkdir(parents=True, exist_ok=True)
                if source.is_file():
                    shutil.copy2(source, destination)
    shutil.copytree(
        REPO_ROOT / "layers" / "greenhook" / "greenhook",
        layer / "greenhook",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for path in (layer, runtime):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "compileall",
                "-q",
                "-j",
                "0",
                "--invalidation-mode",
                "unchecked-hash",
                str(path),
            ],
            check=True,
            capture_output=True,
        )
    return layer, runtime


def bench_cold_start(running: RunningStack, repeats: int) -> dict[str, float]:
    import tempfile

    app_path = REPO_ROOT / running.stack.function_properties(INGEST)["CodeUri"] / "app.py"
    bodies = Bodies(SAMPLE)
    runs: dict[str, list[float]] = {}
    scratch = tempfile.TemporaryDirectory(prefix="greenhook-cold-")
    layer, runtime = compiled_copy(Path(scratch.name))
    # One unmeasured round first: warms the page cache.
    for round_number in range(repeats + 1):
        ingest = _run_fresh(
            _COLD_INGEST,
            [str(app_path), str(layer), str(runtime)],
            stdin=json.dumps(ingest_event(running, bodies.next())),
        )
        boto = _run_fresh(
            _COLD_BOTO3, [running.info["queue_url"], bodies.next().decode(), str(runtime)]
        )
        if round_number == 0:
            continue
        for key, value in {**ingest, **boto}.items():
            runs.setdefault(key, []).append(value)
    scratch.cleanup()
    _drain(boto3.client("sqs"), running.info["queue_url"])
    return {key: statistics.median(values) for key, values in runs.items()}


# -- (c) throughput ----------------------------------------------------------------------
def _archive_stream(running: RunningStack) -> Any:
    from greenhook.archive import ArchiveStream

    return ArchiveStream(running.stack.refs["ArchiveStream"])


def _archive_reader(running: RunningStack) -> Any:
    from greenhook.archive import ArchiveReader
    from greenhook.storage import Payloads

    return ArchiveReader(Payloads(running.info["bucket_name"]))


def _queue_empty(sqs: Any, queue_url: str) -> bool:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return attributes == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }


def bench_throughput(running: RunningStack, count: int, threads: int) -> dict[str, float]:
    sample = MESSAGE_SAMPLE if MESSAGE_SAMPLE.exists() else SAMPLE
    bodies = Bodies(sample)
    payloads = [bodies.next() for _ in range(count)]
    sqs = boto3.client("sqs")
    running.poller.start()
    with stdout_silenced():
        started = time.perf_counter()
        statuses = bench_cost.post_all(running, payloads, threads)
        accepted = time.perf_counter() - started
        while not _queue_empty(sqs, running.info["queue_url"]):
            time.sleep(0.02)
        stored_after = time.perf_counter() - started
        running.poller.stop()
    archived = {a["id"] for a in _archive_reader(running).newest(10**9, days=1)}
    stored = sum(hashlib.sha256(body).hexdigest() in archived for body in payloads)
    return {
        "sent": count,
        "ok": sum(200 <= s < 300 for s in statuses),
        "stored": stored,
        "accepted_seconds": accepted,
        "stored_seconds": stored_after,
        "sample": sample.name,
    }


# -- process records (d, e) --------------------------------------------------------------
def queued_record(body: bytes, n: int, running: RunningStack) -> Any:
    """An SQS record as the poller hands it to the process function, queued as ingest does."""
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    return SQSRecord(
        ingested_record(
            body,
            n,
            queue_arn=running.stack.attributes["WebhookQueue"]["Arn"],
            region=running.info["region"],
        )
    )


def _as_new_webhook(document: dict, timestamp: int, n: int, prefix: str = "BENCHD") -> bytes:
    """The sample as a later webhook of its own (the archive's first-write-wins keeps any
    repeat of a body from writing).

    A status's idMessage names the message it reports on, so that one is kept.
    """
    document = {**document, "timestamp": timestamp}
    if "idMessage" in document and document.get("typeWebhook") != "outgoingMessageStatus":
        document["idMessage"] = f"{prefix}{n:010X}"
    return json.dumps(document, ensure_ascii=False).encode()


# -- (d) write units per webhook ---------------------------------------------------------
# Measured next to one sample of each typeWebhook (events/webhooks/): events/messages/<name>.json
WRITE_MESSAGE_SAMPLES = (
    "incoming-textMessage",
    "incoming-imageMessage",
    "incoming-reactionMessage",
    "incoming-editedMessage",
    "incoming-deletedMessage",
    "incoming-pollUpdateMessage",
)
# The image sample's jpegThumbnail is a 16x16 stub; WhatsApp's run to a few KB of base64.
REALISTIC_THUMBNAIL_CHARS = 4096


@dataclass
class WriteRow:
    """One measured webhook of (d)."""

    label: str
    outcome: str
    writes: list[WriteCost]
    put_units: float  # one put_item of the same body, as an item of its own


def _write_cases() -> list[tuple[str, bytes]]:
    """(label, body) for each measured webhook: the samples as new webhooks, in time order."""
    samples = sorted(EVENTS.glob("webhooks/*.json"))
    samples += [EVENTS / "messages" / f"{name}.json" for name in WRITE_MESSAGE_SAMPLES]
    documents = [(sample.stem, json.loads(sample.read_text())) for sample in samples]
    for stem, document in list(documents):
        if document["typeWebhook"] == "outgoingMessageStatus":
            unknown = {**document, "idMessage": "BENCH-NOT-STORED"}
            documents.append((f"{stem}, message not stored", unknown))
        if stem == "incoming-imageMessage":
            image = json.loads(json.dumps(document))
            thumbnail = "A" * REALISTIC_THUMBNAIL_CHARS
            image["messageData"]["fileMessageData"]["jpegThumbnail"] = thumbnail
            documents.append((f"{stem}, {REALISTIC_THUMBNAIL_CHARS // 1024} KB thumbnail", image))
    # Newer than anything stored, one second apart: in-order delivery, newest wins.
    return [
        (label, _as_new_webhook(document, 1_800_000_000 + n, n))
        for n, (label, document) in enumerate(documents, start=1)
    ]


def bench_write_units(running: RunningStack) -> dict[str, Any]:
    """Each case once through handle_record, metered, after an unmetered pass over every
    sample; then the text message's body again (a duplicate delivery)."""
    from greenhook.process import handle_record
    from greenhook.storage import Payloads, Storage

    table_name = running.info["table_name"]
    payloads = Payloads(running.info["bucket_name"])
    resource = boto3.resource("dynamodb")
    metered = Storage(table_name, resource=resource, payloads=payloads)
    meter = WriteMeter(resource.meta.client, table_name)
    trusted, probe = moto_capacity(boto3.resource("dynamodb").Table(table_name))
    counter = iter(range(1, 1_000_000))

    archive = _archive_stream(running)

    def process(body: bytes, storage: Storage) -> str:
        record = queued_record(body, next(counter), running)
        return handle_record(record, storage, payloads, archive)

    def put_units(body: bytes) -> float:
        key = {"PK": f"BENCH#{hashlib.sha256(body).hexdigest()}", "SK": "BASELINE"}
        metered.table.put_item(Item={**key, "body": body.decode()})
        table, indexes = _units(meter.take(), trusted)
        return table + sum(indexes.values())

    rows: list[WriteRow] = []
    with stdout_silenced():
        # The table first holds every sample once: the instance item with its aspects, the
        # chats, and the messages that edits, reactions and statuses refer to.
        plain = Storage(table_name, payloads=payloads)
        for sample in sorted(EVENTS.glob("webhooks/*.json")) + sorted(
            EVENTS.glob("messages/*.json")
        ):
            process(sample.read_bytes(), plain)
        meter.take()
        for label, body in _write_cases():
            outcome = process(body, metered)
            writes = meter.take()
            rows.append(WriteRow(label, outcome, writes, put_units(body)))
            if label == "incomingMessageReceived":
                outcome = process(body, metered)
                rows.append(
                    WriteRow(f"{label}, same body again", outcome, meter.take(), rows[-1].put_units)
                )
    return {"rows": rows, "trusted": trusted, "probe": probe, "indexes": sorted(meter.indexes)}


def _units(writes: list[WriteCost], trusted: bool) -> tuple[float, dict[str, float]]:
    """Table units and units per index of some writes: moto's if it is right, else computed."""
    table, indexes = 0.0, {}
    for write in writes:
        t, i = reported_units(write) if trusted else (write.table_units, write.index_units)
        table += t
        for name, units in i.items():
            indexes[name] = indexes.get(name, 0) + units
    return table, indexes


def print_write_units(result: dict[str, Any]) -> None:
    """(d) as a table, one row per webhook."""
    rows: list[WriteRow] = result["rows"]
    names: list[str] = result["indexes"]
    print("\n(d) DynamoDB writes per webhook through handle_record, each a new webhook (new")
    print("    timestamp and idMessage) on a table that already holds every sample once")
    if result["trusted"]:
        print("    write units: moto's ConsumedCapacity (ReturnConsumedCapacity=INDEXES)")
    else:
        print("    write units: computed from the items before and after each write (moto's")
        print("    ConsumedCapacity is not usable here)")
    print(f"      {result['probe']}")
    header = f"    {'webhook':44} {'outcome':7} {'writes':>6} {'cond.':>5} {'table':>5}"
    header += "".join(f" {name:>5}" for name in names)
    header += f" {'total':>5} {'x put':>6} {'moto':>5}"
    print(header)
    for row in rows:
        table, indexes = _units(row.writes, result["trusted"])
        total = table + sum(indexes.values())
        failed = sum(cost.condition_failed for cost in row.writes)
        line = f"    {row.label:44} {row.outcome:7} {len(row.writes):6d} {failed:5d} {table:5g}"
        line += "".join(f" {indexes.get(name, 0):5g}" for name in names)
        line += f" {total:5g} {total / row.put_units:6.2f} {reported_total(row.writes):5g}"
        print(line)
    print("    cond. = conditional writes whose condition failed: each still costs the stored")
    print("    item's size (at least 1 unit). x put = total / one put_item of the same body")
    print("    (the body as an item of its own, no index). moto = what moto reported.")


# -- (e) process time per record ---------------------------------------------------------
# label -> events/webhooks/<name>.json. Bodies gives each body a new idMessage, so each
# status is of a message not stored (it makes a stub message item).
PROCESS_SAMPLES = {
    "incomingMessageReceived (text)": "incomingMessageReceived",
    "outgoingMessageStatus (message not stored)": "outgoingMessageStatus",
}


class WriteRecorder:
    """The DynamoDB writes a client makes, as they were asked (before serialisation), so
    that the same requests can be sent again bare."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.requests: list[tuple[str, dict]] = []
        client.meta.events.register("provide-client-params.dynamodb", self._record)

    def _record(self, params: dict, model: Any, **_: Any) -> None:
        if model.name in WRITE_OPERATIONS:
            self.requests.append((model.name, dict(params)))

    def take(self) -> list[tuple[str, dict]]:
        taken, self.requests = self.requests, []
        return taken

    def replay(self, requests: list[tuple[str, dict]]) -> float:
        """Seconds to send the same requests again (a refused condition still costs a call)."""
        from botocore.exceptions import ClientError

        started = time.perf_counter()
        for operation, params in requests:
            method = getattr(self.client, botocore_method(operation))
            try:
                method(**params)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        return time.perf_counter() - started


def botocore_method(operation: str) -> str:
    """UpdateItem -> update_item."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def bench_process(running: RunningStack, records: int, warmup: int = 5) -> dict[str, dict]:
    """A record's handling (validation, dispatch, its writes; warm), against the floor: the
    same DynamoDB requests sent again bare, one after another. The archive's PutRecordBatch
    is per batch, not per record, and is left out of both."""
    from greenhook.process import handle_prepared, prepare
    from greenhook.storage import Payloads, Storage

    table_name = running.info["table_name"]
    payloads = Payloads(running.info["bucket_name"])
    storage = Storage(table_name, payloads=payloads)
    recorder = WriteRecorder(storage.table.meta.client)

    results: dict[str, dict] = {}
    n = 0
    for index, (label, name) in enumerate(PROCESS_SAMPLES.items()):
        # Newer than anything stored, as in-order delivery would be; messages of their own.
        sample = EVENTS / "webhooks" / f"{name}.json"
        bodies = Bodies(sample, first_timestamp=1_900_000_000, id_prefix=f"BENCHE{index}")
        timings: dict[str, list[float]] = {"process": [], "floor": []}
        outcomes: set[str] = set()
        writes: list[int] = []
        with stdout_silenced():
            for i in range(warmup + records):
                n += 1
                record = queued_record(bodies.next(), n, running)
                started = time.perf_counter()
                outcomes.add(handle_prepared(prepare(record, payloads), storage, payloads))
                processed = time.perf_counter() - started
                requests = recorder.take()
                floor = recorder.replay(requests)
                recorder.take()
                if i >= warmup:
                    timings["process"].append(processed)
                    timings["floor"].append(floor)
                    writes.append(len(requests))
        results[label] = {
            **{name: statistics.median(values) for name, values in timings.items()},
            "outcomes": sorted(outcomes),
            "writes": statistics.median(writes),
        }
    return results


def print_process(result: dict[str, dict], records: int) -> None:
    """(e) with its ratios."""
    print(f"\n(e) process time per record (prepare + handle, warm), median of {records} records,")
    print("    next to its floor: the same DynamoDB requests sent again bare")
    for label, figures in result.items():
        print(f"    {label}, outcome {'/'.join(figures['outcomes'])}")
        print(f"      handled                 {_ms(figures['process'])}")
        print(f"      its {figures['writes']:g} writes, bare     {_ms(figures['floor'])}")
        print(f"      ratio                   {figures['process'] / figures['floor']:8.2f} x")


# -- (f) business events -----------------------------------------------------------------
# us-east-1 prices as published in 2026-12: https://aws.amazon.com/eventbridge/pricing/
# (custom events, archive), https://aws.amazon.com/lambda/pricing/ (arm64) and
# https://aws.amazon.com/dynamodb/pricing/on-demand/ (streams read by a Lambda trigger).
PUT_EVENTS_PER_MILLION = 1.00  # PutEvents custom events: each 64 KB chunk of an entry is one
PUT_EVENTS_CHUNK = 64 * 1024
LAMBDA_REQUESTS_PER_MILLION = 0.20  # arm64
LAMBDA_PER_GB_SECOND = 0.0000133334  # arm64
STREAM_READS_PER_MILLION = 0.0  # GetRecords by a Lambda trigger: free
ARCHIVE_PER_GB = 0.10  # EventBridge archive, per GB of events archived (their bytes)
GB = 1024**3


def events_timeout(webhooks: int) -> float:
    """How long (f) waits for the last event before calling this machine too slow."""
    return max(120.0, webhooks * 0.5)


EVENT_SAMPLE_CHAT = "79876543210@c.us"


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank p-th percentile (p in 0..100) of some values."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def put_events_chunks(size: int) -> int:
    """PutEvents events billed for one entry of `size` bytes: one per 64 KB started."""
    return max(1, math.ceil(size / PUT_EVENTS_CHUNK))


def billed_seconds(seconds: float) -> float:
    """Lambda's billed duration of one invocation: rounded up to the millisecond."""
    return math.ceil(seconds * 1000) / 1000


@dataclass
class PublishCounts:
    """What the stream mapping and the publish function did, in some span of time."""

    get_records: int = 0  # GetRecords calls
    records_read: int = 0  # stream records read, matching the filters or not
    records_delivered: int = 0  # in the events the function received
    # moto's UpdateItem of an absent item writes two INSERT records (the bare keys, then the
    # item); DynamoDB writes one. These are the first ones, read and delivered.
    key_only_read: int = 0
    key_only_delivered: int = 0
    durations: list[float] = field(default_factory=list)  # wall time of each invocation
    put_events: int = 0  # PutEvents calls
    entries: int = 0  # entries accepted by the bus
    entry_bytes: int = 0  # their size, as EventBridge counts it (publish.entry_size)
    chunks: int = 0  # their 64 KB chunks (what PutEvents bills)
    failed_entries: int = 0

    @property
    def invocations(self) -> int:
        return len(self.durations)


def key_only_insert(record: dict) -> bool:
    """Whether a stream record is an INSERT of nothing but the item's keys."""
    stream = record.get("dynamodb", {})
    return record.get("eventName") == "INSERT" and set(stream.get("NewImage", {})) == set(
        stream.get("Keys", {})
    )


def events_cost(counts: PublishCounts, webhooks: int, memory_mb: int) -> list[tuple[str, float]]:
    """(line, dollars per million webhooks) for what publishing events adds, from counts."""
    per_webhook = 1 / webhooks
    gb_seconds = sum(billed_seconds(d) for d in counts.durations) * memory_mb / 1024
    return [
        ("EventBridge PutEvents", counts.chunks * per_webhook * PUT_EVENTS_PER_MILLION),
        (
            "Lambda requests (publish)",
            counts.invocations * per_webhook * LAMBDA_REQUESTS_PER_MILLION,
        ),
        (
            f"Lambda duration ({memory_mb} MB, moto's)",
            gb_seconds * per_webhook * 1_000_000 * LAMBDA_PER_GB_SECOND,
        ),
        (
            "DynamoDB Streams reads (Lambda)",
            counts.get_records * per_webhook * STREAM_READS_PER_MILLION,
        ),
        (
            "EventBridge archive",
            counts.entry_bytes * per_webhook * 1_000_000 / GB * ARCHIVE_PER_GB,
        ),
    ]


class PublishMeter:
    """Counts the stream poller's reads, the publish function's invocations and its
    PutEvents calls, by wrapping the streams client, the function's handler and the
    publisher's events client (all restored by close())."""

    def __init__(self, running: RunningStack) -> None:
        from greenhook import publish

        self._entry_size = publish.entry_size
        self.function = running.functions[PUBLISH]
        self.streams = running.stream_poller.streams
        self.events = publish._publisher().events
        self.counts = PublishCounts()
        self.lock = threading.Lock()
        self._handler = self.function.handler
        self._get_records = self.streams.get_records
        self._put_events = self.events.put_events
        self.function.handler = self._timed_handler
        self.streams.get_records = self._counted_get_records
        self.events.put_events = self._counted_put_events

    def _timed_handler(self, event: dict, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return self._handler(event, context)
        finally:
            elapsed = time.perf_counter() - started
            with self.lock:
                self.counts.durations.append(elapsed)
                self.counts.records_delivered += len(event.get("Records", []))
                self.counts.key_only_delivered += sum(
                    map(key_only_insert, event.get("Records", []))
                )

    def _counted_get_records(self, **kwargs: Any) -> dict:
        response = self._get_records(**kwargs)
        with self.lock:
            self.counts.get_records += 1
            self.counts.records_read += len(response.get("Records", []))
            self.counts.key_only_read += sum(map(key_only_insert, response.get("Records", [])))
        return response

    def _counted_put_events(self, **kwargs: Any) -> dict:
        response = self._put_events(**kwargs)
        with self.lock:
            self.counts.put_events += 1
            for entry, result in zip(kwargs["Entries"], response.get("Entries", []), strict=False):
                if result.get("ErrorCode"):
                    self.counts.failed_entries += 1
                    continue
                size = self._entry_size(entry)
                self.counts.entries += 1
                self.counts.entry_bytes += size
                self.counts.chunks += put_events_chunks(size)
        return response

    def take(self) -> PublishCounts:
        """The counts since the last take."""
        with self.lock:
            taken, self.counts = self.counts, PublishCounts()
        return taken

    def close(self) -> None:
        self.function.handler = self._handler
        del self.streams.get_records  # the instance attributes: the clients' own methods again
        del self.events.put_events


def settle_stream(running: RunningStack) -> None:
    """Deliver every stream record written so far (the stream poller's thread not running)."""
    while running.stream_poller.poll_once():
        pass


def wait_for_events(sink: Any, count: int, timeout: float = 30) -> list[dict]:
    """The sink's events once it holds at least `count` (all it has after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        events = sink.snapshot()
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.02)


@dataclass
class EventRow:
    """One webhook of (f)(1): what it published, and what the same body published again."""

    label: str
    outcome: str
    detail_types: list[str]
    again_outcome: str | None = None
    again: list[str] | None = None  # detail-types published by the same body again
    first: list[str] | None = None  # the sample's own, when the table first got it


class EventDelivery:
    """Webhooks through handle_record (as in (d)), then the stream to the bus to the sink."""

    def __init__(self, running: RunningStack, meter: PublishMeter) -> None:
        from greenhook.process import handle_record
        from greenhook.storage import Payloads, Storage

        self.running = running
        self.meter = meter
        self.payloads = Payloads(running.info["bucket_name"])
        self.storage = Storage(running.info["table_name"], payloads=self.payloads)
        self.handle_record = handle_record
        self.archive = _archive_stream(running)
        self.n = 0

    def process(self, body: bytes) -> str:
        self.n += 1
        record = queued_record(body, self.n, self.running)
        return self.handle_record(record, self.storage, self.payloads, self.archive)

    def published(self) -> list[dict]:
        """Settle the stream; the events it put on the bus, as the sink received them."""
        sink = self.running.event_sink
        before = len(sink.snapshot())
        settle_stream(self.running)
        counts = self.meter.take()
        return wait_for_events(sink, before + counts.entries)[before:]

    def deliver(self, body: bytes) -> tuple[str, list[str]]:
        outcome = self.process(body)
        return outcome, [event["detail-type"] for event in self.published()]


def _event_cases() -> list[tuple[str, bytes]]:
    """(d)'s cases as webhooks of their own for (f): later, with their own idMessage (so a
    run of (d) before does not make them duplicates)."""
    cases = []
    for n, (label, body) in enumerate(_write_cases(), start=1):
        document = json.loads(body)
        if document.get("idMessage") == "BENCH-NOT-STORED":
            document["idMessage"] = "BENCHF-NOT-STORED"
        cases.append((label, _as_new_webhook(document, 2_000_000_000 + n, n, prefix="BENCHF")))
    return cases


def _lifecycle_cases() -> list[tuple[str, list[tuple[str, dict]]]]:
    """Statuses of an API message: after it (sent, delivered, read, then a late sent), and
    one before it (the message arriving after its status)."""
    instance = Instance()
    chat, t = EVENT_SAMPLE_CHAT, 2_050_000_000

    def message(id_message: str, timestamp: int) -> dict:
        return instance.text(id_message, chat, timestamp, "Order shipped", direction="api")

    return [
        (
            "status after its message",
            [
                ("outgoingAPIMessageReceived", message("BENCHF-LIFE-1", t)),
                ("status sent", instance.status("BENCHF-LIFE-1", chat, t + 1, "sent")),
                ("status delivered", instance.status("BENCHF-LIFE-1", chat, t + 2, "delivered")),
                ("status read", instance.status("BENCHF-LIFE-1", chat, t + 3, "read")),
                (
                    "status sent, late (after read)",
                    instance.status("BENCHF-LIFE-1", chat, t + 1, "sent"),
                ),
            ],
        ),
        (
            "status before its message",
            [
                ("status delivered", instance.status("BENCHF-LIFE-2", chat, t + 11, "delivered")),
                ("outgoingAPIMessageReceived", message("BENCHF-LIFE-2", t + 10)),
            ],
        ),
    ]


def bench_events_per_webhook(running: RunningStack, meter: PublishMeter) -> dict[str, Any]:
    """(f)(1): each case once, then the same body again; then the status sequences."""
    delivery = EventDelivery(running, meter)
    earlier = len(delivery.published())  # what the figures before left on the stream
    # As in (d), the table first holds every sample once: each sample's own events then are
    # what it publishes first (on an empty table with --only f; none if stored before).
    first: dict[str, list[str] | None] = {}
    archived = {a["id"] for a in _archive_reader(running).newest(10**9, days=1)}
    for sample in sorted(EVENTS.glob("webhooks/*.json")) + sorted(EVENTS.glob("messages/*.json")):
        body = sample.read_bytes()
        stored_before = hashlib.sha256(body).hexdigest() in archived
        _, detail_types = delivery.deliver(body)
        first[sample.stem] = None if stored_before and not detail_types else detail_types
    rows = []
    for label, body in _event_cases():
        row = EventRow(label, *delivery.deliver(body), first=first.get(label))
        row.again_outcome, row.again = delivery.deliver(body)
        rows.append(row)
    lifecycles = []
    for title, steps in _lifecycle_cases():
        step_rows = []
        for label, document in steps:
            body = json.dumps(document, ensure_ascii=False).encode()
            step_rows.append(EventRow(label, *delivery.deliver(body)))
        lifecycles.append((title, step_rows))
    return {"earlier": earlier, "rows": rows, "lifecycles": lifecycles}


def bench_event_latency(
    running: RunningStack,
    meter: PublishMeter,
    count: int,
    threads: int,
    timeout: float,
    rate: float = 0.0,
) -> dict[str, Any]:
    """(f)(2, 3): `count` distinct incoming texts over HTTP; from each 200 to its
    "Message Received" in the sink, and what the stream and the publisher did meanwhile.
    `rate` (webhooks/s, 0 = as fast as the senders go) paces the sending: a rate the local
    pipeline sustains measures the path, not the wait behind a growing queue."""
    instance = Instance()
    first = 2_100_000_000
    ids = [f"BENCHF2{n:09X}" for n in range(count)]
    payloads = [
        json.dumps(
            instance.text(id_message, EVENT_SAMPLE_CHAT, first + n, f"bench event {n}"),
            ensure_ascii=False,
        ).encode()
        for n, id_message in enumerate(ids)
    ]
    local = threading.local()
    headers = {"Content-Type": "application/json", "Authorization": running.info["authorization"]}
    url = running.info["webhook_url"]
    answered: dict[str, float] = {}  # idMessage -> time.time() of its 200
    order = {id_message: n for n, id_message in enumerate(ids)}
    started = time.perf_counter()

    def send(item: tuple[str, bytes]) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        if rate > 0:  # each webhook at its slot of the schedule
            time.sleep(max(0.0, started + order[item[0]] / rate - time.perf_counter()))
        status = local.session.post(url, data=item[1], headers=headers, timeout=60).status_code
        if status == 200:
            answered[item[0]] = time.time()
        return status

    sink = running.event_sink
    scanned = len(sink.snapshot())
    wanted = set(ids)
    seen: dict[str, float] = {}  # idMessage -> time.time() its event was read from the bus

    def scan() -> None:
        nonlocal scanned
        events = sink.snapshot()
        seen_at = list(sink.seen_at)  # appended with the events: at least as long
        for index in range(scanned, len(events)):
            event = events[index]
            id_message = event.get("detail", {}).get("id_message")
            if event.get("detail-type") == "Message Received" and id_message in wanted:
                seen.setdefault(id_message, seen_at[index])
        scanned = len(events)

    meter.take()
    running.poller.start()
    running.stream_poller.start()
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        statuses = list(pool.map(send, zip(ids, payloads, strict=True)))
    sent_seconds = time.perf_counter() - started
    deadline = time.monotonic() + timeout
    while True:
        scan()
        if set(answered) <= set(seen) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    all_seconds = time.perf_counter() - started
    timed_out = not set(answered) <= set(seen)
    running.poller.stop()
    running.stream_poller.stop()
    settle_stream(running)  # the records after the last event (chat, instance) count too
    counts = meter.take()
    scan()
    latencies = [seen[i] - answered[i] for i in answered if i in seen]
    return {
        "sent": count,
        "rate": rate,
        "ok": sum(s == 200 for s in statuses),
        "events": len(seen),
        "latencies": latencies,
        "timed_out": timed_out,
        "timeout": timeout,
        "sent_seconds": sent_seconds,
        "all_seconds": all_seconds,
        "counts": counts,
    }


def print_events(
    per_webhook: dict[str, Any], flow: dict[str, Any], threads: int, memory_mb: int
) -> None:
    """(f) in three parts: events per webhook, latency, counts and cost."""
    print("\n(f) business events: table stream -> stream poller (FilterCriteria) -> publish")
    print("    -> EventBridge bus (moto) -> rule -> SQS -> event sink")
    if per_webhook["earlier"]:
        print(f"    (first caught up: {per_webhook['earlier']} events of the figures before)")
    print("    1. events per webhook. first = the sample's own events when the table got it")
    print("       (an empty table with --only f; - if stored before); new = the case as a new")
    print("       webhook (new timestamp and idMessage, as in (d)) on a table that holds every")
    print("       sample once; again = the exact same body a second time (must be 0)")
    print(
        f"    {'webhook':42} {'outcome':7} {'first':>5} {'new':>3} {'again':>5}"
        "  detail-types of new (of first if other)"
    )
    odd = []
    for row in per_webhook["rows"]:
        again = row.again or []
        types = ", ".join(row.detail_types) or "-"
        first = "-" if row.first is None else str(len(row.first))
        if row.first is not None and row.first != row.detail_types:
            types += f" (first: {', '.join(row.first) or 'none'})"
        mark = "  <- !" if again else ""
        print(
            f"    {row.label:42} {row.outcome:7} {first:>5} {len(row.detail_types):3d} "
            f"{len(again):5d}  {types}{mark}"
        )
        if again:
            odd.append(f"{row.label} again ({row.again_outcome}): {', '.join(again)}")
    for title, steps in per_webhook["lifecycles"]:
        print(f"    {title} (an API message and its statuses, in delivery order):")
        for row in steps:
            print(
                f"      {row.label:40} {row.outcome:7} {'':5} {len(row.detail_types):3d} "
                f"{'':5}  {', '.join(row.detail_types) or '-'}"
            )
    for line in odd:
        print(f"    ! published by a duplicate: {line}")

    latencies = flow["latencies"]
    print("    2. latency from ingest's 200 to the event read from the bus, for")
    pace = f"paced at {flow['rate']:g}/s" if flow.get("rate") else "unpaced"
    print(f"       {flow['sent']} distinct incoming texts over HTTP, {threads} senders, {pace}")
    print(f"       answered 200            {flow['ok']:8d}")
    print(f"       Message Received seen   {flow['events']:8d}")
    if latencies:
        print(f"       median                  {_ms(statistics.median(latencies))}")
        print(f"       p99                     {_ms(percentile(latencies, 99))}")
        print(f"       max                     {_ms(max(latencies))}")
    print(f"       all answered after      {flow['sent_seconds']:8.2f} s")
    print(f"       all events after        {flow['all_seconds']:8.2f} s")
    sent_rate = flow["ok"] / flow["sent_seconds"]
    bus_rate = flow["events"] / flow["all_seconds"]
    print(f"       webhooks/s answered     {sent_rate:8.1f}")
    print(f"       webhooks/s to the bus   {bus_rate:8.1f}")
    if flow["timed_out"]:
        print(
            f"       TOO SLOW on this machine: {flow['ok'] - flow['events']} events still "
            f"missing after {flow['timeout']:.0f} s (figures above are of those that came)"
        )
    if bus_rate < 0.9 * sent_rate:
        print("       TOO SLOW on this machine for a latency of the path itself: the pipeline")
        print(f"       moves {bus_rate:.1f} webhooks/s and the senders {sent_rate:.1f}/s, so these")
        print("       are mostly waits behind earlier webhooks in the queue (N not lowered);")
    print("       locally the pollers' idle sleeps (queue, stream 0.25 s, sink 0.1 s) add to it;")
    print("       on AWS the mapping's MaximumBatchingWindowInSeconds adds up to 1 s")

    counts: PublishCounts = flow["counts"]
    webhooks = flow["ok"]
    if not webhooks:
        return
    mean = statistics.mean(counts.durations) if counts.durations else 0.0
    print(f"    3. per webhook during 2 ({webhooks} webhooks)")
    print(f"       stream records read     {counts.records_read / webhooks:8.2f}")
    print(f"       delivered (filtered)    {counts.records_delivered / webhooks:8.2f}")
    if counts.key_only_read:
        print(
            f"       (moto's extra key-only INSERTs: {counts.key_only_read / webhooks:.2f} read, "
            f"{counts.key_only_delivered / webhooks:.2f} delivered;"
        )
        print("       DynamoDB writes one record per UpdateItem that creates an item)")
    print(f"       publish invocations     {counts.invocations / webhooks:8.3f}")
    print(f"         mean duration each    {_ms(mean)}  (moto's, not AWS's)")
    batch = counts.records_delivered / max(1, counts.invocations)
    print(f"         records each          {batch:8.1f}")
    print(f"       events published        {counts.entries / webhooks:8.2f}")
    print(f"       PutEvents calls         {counts.put_events / webhooks:8.3f}")
    print(f"       event entry bytes       {counts.entry_bytes / webhooks:8.0f}")
    if counts.failed_entries:
        print(f"       ! entries refused       {counts.failed_entries:8d}")
    print("    4. extra cost per million webhooks (us-east-1, prices of 2026-12), from 3")
    lines = events_cost(counts, webhooks, memory_mb)
    for label, dollars in lines:
        print(f"       {label:34} ${dollars:8.4f}")
    print(f"       ${sum(d for _, d in lines):.2f} per million webhooks for events")
    print("       (invocations and their durations depend on the batches: locally a poll")
    print("       sends what is there, on AWS the batching window gathers up to 1 s)")


SECTIONS = "abcdefg"


def _sections(text: str) -> str:
    """`--only d,e` as "de"."""
    chosen = "".join(sorted(set(text.replace(",", "").replace(" ", ""))))
    if not chosen or not set(chosen) <= set(SECTIONS):
        raise argparse.ArgumentTypeError(f"choose among {','.join(SECTIONS)}, e.g. d,e")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m greenhook_dev.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", type=_sections, default=SECTIONS, help="e.g. d,e (default: all)")
    parser.add_argument("--calls", type=int, default=200, help="(a) timed calls per handler")
    parser.add_argument("--warmup", type=int, default=20, help="(a) untimed calls first")
    parser.add_argument("--repeats", type=int, default=5, help="(b) fresh interpreters each")
    parser.add_argument("--webhooks", type=int, default=200, help="(c) webhooks sent")
    parser.add_argument("--threads", type=int, default=4, help="(c, f) concurrent senders")
    parser.add_argument("--records", type=int, default=100, help="(e) timed records per type")
    parser.add_argument("--events", type=int, default=1000, help="(f) webhooks sent for latency")
    parser.add_argument(
        "--mix",
        type=cost.parse_mix,
        default=cost.DEFAULT_MIX,
        help="(g) shares of incoming,outgoing,status,other (default 35,15,45,5)",
    )
    parser.add_argument("--mix-webhooks", type=int, default=400, help="(g) webhooks sent")
    parser.add_argument(
        "--events-rate",
        type=float,
        default=2.0,
        metavar="PER_SECOND",
        help="(f) pace of those webhooks, below what the local pipeline sustains (0: unpaced)",
    )
    args = parser.parse_args(argv)

    # (g) counts the functions' requests: hooked before any of their clients exists.
    counter = bench_cost.install_counter() if "g" in args.only else None
    running = start_local_stack(port=0, state_dir=None, start_poller=False)
    try:
        print(f"greenhook bench  (python {sys.version.split()[0]}, {os.cpu_count()} cpus, moto)")
        if "a" in args.only:
            warm = bench_handler(running, args.calls, args.warmup)
            print(f"\n(a) warm handler time per webhook, median of {args.calls} calls")
            print(f"    ingest handler          {_ms(warm['ingest'])}")
            print(f"    bare sqs.send_message   {_ms(warm['baseline'])}")
            print(f"    ratio                   {warm['ingest'] / warm['baseline']:8.2f} x")

        if "b" in args.only:
            cold = bench_cold_start(running, args.repeats)
            ingest_total = cold["import"] + cold["first_call"]
            print(f"\n(b) cold start in a fresh interpreter, median of {args.repeats}")
            print(f"    import ingest app       {_ms(cold['import'])}")
            print(f"    its first call          {_ms(cold['first_call'])}")
            print(f"    import + first call     {_ms(ingest_total)}")
            print(f"    import boto3 + client   {_ms(cold['import_client'])}")
            print(f"    (then first send_message{_ms(cold['first_send'])})")
            print(f"    ratio                   {ingest_total / cold['import_client']:8.2f} x")

        if "c" in args.only:
            flow = bench_throughput(running, args.webhooks, args.threads)
            print(
                f"\n(c) HTTP front -> stored: {flow['sent']} webhooks ({flow['sample']}), "
                f"{args.threads} senders"
            )
            print(f"    answered 2xx            {flow['ok']:8d}")
            print(f"    archived                {flow['stored']:8d}")
            print(f"    all answered after      {flow['accepted_seconds']:8.2f} s")
            print(f"    all stored after        {flow['stored_seconds']:8.2f} s")
            print(f"    webhooks/s to stored    {flow['sent'] / flow['stored_seconds']:8.1f}")

        if "d" in args.only:
            print_write_units(bench_write_units(running))

        if "e" in args.only:
            print_process(bench_process(running, args.records), args.records)

        if "f" in args.only:
            meter = PublishMeter(running)
            try:
                with stdout_silenced():
                    per_webhook = bench_events_per_webhook(running, meter)
                    flow = bench_event_latency(
                        running,
                        meter,
                        args.events,
                        args.threads,
                        events_timeout(args.events) + args.events / max(args.events_rate, 0.1),
                        rate=args.events_rate,
                    )
            finally:
                meter.close()
            memory_mb = running.functions[PUBLISH].memory_mb
            print_events(per_webhook, flow, args.threads, memory_mb)

        if "g" in args.only and counter is not None:
            run = bench_cost.run_mix(
                running, counter, args.mix, args.mix_webhooks, args.threads, timeout=1800
            )
            print(bench_cost.format_mix_run(run, args.mix))
    finally:
        running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

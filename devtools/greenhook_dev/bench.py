"""Figures for greenhook's hot path, all measured in one run (`make bench`). No pass/fail.

(a) ingest handler time per webhook against moto, next to a bare handler that only calls
    `sqs.send_message` with the same kind of body, group and deduplication id;
(b) cold start, each in a fresh interpreter: importing the ingest app and its first call,
    next to `import boto3` + `boto3.client("sqs")`;
(c) webhooks per second from the HTTP front to stored, through the whole local stack.

moto runs in this process and slows down as queues deepen, so queues are kept short and
these figures compare code paths on this machine; they are not AWS latencies.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import requests

from greenhook_dev.http_front import build_event
from greenhook_dev.lambda_runtime import LocalFunction
from greenhook_dev.local_stack import INGEST, RunningStack, start_local_stack
from greenhook_dev.template_resources import REPO_ROOT

SAMPLE = REPO_ROOT / "events" / "stateInstanceChanged.json"
MESSAGE_SAMPLE = REPO_ROOT / "events" / "incomingMessageReceived.json"


class Bodies:
    """Distinct webhook bodies (so SQS deduplication never turns a send into a no-op)."""

    def __init__(self, sample: Path) -> None:
        self.document = json.loads(sample.read_text())
        self.counter = 0
        self.lock = threading.Lock()

    def next(self) -> bytes:
        with self.lock:
            self.counter += 1
            n = self.counter
        document = dict(self.document)
        document["timestamp"] = 1_700_000_000 + n
        if "idMessage" in document:
            document["idMessage"] = f"BENCH{n:011X}"
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
_COLD_INGEST = """
import importlib.util, json, sys, time
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


def bench_cold_start(running: RunningStack, repeats: int) -> dict[str, float]:
    app_path = REPO_ROOT / running.stack.function_properties(INGEST)["CodeUri"] / "app.py"
    bodies = Bodies(SAMPLE)
    runs: dict[str, list[float]] = {}
    # One unmeasured round first: writes any missing .pyc, warms the page cache.
    for round_number in range(repeats + 1):
        ingest = _run_fresh(
            _COLD_INGEST,
            [str(app_path)],
            stdin=json.dumps(ingest_event(running, bodies.next())),
        )
        boto = _run_fresh(_COLD_BOTO3, [running.info["queue_url"], bodies.next().decode()])
        if round_number == 0:
            continue
        for key, value in {**ingest, **boto}.items():
            runs.setdefault(key, []).append(value)
    _drain(boto3.client("sqs"), running.info["queue_url"])
    return {key: statistics.median(values) for key, values in runs.items()}


# -- (c) throughput ----------------------------------------------------------------------
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
    from greenhook.storage import Storage

    sample = MESSAGE_SAMPLE if MESSAGE_SAMPLE.exists() else SAMPLE
    bodies = Bodies(sample)
    payloads = [bodies.next() for _ in range(count)]
    local = threading.local()
    headers = {"Content-Type": "application/json", "Authorization": running.info["authorization"]}
    url = running.info["webhook_url"]

    def send(body: bytes) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return local.session.post(url, data=body, headers=headers, timeout=60).status_code

    sqs = boto3.client("sqs")
    running.poller.start()
    with stdout_silenced():
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            statuses = list(pool.map(send, payloads))
        accepted = time.perf_counter() - started
        while not _queue_empty(sqs, running.info["queue_url"]):
            time.sleep(0.02)
        stored_after = time.perf_counter() - started
        running.poller.stop()
    storage = Storage(running.info["table_name"])
    stored = sum(
        storage.get_archived(hashlib.sha256(body).hexdigest()) is not None for body in payloads
    )
    return {
        "sent": count,
        "ok": sum(200 <= s < 300 for s in statuses),
        "stored": stored,
        "accepted_seconds": accepted,
        "stored_seconds": stored_after,
        "sample": sample.name,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m greenhook_dev.bench", description=__doc__)
    parser.add_argument("--calls", type=int, default=200, help="(a) timed calls per handler")
    parser.add_argument("--warmup", type=int, default=20, help="(a) untimed calls first")
    parser.add_argument("--repeats", type=int, default=5, help="(b) fresh interpreters each")
    parser.add_argument("--webhooks", type=int, default=200, help="(c) webhooks sent")
    parser.add_argument("--threads", type=int, default=4, help="(c) concurrent senders")
    args = parser.parse_args(argv)

    running = start_local_stack(port=0, state_dir=None, start_poller=False)
    try:
        print(f"greenhook bench  (python {sys.version.split()[0]}, {os.cpu_count()} cpus, moto)")
        warm = bench_handler(running, args.calls, args.warmup)
        print(f"\n(a) warm handler time per webhook, median of {args.calls} calls")
        print(f"    ingest handler          {_ms(warm['ingest'])}")
        print(f"    bare sqs.send_message   {_ms(warm['baseline'])}")
        print(f"    ratio                   {warm['ingest'] / warm['baseline']:8.2f} x")

        cold = bench_cold_start(running, args.repeats)
        ingest_total = cold["import"] + cold["first_call"]
        print(f"\n(b) cold start in a fresh interpreter, median of {args.repeats}")
        print(f"    import ingest app       {_ms(cold['import'])}")
        print(f"    its first call          {_ms(cold['first_call'])}")
        print(f"    import + first call     {_ms(ingest_total)}")
        print(f"    import boto3 + client   {_ms(cold['import_client'])}")
        print(f"    (then first send_message{_ms(cold['first_send'])})")
        print(f"    ratio                   {ingest_total / cold['import_client']:8.2f} x")

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
    finally:
        running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

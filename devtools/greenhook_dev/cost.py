"""What greenhook costs on AWS per million webhooks, from counts a run measured (bench (g)).

Pure arithmetic: `Usage` holds what one run did on AWS's meters (requests, units, bytes,
billed durations), `cost_lines` prices it with the table in prices.json (its region and
date are printed with the figure). Fixed monthly costs (alarms, custom metrics, the SQS
event source's idle long polls, KMS) do not grow with webhooks and are not in the figure.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

PRICES_FILE = Path(__file__).with_name("prices.json")
GB = 1024**3
MILLION = 1_000_000

# The mix the issue states; `--mix` changes it.
DEFAULT_MIX = {"incoming": 0.35, "outgoing": 0.15, "status": 0.45, "other": 0.05}


@dataclass(frozen=True)
class Prices:
    region: str
    as_of: str
    values: dict[str, float]

    def __getitem__(self, name: str) -> float:
        return self.values[name]


def load_prices(path: Path = PRICES_FILE) -> Prices:
    document = json.loads(path.read_text())
    return Prices(document["region"], document["as_of"], document["prices"])


def parse_mix(text: str) -> dict[str, float]:
    """`incoming=35,outgoing=15,status=45,other=5` as shares that sum to 1."""
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, share = part.partition("=")
        name = name.strip()
        if name not in DEFAULT_MIX:
            raise ValueError(f"unknown kind {name!r}: one of {', '.join(DEFAULT_MIX)}")
        mix[name] = float(share)
        if mix[name] < 0:
            raise ValueError(f"{name}: a share cannot be negative")
    total = sum(mix.values())
    if total <= 0:
        raise ValueError("the mix is empty")
    return {name: mix.get(name, 0.0) / total for name in DEFAULT_MIX}


def increments(size: int, increment: int) -> int:
    """Requests billed for one of `size` bytes when each `increment` started counts once."""
    return max(1, math.ceil(size / increment))


@dataclass
class FunctionUsage:
    """One Lambda function's invocations in the run."""

    memory_mb: int
    billed_ms: list[int] = field(default_factory=list)  # one per invocation, rounded up
    log_bytes: int = 0  # what its code wrote to its log (lines, metrics)
    platform_log_bytes: int = 0  # Lambda's own lines (START/END/REPORT) that are kept

    @property
    def invocations(self) -> int:
        return len(self.billed_ms)

    @property
    def gb_seconds(self) -> float:
        return sum(self.billed_ms) / 1000 * self.memory_mb / 1024


@dataclass
class Usage:
    """What one run did on AWS's meters, all told."""

    webhooks: int
    http_requests: int = 0  # billed HTTP API requests (512 KB increments)
    functions: dict[str, FunctionUsage] = field(default_factory=dict)
    sqs_requests: int = 0  # billed SQS requests (64 KB increments)
    write_units: float = 0.0  # DynamoDB, table and indexes
    read_units: float = 0.0
    stream_reads: int = 0  # GetRecords by the event source mapping
    events: int = 0  # billed PutEvents events (64 KB increments)
    event_bytes: int = 0  # their size (what the archive bills)
    firehose_billed_bytes: int = 0  # each record rounded up to 5 KB
    s3_puts: int = 0
    s3_stored_bytes: int = 0  # what stays in S3 (compressed archive, payloads)
    s3_retention_days: int = 0
    table_archive_bytes: int = 0  # raw webhooks kept as table items (and index entries)
    table_archive_days: int = 0
    traced_invocations: float = 0.0  # sampled invocations when tracing is on


def cost_lines(usage: Usage, prices: Prices) -> list[tuple[str, float]]:
    """(line, dollars per million webhooks), one line per meter."""
    per = MILLION / usage.webhooks  # a count in the run -> per million webhooks
    lines = [
        (
            "API Gateway HTTP API requests",
            usage.http_requests * per / MILLION * prices["http_api_per_million_requests"],
        ),
    ]
    for name, function in sorted(usage.functions.items()):
        lines.append(
            (
                f"Lambda {name} requests",
                function.invocations * per / MILLION * prices["lambda_per_million_requests"],
            )
        )
        lines.append(
            (
                f"Lambda {name} duration ({function.memory_mb} MB)",
                function.gb_seconds * per * prices["lambda_per_gb_second"],
            )
        )
    logged = sum(f.log_bytes + f.platform_log_bytes for f in usage.functions.values())
    months = usage.s3_retention_days / 30
    lines += [
        (
            "SQS FIFO requests",
            usage.sqs_requests * per / MILLION * prices["sqs_fifo_per_million_requests"],
        ),
        (
            "DynamoDB write units",
            usage.write_units * per / MILLION * prices["dynamodb_per_million_write_units"],
        ),
        (
            "DynamoDB read units",
            usage.read_units * per / MILLION * prices["dynamodb_per_million_read_units"],
        ),
        (
            "DynamoDB Streams reads (by Lambda)",
            usage.stream_reads
            * per
            / MILLION
            * prices["dynamodb_stream_reads_by_lambda_per_million"],
        ),
        (
            "EventBridge PutEvents",
            usage.events * per / MILLION * prices["eventbridge_per_million_events"],
        ),
        (
            "EventBridge archive",
            usage.event_bytes * per / GB * prices["eventbridge_archive_per_gb"],
        ),
        (
            "Data Firehose ingestion",
            usage.firehose_billed_bytes * per / GB * prices["firehose_per_gb_ingested"],
        ),
        ("S3 PUT requests", usage.s3_puts * per / 1000 * prices["s3_put_per_thousand"]),
        (
            f"S3 storage ({usage.s3_retention_days} days)",
            usage.s3_stored_bytes * per / GB * months * prices["s3_standard_per_gb_month"],
        ),
        (
            f"DynamoDB storage of the archive ({usage.table_archive_days} days)",
            usage.table_archive_bytes
            * per
            / GB
            * usage.table_archive_days
            / 30
            * prices["dynamodb_per_gb_month"],
        ),
        (
            "CloudWatch Logs ingestion",
            logged * per / GB * prices["logs_ingestion_per_gb"],
        ),
        (
            "X-Ray traces",
            usage.traced_invocations * per / MILLION * prices["xray_per_million_traces_recorded"],
        ),
    ]
    return lines


def total(lines: list[tuple[str, float]]) -> float:
    return sum(dollars for _, dollars in lines)


def format_cost(lines: list[tuple[str, float]], prices: Prices, mix: dict[str, float]) -> str:
    """The line-by-line table, ending with the one figure."""
    shares = ", ".join(f"{round(share * 100)}% {name}" for name, share in mix.items())
    out = [f"    prices: {prices.region}, {prices.as_of} (devtools/greenhook_dev/prices.json)"]
    out.append(f"    mix: {shares}")
    width = max(len(name) for name, _ in lines)
    for name, dollars in lines:
        out.append(f"    {name:{width}}  ${dollars:8.4f}")
    out.append(f"    ${total(lines):.2f} per million webhooks")
    return "\n".join(out)

"""`greenhook`: developer commands against the local stack (see `make run`) or a deployed one.

Each subcommand is a `Command` in `COMMANDS`; add one with the `@command(...)` decorator.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenhook_dev.template_resources import REPO_ROOT

if TYPE_CHECKING:
    from greenhook.storage import Payloads, Storage

STACK_FILE = Path(".local") / "stack.json"


class CommandError(Exception):
    """A failure the user can act on: printed as one line, no traceback, exit code 2."""


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(
    name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    """Register `run(args) -> exit code` as the subcommand `name`."""

    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = Command(name, help, add_arguments, run)
        return run

    return register


# -- the local stack's state file ------------------------------------------------------------
def _add_stack_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack-file",
        type=Path,
        help=f"the local stack's state (default: ./{STACK_FILE}, else the repository's)",
    )


def _stack_file_path(path: Path | None) -> Path:
    candidates = [path] if path else [STACK_FILE, REPO_ROOT / STACK_FILE]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise CommandError(
        f"no local stack: {candidates[0]} not found; start the local stack with `make run`"
    )


def load_stack_info(path: Path | None) -> dict[str, Any]:
    """The local stack's endpoints and token, from the file `make run` writes."""
    return json.loads(_stack_file_path(path).read_text())


# -- send ------------------------------------------------------------------------------------
def _send_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="webhook JSON to post (e.g. events/*.json)")
    parser.add_argument("--url", help="webhook URL (default: the local stack's)")
    parser.add_argument(
        "--authorization", help="exact Authorization header value (default: the local stack's)"
    )
    _add_stack_file(parser)


@command("send", "POST a webhook file as GREEN-API does", _send_arguments)
def send(args: argparse.Namespace) -> int:
    import requests

    try:
        body = args.file.read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read {args.file}: {error.strerror}") from None
    url, authorization = args.url, args.authorization
    if url is None or authorization is None:
        info = load_stack_info(args.stack_file)
        url = url or info["webhook_url"]
        authorization = authorization if authorization is not None else info["authorization"]
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    try:
        response = requests.post(url, data=body, headers=headers, timeout=30)
    except requests.RequestException as error:
        raise CommandError(
            f"cannot reach {url}: {type(error).__name__}; is the local stack running (`make run`)?"
        ) from None
    print(f"{response.status_code} {response.reason}")
    if response.text:
        print(response.text)
    return 0 if 200 <= response.status_code < 300 else 1


# -- where the stored state is read ----------------------------------------------------------
def _target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", help="a deployed stack's name (default: the local stack)")
    parser.add_argument("--region", help="the deployed stack's region")
    _add_stack_file(parser)


@functools.cache
def _session(region: str | None, local: bool = False) -> Any:
    """One boto3 session per target for the process: its clients share loaded service models."""
    import boto3

    if local:  # moto accepts any credentials; these keep the developer's own out of it
        return boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
        )
    return boto3.Session(region_name=region)  # the default credential chain, as the AWS CLI


@dataclass(frozen=True)
class Target:
    """Where a command reads and writes: a deployed stack (--stack) or the local one."""

    session: Any
    endpoint: str | None
    table: str
    bucket: str
    queue_url: str | None  # replay and redrive need it
    dlq_url: str | None = None  # dlq and redrive

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint)


def open_target(args: argparse.Namespace) -> Target:
    if args.stack:
        session = _session(args.region)
        (stack,) = session.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        wanted = ("TableName", "PayloadBucketName")
        missing = [name for name in wanted if name not in outputs]
        if missing:
            raise CommandError(
                f"stack {args.stack} has no output {' or '.join(missing)}: is it a greenhook stack?"
            )
        table, bucket = (outputs[name] for name in wanted)
        return Target(session, None, table, bucket, outputs.get("QueueUrl"), outputs.get("DlqUrl"))
    info = load_stack_info(args.stack_file)
    if "bucket_name" not in info:
        raise CommandError("the local stack's file names no bucket_name; restart `make run`")
    return Target(
        _session(info["region"], local=True),
        info["aws_endpoint_url"],
        info["table_name"],
        info["bucket_name"],
        info.get("queue_url"),
        info.get("dlq_url"),
    )


def open_storage(args: argparse.Namespace) -> tuple[Storage, Payloads]:
    """The table and bucket of the deployed stack named by --stack, or of the local stack."""
    from greenhook.storage import Payloads, Storage

    target = open_target(args)
    payloads = Payloads(target.bucket, client=target.client("s3"))
    resource = target.session.resource("dynamodb", endpoint_url=target.endpoint)
    return Storage(target.table, resource=resource, payloads=payloads), payloads


def _stack_errors(run: Callable[[argparse.Namespace], int]) -> Callable:
    """AWS failures as one readable line that says which stack was being read."""

    @functools.wraps(run)
    def guarded(args: argparse.Namespace) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return run(args)
        except (BotoCoreError, ClientError) as error:
            if args.stack:
                raise CommandError(f"stack {args.stack}: {error}") from None
            raise CommandError(f"the local stack: {error}; is it running (`make run`)?") from None

    return guarded


def _print_json_or(args: argparse.Namespace, document: Any, text: str) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False, default=str) if args.json else text)


# -- formatting ------------------------------------------------------------------------------
ARROWS = {"incoming": "←", "outgoing": "→"}
TEXT_TYPES = {"textMessage", "extendedTextMessage"}  # shown as their text alone


def _utc(timestamp: int | None) -> str:
    """Unix seconds as `2026-11-27 21:30:05` (UTC)."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Columns aligned; the last one, free text, left unpadded."""
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def _content(type_message: str | None, text: str | None, width: int = 60) -> str:
    """`[imageMessage] caption`, or the text alone for a text message."""
    parts = [] if type_message in TEXT_TYPES else [f"[{type_message or '?'}]"]
    if text:
        parts.append(_clip(text, width))
    return " ".join(parts)


def _reactions(reactions: list[dict]) -> str:
    counts = Counter(r["emoji"] for r in reactions)
    return " ".join(emoji if n == 1 else f"{emoji}x{n}" for emoji, n in counts.items())


def _json_lines(value: Any) -> list[str]:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str).splitlines()


class _Fields:
    """`label       value` lines; a value of several lines continues under the first."""

    def __init__(self, width: int = 12) -> None:
        self.width = width  # two more than the longest label
        self.lines: list[str] = []

    def add(self, label: str, *values: str | None) -> None:
        shown = [v for v in values if v]
        for index, value in enumerate(shown):
            self.lines.append(f"{label if index == 0 else '':<{self.width}}{value}")

    def text(self) -> str:
        return "\n".join(self.lines)


def format_chats(chats: list[dict]) -> str:
    """A readable table of chats, most recently active first."""
    if not chats:
        return "no chats stored"
    rows = [
        (
            _utc(c["last_activity_at"]),
            c["chat_id"] or "?",
            (c["chat_name"] or "") + (f" [{c['chat_state']}]" if c["chat_state"] else ""),
            ARROWS.get(c["last_direction"] or "", " "),
            f"{c['last_sender_name'] or ''}: {_content(c['last_type_message'], c['last_text'])}"
            if c["last_id_message"]
            else "",
        )
        for c in chats
    ]
    return _table(("LAST ACTIVITY", "CHAT", "NAME", "", "LAST MESSAGE"), rows)


def format_messages(messages: list[dict]) -> str:
    """One line per message: time, direction, sender, content, status, reactions."""
    rows = [
        (
            _utc(m["timestamp"]),
            ARROWS.get(m["direction"] or "", "?"),
            m["sender_name"] or m["sender"] or "",
            " ".join(
                part
                for part in (
                    _content(m["type_message"], m["text"]),
                    "(edited)" if m["edited"] else "",
                    "(deleted)" if m["deleted"] else "",
                )
                if part
            ),
            m["status"] or "",
            _reactions(m["reactions"]),
        )
        for m in messages
    ]
    return _table(("TIME", "", "FROM", "MESSAGE", "STATUS", "REACTIONS"), rows)


def format_message(view: dict) -> str:
    """Everything stored about one message, a field a line."""
    fields = _Fields()
    fields.add("message", view["id_message"])
    fields.add("instance", str(view["id_instance"]))
    fields.add("chat", "  ".join(filter(None, (view["chat_id"], view["chat_name"]))))
    if not view["stored"]:
        fields.add("content", "not received yet: only statuses, edits or reactions so far")
    fields.add("time", _utc(view["timestamp"]))
    if view["direction"]:
        arrow = ARROWS.get(view["direction"], "?")
        fields.add("direction", f"{arrow} {view['direction']} ({view['type_webhook']})")
    sender = view["sender"] and f"<{view['sender']}>"
    fields.add("from", " ".join(filter(None, (view["sender_name"], sender))))
    fields.add("type", view["type_message"])
    fields.add("reply to", view["stanza_id"])
    fields.add("text", *(view["text"] or "").splitlines())
    if view["edited"]:
        fields.add("original", *(view["original_text"] or "").splitlines())
        fields.add("edits", *[f"{_utc(e['timestamp'])}  {e['text']}" for e in view["edits"]])
    if view["deleted"]:
        fields.add("deleted", _utc(view["deleted_at"]))
    if view["status"]:
        description = view["status_description"]
        fields.add("status", view["status"] + (f" ({description})" if description else ""))
        times = sorted(view["status_times"].items(), key=lambda item: item[1])
        fields.add("statuses", *[f"{status:<10} {_utc(ts)}" for status, ts in times])
    fields.add(
        "reactions",
        *[f"{r['emoji']}  {r['sender']}  {_utc(r['timestamp'])}" for r in view["reactions"]],
    )
    if view["poll_votes"] is not None:
        fields.add("poll votes", *_json_lines(view["poll_votes"]))
    if view["message_data"] is not None:
        fields.add("data", *_json_lines(view["message_data"]))
    fields.add("data in S3", view.get("message_data_s3_key"))
    return fields.text()


def _at(value: str | None, timestamp: int | None) -> str:
    if not value:
        return "-"
    return f"{value}  at {_utc(timestamp)}" if timestamp is not None else value


def _pairs(document: dict | None) -> str | None:
    return ", ".join(f"{k}={v}" for k, v in document.items()) if document else None


def format_instance(view: dict) -> str:
    """An instance's state, status, device and quota, each with when it was reported."""
    fields = _Fields(width=14)
    wid = f"  ({view['wid']})" if view["wid"] else ""
    fields.add("instance", f"{view['id_instance']}{wid}")
    fields.add("state", _at(view["state_instance"], view["state_timestamp"]))
    fields.add("status", _at(view["status_instance"], view["status_timestamp"]))
    fields.add("device", _at(_pairs(view["device"]), view["device_timestamp"]))
    fields.add("quota", _at(_pairs(view["quota"]), view["quota_timestamp"]))
    fields.add("last webhook", _utc(view["last_webhook_at"]) or "-")
    fields.add("checked", format_monitor(view.get("monitor")))
    return fields.text()


def format_monitor(monitor: dict | None) -> str:
    """The instance monitor's last check in one line (greenhook.monitor)."""
    if not monitor:
        return "- (no check yet: the monitor runs when greenhook registers the instance)"
    at = _utc(int(monitor["checked_at"]))
    if monitor.get("error"):
        return f"{at}: GREEN-API could not be asked: {monitor['error']}"
    parts = [str(monitor.get("state_instance"))]
    drift = monitor.get("drift") or {}
    if drift:
        changed = ", ".join(
            f"{name} ({d.get('current')!s}, expected {d.get('expected')!s})"
            for name, d in sorted(drift.items())
        )
        parts.append(f"settings drifted: {changed}")
    else:
        parts.append("settings as registered")
    if monitor.get("heal"):
        parts.append(str(monitor["heal"]))
    return f"{at}: " + "; ".join(parts)


def format_calls(calls: list[dict]) -> str:
    """A readable table of calls, newest first."""
    if not calls:
        return "no calls stored"
    kinds = {True: "video", False: "voice", None: ""}
    rows = [
        (
            _utc(c["started_at"]),
            ARROWS.get(c["direction"] or "", "?"),
            c["chat_id"] or "?",
            kinds.get(c["is_video"], ""),
            c["status"] or "",
            f"{c['duration']}s" if c["duration"] else "",
            ", ".join(f"{s['status']} {_utc(s['timestamp'])[11:]}" for s in c["statuses"]),
        )
        for c in calls
    ]
    return _table(("STARTED", "", "CHAT", "KIND", "STATUS", "DURATION", "STATUSES"), rows)


def format_parked(parked: list[dict]) -> str:
    """A readable table of parked webhooks and why each was parked, newest first."""
    if not parked:
        return "nothing is parked"
    rows = [
        (
            str(p["received_at"] or ""),
            str(p["type_webhook"] or "?"),
            str(p["id_instance"] or "?"),
            str(p["id"] or "")[:12],
            _clip(p["reason"] or "", 100),
        )
        for p in parked
    ]
    return _table(("RECEIVED AT", "TYPE", "INSTANCE", "ID", "REASON"), rows)


# -- archive ---------------------------------------------------------------------------------
def _archive_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--limit", type=int, default=20, help="newest N webhooks (default 20)")
    _target_arguments(parser)


def _preview(item: dict, width: int) -> str:
    if item.get("payload_s3_key"):
        return _clip(f"(in S3: {item['payload_s3_key']})", width)
    if item.get("body") is None:
        return "(binary body)"
    return _clip(str(item["body"]), width)


def format_archive(items: list[dict]) -> str:
    """A readable table of archive entries, newest first."""
    if not items:
        return "the archive is empty"
    rows = [
        (
            str(i.get("received_at") or ""),
            str(i.get("type_webhook") or "?"),
            str(i.get("id_instance") or "?"),
            str(i.get("id") or "")[:12],
            _preview(i, 60),
        )
        for i in items
    ]
    return _table(("RECEIVED AT", "TYPE", "INSTANCE", "ID", "BODY"), rows)


@command("archive", "list the newest webhooks in the archive", _archive_arguments)
@_stack_errors
def archive(args: argparse.Namespace) -> int:
    from greenhook.archive import ArchiveReader

    _, payloads = open_storage(args)
    items = ArchiveReader(payloads).newest(args.limit)
    _print_json_or(args, items, format_archive(items))
    return 0


def _when(text: str) -> datetime:
    """An ISO date or time (UTC unless it says otherwise)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from error
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _replay_archive_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", type=_when, required=True, help="e.g. 2026-12-01")
    parser.add_argument("--to", dest="end", type=_when, required=True, help="exclusive")
    parser.add_argument("--type", dest="type_webhook", help="only this typeWebhook")
    parser.add_argument("--dry-run", action="store_true", help="count, send nothing")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    _target_arguments(parser)


def replay_archive(
    reader: Any,
    *,
    sqs: Any,
    queue_url: str,
    start: datetime,
    end: datetime,
    type_webhook: str | None = None,
    dry_run: bool = False,
) -> dict[str, int]:
    """Send each body archived as received in [start, end) to the queue once, as ingest
    would (its original received_at and source IP). Convergent writes make a replay of
    what is stored a no-op."""
    from greenhook import queue, routing

    counts = {"archived": 0, "sent": 0, "skipped": 0}
    seen: set[str] = set()
    run = f"replay-{time.time_ns()}"
    for line in reader.records(start, end):
        counts["archived"] += 1
        if line["sha256"] in seen or (type_webhook and line.get("type_webhook") != type_webhook):
            counts["skipped"] += 1  # a body archived twice (two deliveries) is sent once
            continue
        seen.add(line["sha256"])
        if not dry_run:
            body = reader.body(line)
            queue.enqueue(
                body,
                sqs=sqs,
                queue_url=queue_url,
                group_id=routing.route(body).group_id,
                received_at=line["received_at"],
                source_ip=line.get("source_ip") or "replay",
                s3_client=lambda: reader.payloads.client,
                bucket=reader.payloads.bucket,
                deduplication_id=f"{run}-{line['sha256'][:64]}",
            )
        counts["sent"] += 1
    return counts


@command(
    "replay",
    "re-enqueue archived webhooks received in [--from, --to) through the normal path",
    _replay_archive_arguments,
)
@_stack_errors
def replay_command(args: argparse.Namespace) -> int:
    from greenhook.archive import ArchiveReader

    if args.end <= args.start:
        raise CommandError("--to must be after --from")
    target = open_target(args)
    if not target.queue_url:
        raise CommandError("the stack names no webhook queue (QueueUrl) to replay into")
    _, payloads = open_storage(args)
    counts = replay_archive(
        ArchiveReader(payloads),
        sqs=target.client("sqs"),
        queue_url=target.queue_url,
        start=args.start,
        end=args.end,
        type_webhook=args.type_webhook,
        dry_run=args.dry_run,
    )
    verb = "would send" if args.dry_run else "sent"
    _print_json_or(
        args,
        counts,
        f"{counts['archived']} archived, {verb} {counts['sent']}, skipped {counts['skipped']}",
    )
    return 0


# -- dlq, redrive ----------------------------------------------------------------------------
def _dlq_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--limit", type=int, default=100, metavar="N", help="at most N, oldest first (default 100)"
    )
    _target_arguments(parser)


def _queues(args: argparse.Namespace, *needed: str) -> Target:
    target = open_target(args)
    missing = [name for name in needed if not getattr(target, name)]
    if missing:
        where = f"stack {args.stack}" if args.stack else "the local stack's file"
        raise CommandError(f"{where} names no {' or '.join(missing)}; is it a greenhook stack?")
    return target


def _age(seconds: int) -> str:
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def format_dead_letters(total: int, entries: list[dict]) -> str:
    if not total and not entries:
        return "the DLQ is empty"
    lines = [f"{total} webhooks in the DLQ" + (f", the oldest {len(entries)}:" if entries else "")]
    lines.append(f"  {'AGE':>7}  {'TRIES':>5}  {'TYPE':<30} {'INSTANCE':<12} CHAT")
    for e in entries:
        kind = e["type_webhook"] or f"? ({e.get('unreadable', 'unreadable')})"
        lines.append(
            f"  {_age(e['age_seconds']):>7}  {e['receive_count']:>5}  {_clip(kind, 30):<30} "
            f"{e['id_instance'] or '':<12} {e['chat_id'] or ''}"
        )
    lines.append("move them back with `greenhook redrive` once the cause is fixed")
    return "\n".join(lines)


@command("dlq", "list the webhooks waiting in the dead-letter queue", _dlq_arguments)
@_stack_errors
def dlq_command(args: argparse.Namespace) -> int:
    from greenhook_dev.dead_letters import peek, waiting

    target = _queues(args, "dlq_url")
    sqs = target.client("sqs")
    _, payloads = open_storage(args)
    total = waiting(sqs, target.dlq_url)
    entries = peek(sqs, target.dlq_url, payloads, args.limit) if args.limit > 0 else []
    _print_json_or(
        args, {"total": total, "dead_letters": entries}, format_dead_letters(total, entries)
    )
    return 0


def _redrive_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the task's last state as JSON")
    parser.add_argument(
        "--rate", type=int, metavar="N", help="at most N webhooks a second (SQS: 1-500)"
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="start the move and return; SQS goes on with it"
    )
    _target_arguments(parser)


@command(
    "redrive",
    "move the DLQ's webhooks back to the webhook queue (SQS's message move task)",
    _redrive_arguments,
)
@_stack_errors
def redrive_command(args: argparse.Namespace) -> int:
    from greenhook_dev.dead_letters import follow, progress_text, queue_arn, start_redrive, waiting
    from greenhook_dev.progress import Progress

    target = _queues(args, "dlq_url", "queue_url")
    sqs = target.client("sqs")
    if not waiting(sqs, target.dlq_url):
        _print_json_or(args, {"Status": "NOTHING_TO_MOVE"}, "the DLQ is empty: nothing to move")
        return 0
    handle = start_redrive(sqs, target.dlq_url, target.queue_url, args.rate)
    if args.no_wait:
        _print_json_or(args, {"TaskHandle": handle}, f"move task started: {handle}")
        return 0
    progress = Progress()
    try:
        state = follow(
            sqs,
            queue_arn(sqs, target.dlq_url),
            handle,
            lambda s: progress.show(progress_text(s)),
            interval=1.0 if not args.stack else 5.0,
        )
    except KeyboardInterrupt:
        progress.done(f"stopped watching; the move task goes on in SQS ({handle})")
        return 130
    except LookupError as error:  # another task replaced it, or SQS never listed it
        raise CommandError(f"cannot follow move task {handle}: {error}") from None
    progress.done(progress_text(state))
    status = state.get("Status")
    text = (
        f"moved {state.get('ApproximateNumberOfMessagesMoved', 0)} webhooks back to the queue"
        if status == "COMPLETED"
        else f"the move task ended {status}: {state.get('FailureReason') or 'no reason given'};"
        " what was not moved stays in the DLQ"
    )
    _print_json_or(args, state, text)
    return 0 if status == "COMPLETED" else 1


# -- chats, messages, message, instance, calls, parked, replay-parked ------------------------
def _query_arguments(
    parser: argparse.ArgumentParser, *, limit: int | None = None, instance: bool = True
) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
    if limit is not None:
        parser.add_argument(
            "--limit", type=int, default=limit, metavar="N", help=f"at most N (default {limit})"
        )
    if instance:
        parser.add_argument(
            "--instance",
            type=int,
            metavar="ID",
            help="idInstance (default: the only instance that has sent webhooks)",
        )
    _target_arguments(parser)


def _instance(args: argparse.Namespace, storage: Storage) -> int:
    """--instance, or the one instance whose webhooks are stored."""
    if args.instance is not None:
        return args.instance
    instances = storage.list_instances()
    if not instances:
        raise CommandError(
            "no webhooks stored yet, so no instance to read; send one (`greenhook send FILE`) "
            "or name it with --instance ID"
        )
    if len(instances) > 1:
        raise CommandError(
            f"webhooks of {len(instances)} instances are stored "
            f"({', '.join(map(str, instances))}); pick one with --instance ID"
        )
    return instances[0]


@command(
    "chats",
    "an instance's chats, most recently active first",
    functools.partial(_query_arguments, limit=50),
)
@_stack_errors
def chats_command(args: argparse.Namespace) -> int:
    storage, _ = open_storage(args)
    chats = storage.list_chats(_instance(args, storage), limit=args.limit)
    _print_json_or(args, chats, format_chats(chats))
    return 0


def _messages_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("chat_id", metavar="CHAT_ID", help="e.g. 79876543210@c.us")
    _query_arguments(parser, limit=100)


@command("messages", "a chat's newest messages, oldest first", _messages_arguments)
@_stack_errors
def messages_command(args: argparse.Namespace) -> int:
    storage, _ = open_storage(args)
    id_instance = _instance(args, storage)
    messages = storage.list_messages(id_instance, args.chat_id, limit=args.limit)
    if not messages:
        _print_json_or(args, [], f"no messages in chat {args.chat_id} of instance {id_instance}")
        return 1
    _print_json_or(args, messages, format_messages(messages))
    return 0


def _message_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id_message", metavar="ID_MESSAGE", help="the message's idMessage")
    _query_arguments(parser)


@command(
    "message",
    "everything stored about one message: content, statuses, edits, reactions",
    _message_arguments,
)
@_stack_errors
def message_command(args: argparse.Namespace) -> int:
    storage, _ = open_storage(args)
    id_instance = _instance(args, storage)
    view = storage.get_message(id_instance, args.id_message)
    if view is None:
        _print_json_or(args, None, f"no message {args.id_message} in instance {id_instance}")
        return 1
    _print_json_or(args, view, format_message(view))
    return 0


@command(
    "instance", "an instance's state, status, device, quota and last webhook", _query_arguments
)
@_stack_errors
def instance_command(args: argparse.Namespace) -> int:
    storage, _ = open_storage(args)
    id_instance = _instance(args, storage)
    view = storage.get_instance(id_instance)
    if view is None:
        _print_json_or(args, None, f"no instance {id_instance} stored")
        return 1
    _print_json_or(args, view, format_instance(view))
    return 0


@command(
    "calls", "an instance's calls, newest first", functools.partial(_query_arguments, limit=50)
)
@_stack_errors
def calls_command(args: argparse.Namespace) -> int:
    storage, _ = open_storage(args)
    calls = storage.list_calls(_instance(args, storage), limit=args.limit)
    _print_json_or(args, calls, format_calls(calls))
    return 0


@command(
    "parked",
    "webhooks kept unhandled, with why, newest first",
    functools.partial(_query_arguments, limit=50, instance=False),
)
@_stack_errors
def parked_command(args: argparse.Namespace) -> int:
    storage, _ = open_storage(args)
    parked = storage.list_parked(limit=args.limit)
    _print_json_or(args, parked, format_parked(parked))
    return 0


def _replay_arguments(parser: argparse.ArgumentParser) -> None:
    _query_arguments(parser, limit=1000, instance=False)
    parser.add_argument(
        "--handlers",
        default="",
        metavar="MODULES",
        help="your handler modules too (ExtraHandlerModules), from functions/process/",
    )


@command(
    "replay-parked",
    "handle parked webhooks again; unpark those stored",
    _replay_arguments,
)
@_stack_errors
def replay_parked_command(args: argparse.Namespace) -> int:
    from greenhook.dispatch import load_handler_modules
    from greenhook.process import replay_parked

    if args.handlers:  # the modules the process function ships next to its app.py
        sys.path.append(str(REPO_ROOT / "functions" / "process"))
        load_handler_modules(m.strip() for m in args.handlers.split(",") if m.strip())
    from greenhook_dev.progress import Progress

    storage, payloads = open_storage(args)
    progress = Progress()
    try:
        counts = replay_parked(
            storage,
            payloads,
            limit=args.limit,
            progress=lambda done, total: progress.show(f"replayed {done} of {total}"),
        )
    finally:
        progress.finish()
    text = f"stored {counts['stored']}, still parked {counts['still parked']}"
    _print_json_or(args, counts, text)
    return 0


# -- events ----------------------------------------------------------------------------------
def _events_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print each event as JSON")
    parser.add_argument(
        "--limit", type=int, default=20, metavar="N", help="the newest N events (default 20)"
    )
    parser.add_argument(
        "--follow", action="store_true", help="then print events as they arrive (Ctrl-C stops)"
    )
    _add_stack_file(parser)


def event_summary(event: dict) -> str:
    """One line about what an event says happened."""
    detail = event.get("detail") or {}
    view = detail.get("view") or {}
    kind = event.get("detail-type", "")
    if "from" in detail or "to" in detail:
        change = f"{detail.get('from') or '-'} → {detail.get('to') or '-'}"
        return f"{detail.get('id_message') or ''} {change}".strip()
    if kind.startswith("Message") or kind in ("Reaction Changed", "Poll Votes Changed"):
        arrow = ARROWS.get(view.get("direction", ""), " ")
        via = f" (via {detail['via']})" if detail.get("via") else ""
        text = _content(view.get("type_message"), view.get("text"), 50)
        extra = ""
        if kind == "Reaction Changed":
            extra = " " + _reactions(view.get("reactions") or [])
        return f"{arrow} {view.get('chat_id') or ''}{via}: {text}{extra}"
    if kind == "Call Changed":
        statuses = " → ".join(s["status"] for s in view.get("statuses") or [])
        return f"{view.get('chat_id') or ''}: {statuses}"
    if kind == "Webhook Parked":
        return _clip(f"{view.get('type_webhook') or '?'}: {view.get('reason') or ''}", 70)
    if kind == "Chat Blocked":
        return f"{view.get('chat_id') or ''}: {view.get('chat_state') or ''}"
    aspect = {"Device Changed": "device", "Quota Exceeded": "quota", "Avatar Changed": "avatar"}
    return _clip(_pairs(view.get(aspect.get(kind, ""))) or _pairs(view) or "", 70)


def format_event(line: dict) -> str:
    event = line["event"]
    seen = datetime.fromtimestamp(line["seen_at"], UTC).strftime("%H:%M:%S")
    return f"{seen}  {event.get('detail-type', '?'):<24} {event_summary(event)}"


def _print_events(args: argparse.Namespace, lines: list[dict]) -> None:
    for line in lines:
        if args.json:
            print(json.dumps(line["event"], ensure_ascii=False), flush=True)
        else:
            print(format_event(line), flush=True)


@command(
    "events", "the newest business events published to the bus (local stack)", _events_arguments
)
def events_command(args: argparse.Namespace) -> int:
    import time

    from greenhook_dev.event_sink import read_events

    info = load_stack_info(args.stack_file)
    if not info.get("events_file"):
        raise CommandError("the local stack's file names no events_file; restart `make run`")
    path = Path(info["events_file"])
    lines = read_events(path)
    shown = lines[-args.limit :] if args.limit > 0 else []
    if not shown and not args.follow:
        print("no events yet: send a webhook (`greenhook send FILE`)")
    _print_events(args, shown)
    if not args.follow:
        return 0
    count = len(lines)
    try:
        while True:
            time.sleep(0.2)
            lines = read_events(path)
            _print_events(args, lines[count:])
            count = len(lines)
    except KeyboardInterrupt:
        return 0


# -- register, settings, rotate-token, unregister --------------------------------------------
def _operations(args: argparse.Namespace) -> Any:
    """Operations on the deployed stack named by --stack, or on the local stack."""
    from greenhook_dev.registration import Operations, Target

    if args.stack:
        session = _session(args.region)
        try:
            target = Target.from_deployed_stack(session.client("cloudformation"), args.stack)
        except ValueError as error:
            raise CommandError(str(error)) from None
        return Operations(target, session.client("secretsmanager"), session.client("stepfunctions"))
    info = load_stack_info(args.stack_file)
    if "registration" not in info:
        raise CommandError("the local stack has no GREEN-API registration")
    session = _session(info["region"], local=True)
    endpoint = info["aws_endpoint_url"]
    target = Target(
        info["registration"],
        float(info.get("token_cache_seconds", 300)),
        token_rotation_arn=info.get("token_rotation_arn"),
    )
    return Operations(
        target,
        session.client("secretsmanager", endpoint_url=endpoint),
        session.client("stepfunctions", endpoint_url=endpoint),
    )


def _with_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
    _target_arguments(parser)


def _green_api_errors(run: Callable[[argparse.Namespace], int]) -> Callable:
    """GREEN-API and AWS failures as one readable line (their messages carry no token)."""

    def guarded(args: argparse.Namespace) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        from greenhook.greenapi import GreenApiError

        try:
            return run(args)
        except (GreenApiError, BotoCoreError, ClientError) as error:
            raise CommandError(str(error)) from None

    return guarded


@command("register", "register the stack's webhook URL and token with GREEN-API", _with_json)
@_green_api_errors
def register_command(args: argparse.Namespace) -> int:
    from greenhook_dev.progress import Progress

    progress = Progress()
    try:
        outcome = _operations(args).register(progress=progress.step)
    finally:
        progress.finish()
    text = "settings changed and confirmed" if outcome.changed else "settings already up to date"
    _print_json_or(args, {"changed": outcome.changed}, text)
    return 0


@command("settings", "show GREEN-API's settings (token masked) and what differs", _with_json)
@_green_api_errors
def settings_command(args: argparse.Namespace) -> int:
    view = _operations(args).settings()
    lines = [f"{key:36} {value}" for key, value in sorted(view["settings"].items())]
    if view["differences"]:
        lines.append("\ndiffers from what the stack expects:")
        lines += [
            f"  {k}: {d['current']!r} -> {d['expected']!r}" for k, d in view["differences"].items()
        ]
    else:
        lines.append("\nmatches what the stack expects")
    _print_json_or(args, view, "\n".join(lines))
    return 0


def _rotate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--propagation-wait",
        type=float,
        help="seconds for ingest's token cache to expire (default: the stack's cache age + margin)",
    )
    parser.add_argument(
        "--grace", type=float, help="seconds both tokens stay valid after GREEN-API has the new"
    )
    parser.add_argument(
        "--wait", action="store_true", help="follow the execution until it ends, with progress"
    )
    _with_json(parser)


def _execution_link(arn: str) -> str:
    region = arn.split(":")[3]
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{arn}"
    )


@command(
    "rotate-token",
    "replace the webhook token (the TokenRotation state machine); no webhook is rejected",
    _rotate_arguments,
)
@_green_api_errors
def rotate_token_command(args: argparse.Namespace) -> int:
    from greenhook_dev.progress import Progress

    operations = _operations(args)
    try:
        arn = operations.start_rotation(
            cache_seconds=args.propagation_wait,
            grace_seconds=args.grace,
            # locally GREEN-API (the fake) applies settings within a second or two
            confirm_every_seconds=None if args.stack else 2,
        )
    except ValueError as error:
        raise CommandError(str(error)) from None
    where = _execution_link(arn) if args.stack else arn
    if not args.wait:
        _print_json_or(
            args,
            {"executionArn": arn, "status": "RUNNING"},
            f"rotation started: {where}\n(`--wait` follows it; both tokens are accepted until "
            "its last step)",
        )
        return 0
    progress = Progress(every=15.0)  # the waits are minutes long on AWS: a line each 15 s
    shown: list[str] = []

    def show(step: str, seconds: float) -> None:
        if shown[-1:] != [step]:  # a line per step, always
            shown.append(step)
            progress.done(f"rotation: {step}")
        progress.show(f"rotation: {step} ({seconds:.0f} s so far)")

    try:
        execution = operations.follow_rotation(
            arn, interval=2.0 if args.stack else 0.5, progress=show
        )
    finally:
        progress.finish()
    status = execution["status"]
    document = {"executionArn": arn, "status": status, "failure": execution.get("failure")}
    if status == "SUCCEEDED" and not args.stack:
        # the local stack's file tells `greenhook send` the header to use
        path = _stack_file_path(args.stack_file)
        info = json.loads(path.read_text())
        info["authorization"] = f"Bearer {operations.tokens()[0]}"
        path.write_text(json.dumps(info, indent=2) + "\n")
    if status == "SUCCEEDED":
        _print_json_or(args, document, "token rotated")
        return 0
    failure = execution.get("failure") or {}
    text = (
        f"rotation {status.lower()}"
        + (f" at {failure['state']}" if failure.get("state") else "")
        + (f": {failure['error']}: {failure['message']}" if failure.get("error") else "")
        + f"\nboth tokens are still accepted; see {where}"
    )
    _print_json_or(args, document, text)
    return 1


@command("unregister", "restore the webhook URL GREEN-API had before (or clear it)", _with_json)
@_green_api_errors
def unregister_command(args: argparse.Namespace) -> int:
    restored = _operations(args).unregister()
    if restored is None:
        text = "the instance points elsewhere; left as is"
    else:
        text = f"webhookUrl set to {restored['webhookUrl']!r}"
    shown = None if restored is None else {"webhookUrl": restored["webhookUrl"]}
    _print_json_or(args, {"restored": shown}, text)
    return 0


def _backfill_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--minutes",
        type=int,
        required=True,
        help="how far back to read GREEN-API's journals (1 to 1440)",
    )
    _with_json(parser)


def format_backfill(outcome: Any) -> str:
    lines = [
        f"GREEN-API's journals list {outcome.entries} messages of the last "
        f"{outcome.minutes} minutes; greenhook had {outcome.known}"
    ]
    rows = [
        (m["direction"] or "", m["chat_id"] or "", m["id_message"] or "", _utc(m["timestamp"]))
        for m in outcome.added
    ]
    if rows:
        lines += [f"added {len(rows)} from the journals:", _table(("", "CHAT", "ID", "AT"), rows)]
    else:
        lines.append("nothing to add")
    if outcome.references:
        lines.append(
            f"applied {len(outcome.references)} edits, deletions, reactions or votes "
            "to their messages"
        )
    for status in outcome.statuses:
        lines.append(f"status of {status['id_message']}: {status['from'] or '-'} -> {status['to']}")
    for parked in outcome.parked:
        lines.append(f"parked {parked['id_message']}: {parked['reason']}")
    return "\n".join(lines)


@command(
    "backfill",
    "store what GREEN-API's journals hold and greenhook missed (e.g. after an outage)",
    _backfill_arguments,
)
@_green_api_errors
def backfill_command(args: argparse.Namespace) -> int:
    from greenhook.backfill import MAX_MINUTES, Backfill
    from greenhook_dev.progress import Progress

    if not 1 <= args.minutes <= MAX_MINUTES:
        raise CommandError(f"--minutes must be from 1 to {MAX_MINUTES}")
    client = _operations(args).client()
    storage, _ = open_storage(args)
    wid = str(client.get_settings().get("wid") or "")  # the author of outgoing messages
    progress = Progress()
    try:
        outcome = Backfill(client, storage, wid).run(
            args.minutes,
            progress=lambda done, total: progress.show(f"checked {done} of {total} entries"),
        )
    finally:
        progress.finish()
    progress.done(f"checked {outcome.entries} journal entries")
    _print_json_or(args, outcome.as_dict(), format_backfill(outcome))
    return 0


# -- entry point -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greenhook", description=__doc__.split("\n", 1)[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for cmd in COMMANDS.values():
        sub = subparsers.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(sub)
        sub.set_defaults(run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except CommandError as error:
        print(f"greenhook {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

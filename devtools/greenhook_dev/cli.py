"""`greenhook`: developer commands against the local stack (see `make run`).

Each subcommand is a `Command` in `COMMANDS`; add one with the `@command(...)` decorator.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenhook_dev.template_resources import REPO_ROOT

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


# -- archive ---------------------------------------------------------------------------------
def _archive_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--limit", type=int, default=20, help="newest N webhooks (default 20)")
    _add_stack_file(parser)


def _dynamodb(info: dict[str, Any]) -> Any:
    import boto3

    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=info["region"]
    )
    return session.resource("dynamodb", endpoint_url=info["aws_endpoint_url"])


def _preview(item: dict, width: int) -> str:
    if item.get("payload_s3_key"):
        text = f"(in S3: {item['payload_s3_key']})"
    elif item.get("body") is None:
        text = "(binary body)"
    else:
        text = " ".join(str(item["body"]).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_archive(items: list[dict]) -> str:
    """A readable table of archive entries, newest first."""
    if not items:
        return "the archive is empty"
    header = ("RECEIVED AT", "TYPE", "INSTANCE", "ID", "BODY")
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
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in [header, *rows]
    ]
    return "\n".join(lines)


@command("archive", "list the newest webhooks in the local archive", _archive_arguments)
def archive(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from greenhook.storage import Storage

    info = load_stack_info(args.stack_file)
    try:
        items = Storage(info["table_name"], resource=_dynamodb(info)).list_archive(limit=args.limit)
    except (BotoCoreError, ClientError) as error:
        raise CommandError(
            f"cannot read the archive at {info['aws_endpoint_url']}: {error}; "
            "is the local stack running (`make run`)?"
        ) from None
    if args.json:
        print(json.dumps(items, indent=2, ensure_ascii=False, default=str))
    else:
        print(format_archive(items))
    return 0


# -- register, settings, rotate-token, unregister --------------------------------------------
def _target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", help="a deployed stack's name (default: the local stack)")
    parser.add_argument("--region", help="the deployed stack's region")
    _add_stack_file(parser)


def _operations(args: argparse.Namespace) -> Any:
    """Operations on the deployed stack named by --stack, or on the local stack."""
    import boto3

    from greenhook_dev.registration import Operations, Target

    if args.stack:
        session = boto3.Session(region_name=args.region)
        try:
            target = Target.from_deployed_stack(session.client("cloudformation"), args.stack)
        except ValueError as error:
            raise CommandError(str(error)) from None
        return Operations(target, session.client("secretsmanager"))
    info = load_stack_info(args.stack_file)
    if "registration" not in info:
        raise CommandError("the local stack has no GREEN-API registration")
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=info["region"]
    )
    secrets_client = session.client("secretsmanager", endpoint_url=info["aws_endpoint_url"])
    target = Target(info["registration"], float(info.get("token_cache_seconds", 300)))
    return Operations(target, secrets_client)


def _print_json_or(args: argparse.Namespace, document: Any, text: str) -> None:
    print(json.dumps(document, indent=2, default=str) if args.json else text)


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
    outcome = _operations(args).register()
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
        help="seconds for ingest's token cache to expire (default: the stack's cache age)",
    )
    parser.add_argument(
        "--grace", type=float, default=120, help="seconds both tokens stay valid (default 120)"
    )
    _with_json(parser)


@command("rotate-token", "replace the webhook token; no webhook is rejected", _rotate_arguments)
@_green_api_errors
def rotate_token_command(args: argparse.Namespace) -> int:
    operations = _operations(args)
    progress = (lambda _: None) if args.json else (lambda line: print(line, flush=True))
    new = operations.rotate_token(
        propagation_seconds=args.propagation_wait, grace_seconds=args.grace, progress=progress
    )
    if not args.stack:  # the local stack's file tells `greenhook send` the header to use
        path = _stack_file_path(args.stack_file)
        info = json.loads(path.read_text())
        info["authorization"] = f"Bearer {new}"
        path.write_text(json.dumps(info, indent=2) + "\n")
    _print_json_or(args, {"rotated": True}, "token rotated")
    return 0


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

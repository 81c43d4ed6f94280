"""The ingest hot path: check sender and token, put the raw body on the queue, answer.

Kept lean on purpose (no pydantic, no Event Handler, no X-Ray SDK): its latency caps how
fast GREEN-API can deliver an instance's webhooks, and its cold start is paid by them too.
Answers: 403 bad source IP, 401 bad token, 400 nothing to keep, 503 queue or secret
unavailable (GREEN-API retries), 200 only once SQS holds the body.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities import parameters
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from greenhook import auth, queue, routing, tokens
from greenhook.config import ConfigError, ingest_config
from greenhook.observability import log_metric, logger

# Every wait bounded so that ingest answers its own 503 before the function's Timeout (15 s)
# stops it: two attempts of at most 1 + 3 s, and standard back-off's at most 1 s between
# them, per call; a large body makes two calls (S3, then SQS): 14 s at the very worst.
_CLIENT_CONFIG = Config(
    connect_timeout=1,
    read_timeout=3,
    retries={"mode": "standard", "total_max_attempts": 2},
)


class Rejected(Exception):
    """A request that is answered with `status` and a short public message."""

    status = 400

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # logged, never sent


class Forbidden(Rejected):
    status = 403


class Unauthorized(Rejected):
    status = 401


class BadRequest(Rejected):
    status = 400


class Unavailable(Rejected):
    status = 503


@cache
def _secrets() -> parameters.SecretsProvider:
    # Its client from the default session, as SQS's: one set of loaded service data. The
    # default provider makes a Session of its own, about 100 ms more of every cold start.
    return parameters.SecretsProvider(boto3_client=_client("secretsmanager"))


@cache
def _client(service: str) -> Any:
    return boto3.client(service, config=_CLIENT_CONFIG)


def _response(status: int, payload: dict) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(payload),
    }


def _header(event: dict, name: str) -> str | None:
    headers = event.get("headers") or {}
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _body(event: dict) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("body is not valid base64") from None
    # A string from API Gateway is valid Unicode; one that is not (a direct invoke) is kept
    # as its bytes, lone surrogates included, rather than failing the request.
    return body.encode("utf-8", errors="surrogatepass")


def _check_sender(event: dict, source_ip: str | None) -> None:
    config = ingest_config()
    if not auth.source_ip_allowed(source_ip, config.allowed_networks):
        raise Forbidden("forbidden", detail="source IP not in the allowlist")
    try:
        accepted = tokens.webhook_tokens(
            config.token_secret_name, config.token_cache_seconds, _secrets()
        )
    except tokens.TokenUnavailable as error:
        raise Unavailable("temporarily unavailable", detail=str(error)) from None
    header = _header(event, "authorization")
    if not auth.authorization_matches(header, accepted):
        reason = "missing Authorization header" if not header else "wrong token"
        raise Unauthorized("unauthorized", detail=reason)


def _accept(event: dict, source_ip: str) -> dict:
    body = _body(event)
    if not body.strip():
        raise BadRequest("empty body")
    where = routing.route(body)
    config = ingest_config()
    received_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    try:
        queued = queue.enqueue(
            body,
            sqs=_client("sqs"),
            queue_url=config.queue_url,
            group_id=where.group_id,
            received_at=received_at,
            source_ip=source_ip,
            s3_client=lambda: _client("s3"),
            bucket=config.payload_bucket,
        )
    except (ClientError, BotoCoreError) as error:
        raise Unavailable("temporarily unavailable", detail=f"enqueue failed: {error}") from None
    # The webhook's one line, and its metric.
    fields = {
        "type_webhook": where.type_webhook,
        "id_instance": where.id_instance,
        "sha256": queued.sha256,
        "bytes": len(body),
    }
    if queued.payload_s3_key is not None:
        fields["offloaded"] = True
    if where.quarantine_reason:
        log_metric(
            "warning",
            "webhook quarantined",
            "WebhookQuarantined",
            reason=where.quarantine_reason,
            **fields,
        )
        return _response(
            200, {"status": "quarantined", "reason": where.quarantine_reason, "kept": True}
        )
    log_metric("info", "webhook accepted", "WebhookAccepted", **fields)
    return _response(200, {"status": "accepted"})


def handle(event: dict) -> dict:
    """Answer one API Gateway HTTP API (payload v2) request."""
    # Only the request context carries the peer address; X-Forwarded-For is client-controlled.
    source_ip = ((event.get("requestContext") or {}).get("http") or {}).get("sourceIp")
    try:
        _check_sender(event, source_ip)
        return _accept(event, source_ip)
    except Rejected as rejection:
        log_metric(
            "error" if rejection.status >= 500 else "warning",
            "webhook rejected",
            f"WebhookRejected{rejection.status}",
            status=rejection.status,
            reason=rejection.detail or rejection.message,
            source_ip=source_ip,
        )
        return _response(rejection.status, {"error": rejection.message})
    except ConfigError:
        logger.exception("ingest is misconfigured")
        return _response(500, {"error": "server misconfigured"})

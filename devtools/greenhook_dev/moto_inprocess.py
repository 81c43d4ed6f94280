"""Serve this process's own calls to the local moto server without HTTP.

The handlers run in the same process as moto's server, so each of their AWS calls went out
over a socket only to come back into moto's werkzeug/Flask stack in another thread: ~15-20 %
of the stack's CPU under load (issue 10). `InProcessRoute` is a botocore `before-send`
handler that hands requests addressed to the server's endpoint straight to moto's own
dispatcher, the one `mock_aws` uses (`botocore_stubber.process_request`), with the URL the
service has on AWS. Same backends, same state, same responses; only the transport differs.
Other processes (the CLI, `make load --stack-file`) still reach the same state over HTTP.

Only the hot services are routed (`ROUTED`); any other service, or a request moto cannot
route, goes over HTTP as before.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from botocore import handlers
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

# botocore service id (as in the event name) -> the service's host on AWS, per region.
ROUTED = {
    "sqs": "sqs.{region}.amazonaws.com",
    "dynamodb": "dynamodb.{region}.amazonaws.com",
    "dynamodb-streams": "streams.dynamodb.{region}.amazonaws.com",
    "eventbridge": "events.{region}.amazonaws.com",
    "firehose": "firehose.{region}.amazonaws.com",
}

# Answers that carry a URL built from the request's host: over HTTP they name the local
# endpoint, as every other client of the stack expects.
NOT_ROUTED = {"CreateQueue", "GetQueueUrl", "ListQueues", "ListDeadLetterSourceQueues"}
_lock = threading.Lock()
_routes: dict[str, InProcessRoute] = {}  # endpoint -> route; one botocore handler serves all


def _region(request: AWSPreparedRequest) -> str | None:
    """The region of the request's SigV4 credential scope."""
    auth = request.headers.get("Authorization")
    if isinstance(auth, bytes):
        auth = auth.decode()
    try:
        _, _, region, _, _ = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
    except (AttributeError, IndexError, ValueError):
        return None
    return region


class InProcessRoute:
    """Requests to `endpoint` (http://host:port) for the ROUTED services, served in-process."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint.rstrip("/")

    def aws_url(self, url: str, service_id: str, region: str) -> str:
        parts = urlsplit(url)
        host = ROUTED[service_id].format(region=region)
        query = f"?{parts.query}" if parts.query else ""
        return f"https://{host}{parts.path or '/'}{query}"

    def respond(self, request: AWSPreparedRequest, service_id: str) -> AWSResponse | None:
        from moto.core.botocore_stubber import MockRawResponse
        from moto.core.models import botocore_stubber

        region = _region(request)
        if region is None:
            return None
        url = self.aws_url(request.url, service_id, region)
        local = AWSPreparedRequest(
            method=request.method,
            url=url,
            headers=request.headers,
            body=request.body,
            stream_output=request.stream_output,
        )
        response = botocore_stubber.process_request(local)
        if response is None:
            return None
        status, headers, body = response
        return AWSResponse(url, status, headers, MockRawResponse(body))


def _before_send(request: AWSPreparedRequest, event_name: str = "", **_: Any) -> Any:
    if not _routes or not isinstance(request, AWSPreparedRequest):
        return None
    parts = event_name.split(".")
    service_id = parts[1] if len(parts) > 2 else ""
    if service_id not in ROUTED or parts[-1] in NOT_ROUTED:
        return None
    parsed = urlsplit(request.url)
    route = _routes.get(f"{parsed.scheme}://{parsed.netloc}")
    return route.respond(request, service_id) if route else None


def enable(endpoint: str, sessions: tuple[Any, ...] = ()) -> InProcessRoute:
    """Route this process's requests to `endpoint` in-process, for clients created from now on.

    botocore sessions copy BUILTIN_HANDLERS when created, so the handler is added there once
    (as moto itself does), and to boto3's default session and `sessions` that exist already.
    """
    import boto3

    route = InProcessRoute(endpoint)
    with _lock:
        if ("before-send", _before_send) not in handlers.BUILTIN_HANDLERS:
            handlers.BUILTIN_HANDLERS.append(("before-send", _before_send))
        existing = [boto3.DEFAULT_SESSION, *sessions]
        for session in [s for s in existing if s is not None]:
            events = session._session.get_component("event_emitter")
            events.unregister("before-send", _before_send)
            events.register("before-send", _before_send)
        _routes[route.endpoint] = route
    return route


def disable(endpoint: str) -> None:
    with _lock:
        _routes.pop(endpoint.rstrip("/"), None)

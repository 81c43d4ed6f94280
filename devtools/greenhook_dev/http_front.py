"""A local stand-in for API Gateway's HTTP API in front of the ingest function.

Each request becomes a payload format 2.0 event as API Gateway builds it (header names
lower-cased, repeats comma-joined, cookies split out, body as text only for textual content
types that are valid UTF-8, base64 otherwise), the function is invoked, and its response is
mapped back the way API Gateway maps a Lambda proxy response. `sourceIp` is the TCP peer:
a client-supplied X-Forwarded-For is passed along in the headers but never trusted.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import secrets
import socket
import string
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from greenhook_dev.template_resources import ACCOUNT_ID

log = logging.getLogger(__name__)

# API Gateway quota: HTTP API request payload 10 MB.
MAX_BODY_BYTES = 10 * 1024 * 1024
# Lambda rejects a synchronous invocation whose event is larger than this.
MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024
# Bodies API Gateway passes as text (measured against AWS, see ministack PR #766): every
# other type, a missing Content-Type and form posts included, arrives base64-encoded.
TEXT_MEDIA_TYPES = frozenset({"application/json", "application/xml", "application/javascript"})
# An oversized request is read and dropped up to this size so the client sees the 413
# instead of a reset; past it the connection is closed unread.
_DRAIN_LIMIT_BYTES = 8 * MAX_BODY_BYTES

Invoke = Callable[[dict], Any]


@dataclass(frozen=True)
class ApiSettings:
    """What API Gateway knows about the API: its id, region and routes ("POST /path")."""

    routes: frozenset[str]
    region: str = "us-east-1"
    api_id: str = field(
        default_factory=lambda: "".join(
            secrets.choice(string.ascii_lowercase + string.digits) for _ in range(10)
        )
    )
    stage: str = "$default"


def is_text_body(content_type: str | None, body: bytes) -> bool:
    """True when API Gateway would hand `body` to the function as a string."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not (media_type.startswith("text/") or media_type in TEXT_MEDIA_TYPES):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _split_headers(items: Iterable[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Headers as API Gateway passes them (lower-case, repeats comma-joined) and cookies."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in items:
        key = name.lower()
        if key == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
        else:
            headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers, cookies


def _host_name(host: str) -> str:
    """The Host header without its port ("[::1]:3000" -> "::1")."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _request_id() -> str:
    # API Gateway's ids look like "JKJaXmPLvHcESHA=": 10 random bytes, base64.
    return base64.b64encode(secrets.token_bytes(10)).decode()


def _trace_id(now: float) -> str:
    return f"Root=1-{int(now):08x}-{secrets.token_hex(12)}"


def build_event(
    *,
    api: ApiSettings,
    method: str,
    target: str,
    header_items: Iterable[tuple[str, str]],
    body: bytes | None,
    source_ip: str,
    server_port: int,
    protocol: str = "HTTP/1.1",
    now: float | None = None,
) -> dict:
    """The HTTP API payload 2.0 event API Gateway would send for this request."""
    now = time.time() if now is None else now
    url = urlsplit(target)
    raw_path = url.path or "/"
    headers, cookies = _split_headers(header_items)
    # API Gateway appends the peer it saw to whatever X-Forwarded-For the client sent.
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
    headers["x-forwarded-port"] = str(server_port)
    headers["x-forwarded-proto"] = "http"
    headers.setdefault("x-amzn-trace-id", _trace_id(now))
    domain_name = _host_name(headers.get("host") or "localhost")
    route_key = f"{method} {raw_path}"
    if route_key not in api.routes:
        route_key = "$default"
    request_id = _request_id()

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": url.query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if url.query:
        query: dict[str, str] = {}
        for name, value in parse_qsl(url.query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": api.api_id,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": api.stage,
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "timeEpoch": int(now * 1000),
    }
    if body:
        if is_text_body(headers.get("content-type"), body):
            event["body"] = body.decode("utf-8")
            event["isBase64Encoded"] = False
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _json_message(status: int, message: str) -> HttpResponse:
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return HttpResponse(status, [("Content-Type", "application/json")], body)


def map_response(result: Any) -> HttpResponse:
    """Turn a Lambda proxy result into the HTTP response API Gateway (format 2.0) sends."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Format 2.0: a result without statusCode is the JSON body of a 200.
        body = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, [("Content-Type", "application/json")], body.encode())
    status = int(result["statusCode"])
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [("Set-Cookie", str(c)) for c in result.get("cookies") or []]
    raw = result.get("body")
    if raw is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(raw)
    else:
        body = str(raw).encode("utf-8")
    return HttpResponse(status, headers, body)


class BodyTooLarge(Exception):
    """The request body exceeds API Gateway's payload limit."""


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "greenhook-local"
    sys_version = ""
    timeout = 60  # seconds a connection may sit idle or stall mid-request
    server: _FrontServer

    def _handle(self) -> None:
        front = self.server.front
        started = time.perf_counter()
        try:
            body = self._read_body()
        except BodyTooLarge:
            self.close_connection = True
            response = _json_message(413, "Request Entity Too Large")
        except ValueError:  # a Content-Length or chunk size that is not a number
            self.close_connection = True
            response = _json_message(400, "Bad Request")
        else:
            response = front.respond(
                method=self.command,
                target=self.path,
                header_items=self.headers.items(),
                body=body,
                source_ip=self.client_address[0],
                server_port=self.server.server_address[1],
                protocol=self.request_version,
            )
        self._write(response)
        front.log_request(self, response.status, time.perf_counter() - started)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            if length <= _DRAIN_LIMIT_BYTES:
                self._discard(length)
            raise BodyTooLarge
        return self.rfile.read(length) if length else b""

    def _discard(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                return
            length -= len(chunk)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise BodyTooLarge
            parts.append(self.rfile.read(size))
            self.rfile.readline(3)

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


class _FrontServer(ThreadingHTTPServer):
    daemon_threads = True
    front: HttpFront


class _FrontServerV6(_FrontServer):
    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        # Separate sockets per family, so an IPv4 peer is never seen as ::ffff:a.b.c.d.
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


class HttpFront:
    """Serve the API on 127.0.0.1 (and ::1 on the same port when possible)."""

    def __init__(
        self,
        invoke: Invoke,
        api: ApiSettings,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ipv6: bool = True,
        access_log: Callable[[str], None] | None = None,
    ) -> None:
        self.invoke = invoke
        self.api = api
        self.access_log = access_log
        self._servers: list[_FrontServer] = [_FrontServer((host, port), _RequestHandler)]
        self.port = self._servers[0].server_address[1]
        if ipv6 and socket.has_ipv6:
            # Optional: some machines have no IPv6 loopback; then IPv4 alone serves.
            with contextlib.suppress(OSError):
                self._servers.append(_FrontServerV6(("::1", self.port), _RequestHandler))
        for server in self._servers:
            server.front = self
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def addresses(self) -> list[str]:
        return [str(server.server_address[0]) for server in self._servers]

    def start(self) -> None:
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"http-front-{server.server_address[0]}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for server in self._servers:
            if self._threads:
                server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def respond(self, **request: Any) -> HttpResponse:
        """Route one request: build the event, invoke the function, map its result."""
        event = build_event(api=self.api, **request)
        if event["routeKey"] == "$default":
            # No route matches (this includes a known path with another method).
            return _json_message(404, "Not Found")
        if len(json.dumps(event)) > MAX_INVOKE_PAYLOAD_BYTES:
            return _json_message(413, "Request Entity Too Large")
        try:
            result = self.invoke(event)
            response = map_response(result)
        except Exception:
            # Lambda reports a function error; API Gateway hides it behind a bare 500.
            log.exception("function error for %s %s", request["method"], event["rawPath"])
            response = _json_message(500, "Internal Server Error")
        response.headers.append(("apigw-requestid", event["requestContext"]["requestId"]))
        return response

    def log_request(self, handler: BaseHTTPRequestHandler, status: int, seconds: float) -> None:
        if self.access_log:
            self.access_log(
                f"{handler.client_address[0]} {handler.command} {handler.path} "
                f"-> {status} ({seconds * 1000:.0f} ms)"
            )

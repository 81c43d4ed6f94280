"""A fake GREEN-API the project owns: the account methods, and webhook delivery.

The HTTP side answers GREEN-API's URL pattern `/waInstance{idInstance}/{method}/{apiTokenInstance}`
(method names in any case) for getSettings, setSettings and getStateInstance, with the
behaviour documented in docs section 6: settings apply only after a delay (the instance
"reboots"), setSettings is rate-limited per instance, errors use GREEN-API's statuses.

Statuses, checked in this order:
  503 while `down()` (every request, even unknown paths: the whole service is away);
  404 a path outside the pattern;
  403 an idInstance that is not a number or not an instance here;
  401 a wrong or missing apiTokenInstance;
  404 an unknown method, or a known one with the wrong HTTP method (the docs' "Not Found");
  <status> injected with `fail_next`;
  429 setSettings over `set_settings_rate` (with Retry-After); the call is not applied;
  400 setSettings while the instance is `notAuthorized` ("instance account not authorized")
      or `starting` ("instance in starting process try later"), both from the common-errors
      page. Other states (blocked, yellowCard, suspended, sleepMode) accept settings: the
      account is still authorized there, only sending is restricted;
  400 setSettings with an empty body, invalid JSON, no fields, an unknown field or a value of
      the wrong type or range.
getSettings and getStateInstance answer in every state; `wid` is "" while notAuthorized.

The journals (docs section 9): every message webhook `send` queues is also noted, flat, in
the instance's journal (when its kind's switch is on, as GREEN-API does), and a status webhook
moves its message's `statusMessage` and `timestamp` on. `lastIncomingMessages` and
`lastOutgoingMessages` answer with the entries of the last `minutes` (default 1440), newest
first, whether or not their webhook was ever delivered.

The sender side plays GREEN-API delivering webhooks (docs section 1): per instance, one
notification at a time and in order, POSTed to the applied webhookUrl, re-sent after
`retry_interval` until an HTTP 200, dropped after `give_up_after`.

The apiTokenInstance is never logged: log lines carry the path cut at the first segment that
could be a token ("/waInstance1101000001/getSettings/***"), and `calls` records no token.
"""

from __future__ import annotations

import bisect
import contextlib
import hmac
import itertools
import json
import logging
import math
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit, urlunsplit

import requests

log = logging.getLogger(__name__)

DEFAULT_INSTANCE = 1101000001
MAX_BODY_BYTES = 1024 * 1024
# stateInstance values (docs section 5.2).
STATES = (
    "notAuthorized",
    "authorized",
    "blocked",
    "sleepMode",
    "starting",
    "yellowCard",
    "suspended",
)

# Settings a fresh instance has (docs 6.2/6.3): every switch "no", the default send delay.
YES_NO_SETTINGS = (
    "markIncomingMessagesReaded",
    "markIncomingMessagesReadedOnReply",
    "outgoingWebhook",
    "outgoingMessageWebhook",
    "outgoingAPIMessageWebhook",
    "incomingWebhook",
    "deviceWebhook",
    "statusInstanceWebhook",
    "stateWebhook",
    "pollMessageWebhook",
    "incomingCallWebhook",
    "outgoingCallWebhook",
    "incomingBlockWebhook",
    "editedMessageWebhook",
    "deletedMessageWebhook",
    "keepOnlineStatus",
)
# 86 400 000 is the SetSettings page's maximum; a newer page says 600 000 (docs section 6.2).
DELAY_RANGE = (500, 86_400_000)


def default_settings() -> dict[str, Any]:
    """The settings of a freshly created instance."""
    return {
        "webhookUrl": "",
        "webhookUrlToken": "",
        "delaySendMessagesMilliseconds": 5000,
        **dict.fromkeys(YES_NO_SETTINGS, "no"),
    }


_HTTP_METHODS = {
    "getSettings": "GET",
    "setSettings": "POST",
    "getStateInstance": "GET",
    "lastIncomingMessages": "GET",
    "lastOutgoingMessages": "GET",
}
_METHODS = {name.lower(): name for name in _HTTP_METHODS}  # names are case-insensitive
_PATH = re.compile(r"^/waInstance([^/]*)/([^/]+)(?:/([^/]*))?(?:/.*)?$")
_NAME = re.compile(r"^[A-Za-z]{1,40}$")
# An API path inside a request line or message (it may hold the token).
_PATH_IN_TEXT = re.compile(r"/waInstance[^\s'\"]*")


_MESSAGE_WEBHOOKS = {
    "incomingMessageReceived": ("incomingWebhook",),
    "outgoingMessageReceived": ("outgoingWebhook", "outgoingMessageWebhook"),
    "outgoingAPIMessageReceived": ("outgoingWebhook", "outgoingAPIMessageWebhook"),
}
# messageData's content objects as a journal entry holds them: "*" spreads the object's
# fields into the entry (textMessage; downloadUrl, caption...), a name nests it under that.
_JOURNAL_FIELDS = {
    "textMessageData": "*",
    "fileMessageData": "*",
    "extendedTextMessageData": "extendedTextMessage",
    "locationMessageData": "location",
    "contactMessageData": "contact",
}


def journal_entry(document: dict[str, Any]) -> dict[str, Any] | None:
    """A message webhook as GREEN-API's journals show its message (docs section 9): flat,
    no envelope; None for any other webhook."""
    type_webhook = document.get("typeWebhook")
    if type_webhook not in _MESSAGE_WEBHOOKS:
        return None
    sender = document.get("senderData") or {}
    data = dict(document.get("messageData") or {})
    outgoing = type_webhook != "incomingMessageReceived"
    entry: dict[str, Any] = {
        "type": "outgoing" if outgoing else "incoming",
        "idMessage": document.get("idMessage"),
        "timestamp": document.get("timestamp"),
        "typeMessage": data.pop("typeMessage", None),
        "chatId": sender.get("chatId"),
        "senderId": sender.get("sender"),
    }
    if outgoing:
        entry["statusMessage"] = "pending"  # until a status webhook says more
        entry["sendByApi"] = type_webhook == "outgoingAPIMessageReceived"
    else:
        entry["senderName"] = sender.get("senderName", "")
    for key, value in data.items():
        flat = _JOURNAL_FIELDS.get(key)
        if flat == "*" and isinstance(value, dict):
            entry.update(value)
        else:
            entry[flat or key] = value
    return entry


def redact_path(target: str) -> str:
    """A request target fit for a log: no query, and "***" from the first segment that may
    be a token on (only `waInstance<digits>` and a method-like name are kept).
    """
    segments = [s for s in urlsplit(target).path.split("/") if s]
    kept: list[str] = []
    for segment in segments[:2]:
        if not (re.fullmatch(r"waInstance\d*", segment) or _NAME.match(segment)):
            break
        kept.append(segment)
    redacted = "/" + "/".join(kept)
    if len(segments) > len(kept):
        redacted += "/***" if kept else "***"
    return redacted


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]  # no user:password either
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class ApiCall(NamedTuple):
    """One request to the HTTP API, as recorded in `FakeGreenApi.calls` (no token)."""

    method: str
    id_instance: int | None
    status: int


@dataclass
class _Notification:
    id: int
    id_instance: int
    body: bytes
    enqueued: float  # time.monotonic()
    attempts: int = 0


@dataclass
class _Instance:
    id_instance: int
    token: str
    state: str
    settings: dict[str, Any] = field(default_factory=default_settings)
    scheduled: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    last_set_settings: float | None = None
    queue: deque[_Notification] = field(default_factory=deque)
    delivered: int = 0
    journal: dict[str, dict[str, Any]] = field(default_factory=dict)  # idMessage -> entry

    @property
    def wid(self) -> str:
        return "" if self.state == "notAuthorized" else f"7{self.id_instance:010d}@c.us"


class _Answer(NamedTuple):
    status: int
    body: Any
    headers: tuple[tuple[str, str], ...] = ()


def _error(status: int, message: str, **extra: Any) -> _Answer:
    """A GREEN-API-like error body (status, phrase, message); never the request path."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:  # e.g. GREEN-API's own 466
        phrase = "Error"
    return _Answer(status, {"statusCode": status, "error": phrase, "message": message, **extra})


class InvalidSettings(ValueError):
    """A setSettings body GREEN-API would answer with 400."""


def validate_settings(raw: bytes) -> dict[str, Any]:
    """The changes a setSettings body asks for; InvalidSettings says why it is refused."""
    if not raw.strip():
        raise InvalidSettings("bad request data")
    try:
        document = json.loads(raw)
    except UnicodeDecodeError:
        raise InvalidSettings("bad request data") from None
    except json.JSONDecodeError as error:
        raise InvalidSettings(f"Unexpected token in JSON at position {error.pos}") from None
    if not isinstance(document, dict) or not document:
        raise InvalidSettings("bad request data")
    problems = []
    for name, value in document.items():
        if name in YES_NO_SETTINGS:
            if value not in ("yes", "no"):
                problems.append(f"{name} must be one of: yes, no")
        elif name == "webhookUrl":
            url = urlsplit(value) if isinstance(value, str) else None
            if url is None or (value and (url.scheme not in ("http", "https") or not url.netloc)):
                problems.append(f"{name} must be an http(s) URL or an empty string")
        elif name == "webhookUrlToken":
            if not isinstance(value, str):
                problems.append(f"{name} must be a string")
        elif name == "delaySendMessagesMilliseconds":
            low, high = DELAY_RANGE
            if not (
                isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
            ):
                problems.append(f"{name} must be an integer from {low} to {high}")
        else:
            problems.append(f"{name} is not a setting")
    if problems:
        raise InvalidSettings("Validation failed: " + "; ".join(problems))
    return document


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "greenhook-fake-green-api"
    sys_version = ""
    timeout = 30
    server: _Server

    def _handle(self) -> None:
        started = time.perf_counter()
        length = self.headers.get("Content-Length") or "0"
        chunked = "Transfer-Encoding" in self.headers  # not supported: refused, not misread
        if chunked or not length.isdigit() or int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            answer = _error(400, "bad request data")
            self.server.fake._record(ApiCall("?", None, answer.status))
        else:
            body = self.rfile.read(int(length)) if int(length) else b""
            answer = self.server.fake._respond(self.command, self.path, body)
        # Logged (and recorded) before the answer goes out, so a client that has its answer
        # finds the call in `calls` and the log.
        log.info(
            "%s %s %s -> %d (%.0f ms)",
            self.client_address[0],
            self.command,
            redact_path(self.path),
            answer.status,
            (time.perf_counter() - started) * 1000,
        )
        self._write(answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def _write(self, answer: _Answer) -> None:
        payload = json.dumps(answer.body, ensure_ascii=False).encode("utf-8")
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _handle writes its own, redacted, access-log line

    def log_message(self, format: str, *args: Any) -> None:
        # Parse errors end up here with the raw request line, token and all.
        log.debug(_PATH_IN_TEXT.sub(lambda m: redact_path(m.group(0)), format % args))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGreenApi


class FakeGreenApi:
    """GREEN-API for one or more instances, on 127.0.0.1; thread-safe.

    `apply_delay`, `set_settings_rate`, `retry_interval`, `delivery_timeout` and
    `give_up_after` are plain attributes, read when used: a test may change them live.
    """

    def __init__(
        self,
        instances: dict[int, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        apply_delay: float = 0.0,
        set_settings_rate: float | None = 1.0,
        state: str = "authorized",
        retry_interval: float = 60.0,
        delivery_timeout: float = 180.0,
        give_up_after: float = 24 * 3600.0,
    ) -> None:
        if instances is None:
            instances = {DEFAULT_INSTANCE: secrets.token_hex(25)}
        if not instances:
            raise ValueError("a fake GREEN-API needs at least one instance")
        if state not in STATES:
            raise ValueError(f"unknown stateInstance {state!r}; known: {', '.join(STATES)}")
        # idInstance -> apiTokenInstance
        self.instances: dict[int, str] = {int(i): token for i, token in instances.items()}
        self.apply_delay = apply_delay
        self.set_settings_rate = set_settings_rate
        self.retry_interval = retry_interval
        self.delivery_timeout = delivery_timeout
        self.give_up_after = give_up_after
        self._instances = {
            int(i): _Instance(int(i), token, state) for i, token in self.instances.items()
        }
        self._lock = threading.Condition()
        self._calls: list[ApiCall] = []
        self._deliveries: list[dict[str, Any]] = []
        self._given_up: list[dict[str, Any]] = []
        self._failures: dict[str, deque[int]] = {}
        self._down = False
        self._stopping = False
        self._ids = itertools.count(1)
        self._server = _Server((host, port), _Handler)
        self._server.fake = self
        self.host: str = self._server.server_address[0]
        self.port: int = self._server.server_address[1]
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The apiUrl, e.g. http://127.0.0.1:<port>."""
        return f"http://{self.host}:{self.port}"

    def method_url(self, method: str, id_instance: int | None = None) -> str:
        """`{url}/waInstance{id}/{method}/{token}` (holds the token: do not log it)."""
        id_instance = self._default_id(id_instance)
        return f"{self.url}/waInstance{id_instance}/{method}/{self.instances[id_instance]}"

    def start(self) -> None:
        """Serve the API and start one sender thread per instance (once per object)."""
        if self._threads:
            return
        if self._stopping:
            raise RuntimeError("a stopped FakeGreenApi cannot be started again")
        server = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="fake-green-api",
            daemon=True,
        )
        server.start()
        self._threads.append(server)
        for instance in self._instances.values():
            sender = threading.Thread(
                target=self._deliver_forever,
                args=(instance,),
                name=f"fake-green-api-sender-{instance.id_instance}",
                daemon=True,
            )
            sender.start()
            self._threads.append(sender)

    def stop(self) -> None:
        """Stop serving and sending; undelivered notifications stay queued."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._threads:
            self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            # A sender in the middle of a POST finishes it first (at most delivery_timeout).
            thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> FakeGreenApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- controls for tests ------------------------------------------------------------------
    def settings(self, id_instance: int | None = None) -> dict[str, Any]:
        """The settings applied now (what getSettings shows, without `wid`)."""
        with self._lock:
            instance = self._instance(id_instance)
            self._apply_due(instance)
            return dict(instance.settings)

    def preset(self, id_instance: int | None, settings: dict[str, Any]) -> None:
        """Apply settings at once, with no rate limit or delay (as if set long ago)."""
        changes = validate_settings(json.dumps(settings).encode())
        with self._lock:
            instance = self._instance(id_instance)
            self._apply_due(instance)
            instance.settings.update(changes)
            self._lock.notify_all()

    def state(self, id_instance: int | None = None) -> str:
        with self._lock:
            return self._instance(id_instance).state

    def set_state(self, id_instance: int | None, state: str) -> None:
        """Set what getStateInstance answers (and whether setSettings is accepted)."""
        if state not in STATES:
            raise ValueError(f"unknown stateInstance {state!r}; known: {', '.join(STATES)}")
        with self._lock:
            self._instance(id_instance).state = state

    def fail_next(self, method: str, status: int, times: int = 1) -> None:
        """Answer the next `times` valid calls of `method` with `status` (not applied)."""
        with self._lock:
            self._failures.setdefault(method.lower(), deque()).extend([status] * times)

    def down(self) -> None:
        """Answer 503 to every request until `up()` (the sender keeps delivering)."""
        with self._lock:
            self._down = True

    def up(self) -> None:
        with self._lock:
            self._down = False

    @property
    def calls(self) -> list[ApiCall]:
        """Every HTTP API request so far: (method, id_instance, status), oldest first."""
        with self._lock:
            return list(self._calls)

    # -- sender controls ---------------------------------------------------------------------
    def send(self, id_instance: int | None, body: dict | bytes) -> int:
        """Queue a notification for delivery; returns its id (1, 2, ... across instances)."""
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        with self._lock:
            instance = self._instance(id_instance)
            self._note_in_journal(instance, raw)
            notification = _Notification(
                next(self._ids), instance.id_instance, raw, time.monotonic()
            )
            instance.queue.append(notification)
            self._lock.notify_all()
            return notification.id

    def journal(self, id_instance: int | None = None) -> list[dict[str, Any]]:
        """The instance's journal entries, oldest first (copies)."""
        with self._lock:
            return json.loads(json.dumps(list(self._instance(id_instance).journal.values())))

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery attempt: notification, id_instance, attempt, status, error, url, time."""
        with self._lock:
            return [dict(d) for d in self._deliveries]

    @property
    def given_up(self) -> list[dict[str, Any]]:
        """Notifications dropped undelivered after `give_up_after` seconds."""
        with self._lock:
            return [dict(d) for d in self._given_up]

    def pending(self, id_instance: int | None = None) -> int:
        """Notifications of the instance not delivered yet (the one in flight included)."""
        with self._lock:
            return len(self._instance(id_instance).queue)

    def delivered(self, id_instance: int | None = None) -> int:
        """Notifications delivered (answered 200); all instances when `id_instance` is None."""
        with self._lock:
            return self._delivered(id_instance)

    def wait_delivered(self, count: int, timeout: float, id_instance: int | None = None) -> bool:
        """Wait until `count` notifications are delivered; False if `timeout` passes first."""
        with self._lock:
            return self._lock.wait_for(lambda: self._delivered(id_instance) >= count, timeout)

    # -- HTTP API ----------------------------------------------------------------------------
    def _respond(self, command: str, target: str, body: bytes) -> _Answer:
        path = urlsplit(target).path
        match = _PATH.match(path)
        raw_method = match.group(2) if match else ""
        method = _METHODS.get(raw_method.lower(), raw_method if _NAME.match(raw_method) else "?")
        id_text = match.group(1) if match else ""
        id_instance = int(id_text) if id_text.isdigit() else None
        query = parse_qs(urlsplit(target).query)
        with self._lock:
            answer = self._answer(command, match, method, id_instance, body, query)
            self._calls.append(ApiCall(method, id_instance, answer.status))
        return answer

    def _answer(
        self,
        command: str,
        match: re.Match[str] | None,
        method: str,
        id_instance: int | None,
        body: bytes,
        query: dict[str, list[str]],
    ) -> _Answer:
        if self._down:
            return _error(503, "Service Unavailable")
        if match is None:
            return _error(404, "Not Found")
        instance = self._instances.get(id_instance) if id_instance is not None else None
        if instance is None:
            return _error(403, "Forbidden")
        token = (match.group(3) or "").encode()
        if not hmac.compare_digest(token, instance.token.encode()):
            return _error(401, "Unauthorized")
        if _HTTP_METHODS.get(method) != command:
            return _error(404, "Not Found")
        injected = self._failures.get(method.lower())
        if injected:
            status = injected.popleft()
            headers = (("Retry-After", "1"),) if status == 429 else ()
            return _error(status, "injected failure")._replace(headers=headers)
        self._apply_due(instance)
        if method == "getSettings":
            return _Answer(200, {"wid": instance.wid, **instance.settings})
        if method == "getStateInstance":
            return _Answer(200, {"stateInstance": instance.state})
        if method in ("lastIncomingMessages", "lastOutgoingMessages"):
            return self._last_messages(instance, method, query)
        return self._set_settings(instance, body)

    def _last_messages(
        self, instance: _Instance, method: str, query: dict[str, list[str]]
    ) -> _Answer:
        text = (query.get("minutes") or ["1440"])[0]
        if not text.isdigit():
            return _error(400, "Validation failed: minutes must be a whole number")
        since = time.time() - int(text) * 60
        kind = "incoming" if method == "lastIncomingMessages" else "outgoing"
        found = [
            e
            for e in instance.journal.values()
            if e["type"] == kind and isinstance(e["timestamp"], int) and e["timestamp"] >= since
        ]
        found.sort(key=lambda e: e["timestamp"], reverse=True)
        return _Answer(200, json.loads(json.dumps(found)))

    def _set_settings(self, instance: _Instance, body: bytes) -> _Answer:
        now = time.monotonic()
        rate = self.set_settings_rate
        if rate is not None and instance.last_set_settings is not None:
            wait = instance.last_set_settings + 1.0 / rate - now
            if wait > 0:
                return _error(429, "Too Many Requests")._replace(
                    headers=(("Retry-After", str(max(1, math.ceil(wait)))),)
                )
        # Past the rate limiter every call counts, even one refused below.
        instance.last_set_settings = now
        if instance.state == "notAuthorized":
            return _error(400, "instance account not authorized")
        if instance.state == "starting":
            return _error(400, "instance in starting process try later")
        try:
            changes = validate_settings(body)
        except InvalidSettings as error:
            return _error(400, str(error))
        # In order of when each applies: `apply_delay` may change between two calls.
        bisect.insort(instance.scheduled, (now + self.apply_delay, changes), key=lambda e: e[0])
        self._apply_due(instance)
        self._lock.notify_all()
        return _Answer(200, {"saveSettings": True})

    # -- internals (call with the lock held) ------------------------------------------------
    def _default_id(self, id_instance: int | None) -> int:
        return next(iter(self._instances)) if id_instance is None else int(id_instance)

    def _instance(self, id_instance: int | None) -> _Instance:
        try:
            return self._instances[self._default_id(id_instance)]
        except KeyError:
            raise KeyError(f"no instance {id_instance} in this fake GREEN-API") from None

    def _apply_due(self, instance: _Instance) -> None:
        now = time.monotonic()
        while instance.scheduled and instance.scheduled[0][0] <= now:
            instance.settings.update(instance.scheduled.pop(0)[1])

    def _note_in_journal(self, instance: _Instance, raw: bytes) -> None:
        try:
            document = json.loads(raw)
        except ValueError:
            return
        if not isinstance(document, dict):
            return
        if entry := journal_entry(document):
            switches = _MESSAGE_WEBHOOKS[document["typeWebhook"]]
            if any(instance.settings.get(s) == "yes" for s in switches):
                instance.journal.setdefault(str(entry["idMessage"]), entry)
        elif document.get("typeWebhook") == "outgoingMessageStatus":
            noted = instance.journal.get(str(document.get("idMessage")))
            if noted is not None and noted["type"] == "outgoing":
                noted["statusMessage"] = document.get("status")
                noted["timestamp"] = document.get("timestamp")  # the time of the last action

    def _delivered(self, id_instance: int | None) -> int:
        if id_instance is None:
            return sum(i.delivered for i in self._instances.values())
        return self._instance(id_instance).delivered

    def _record(self, call: ApiCall) -> None:
        with self._lock:
            self._calls.append(call)

    # -- sender ------------------------------------------------------------------------------
    def _deliver_forever(self, instance: _Instance) -> None:
        session = requests.Session()
        session.trust_env = False  # loopback receivers: never through a proxy from the env
        with session:
            while True:
                with self._lock:
                    head = self._next_attempt(instance)
                    if head is None:
                        return
                    notification, url, token = head
                    notification.attempts += 1
                    attempt = notification.attempts
                sent_at = time.time()
                status, error, seconds = self._post(session, notification, url, token)
                with self._lock:
                    self._deliveries.append(
                        {
                            "notification": notification.id,
                            "id_instance": instance.id_instance,
                            "attempt": attempt,
                            "status": status,
                            "error": error,
                            "url": _without_query(url),
                            "time": sent_at,
                            "seconds": seconds,
                        }
                    )
                    if status == 200:
                        instance.queue.popleft()
                        instance.delivered += 1
                        self._lock.notify_all()
                        continue
                    log.info(
                        "webhook %d attempt %d failed (%s); again in %s s",
                        notification.id,
                        attempt,
                        status or error,
                        self.retry_interval,
                    )
                    deadline = time.monotonic() + self.retry_interval
                    while not self._stopping and (left := deadline - time.monotonic()) > 0:
                        self._lock.wait(left)

    def _next_attempt(self, instance: _Instance) -> tuple[_Notification, str, str] | None:
        """Wait for a notification and a webhookUrl to send it to; None once stopping."""
        while not self._stopping:
            self._apply_due(instance)
            now = time.monotonic()
            while instance.queue and now - instance.queue[0].enqueued >= self.give_up_after:
                dropped = instance.queue.popleft()
                self._given_up.append(
                    {
                        "notification": dropped.id,
                        "id_instance": instance.id_instance,
                        "attempts": dropped.attempts,
                        "time": time.time(),
                    }
                )
                log.warning(
                    "webhook %d of instance %d dropped undelivered after %d attempt(s)",
                    dropped.id,
                    instance.id_instance,
                    dropped.attempts,
                )
            url = instance.settings["webhookUrl"]
            if instance.queue and url:
                return instance.queue[0], url, instance.settings["webhookUrlToken"]
            wake = [due - now for due, _ in instance.scheduled[:1]]
            if instance.queue:
                wake.append(instance.queue[0].enqueued + self.give_up_after - now)
            self._lock.wait(max(0.0, min(wake)) if wake else None)
        return None

    def _post(
        self, session: requests.Session, notification: _Notification, url: str, token: str
    ) -> tuple[int | None, str | None, float]:
        headers = {"Content-Type": "application/json"}
        if token:
            has_scheme = token.startswith(("Bearer ", "Basic "))
            headers["Authorization"] = token if has_scheme else f"Bearer {token}"
        started = time.perf_counter()
        try:
            response = session.post(
                url, data=notification.body, headers=headers, timeout=self.delivery_timeout
            )
        except requests.RequestException as error:
            # The type only: requests' messages quote the URL, query string and all.
            return None, type(error).__name__, time.perf_counter() - started
        with contextlib.suppress(Exception):
            response.close()
        return response.status_code, None, time.perf_counter() - started

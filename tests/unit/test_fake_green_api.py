"""The fake GREEN-API: its account methods over real HTTP, and its webhook sender."""

from __future__ import annotations

import itertools
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from greenhook_dev.fake_green_api import DEFAULT_INSTANCE, YES_NO_SETTINGS, FakeGreenApi

ID = 1101000001
TOKEN = "d75b3a66374942c5b3c019c698abc2067e151558acbd4fake01"
OTHER_ID = 1101000002
OTHER_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566fake02"
FAST_RETRY = 0.05


@pytest.fixture
def fake_with():
    started: list[FakeGreenApi] = []

    def start(**options) -> FakeGreenApi:
        options.setdefault("instances", {ID: TOKEN, OTHER_ID: OTHER_TOKEN})
        fake = FakeGreenApi(**options)
        fake.start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


@pytest.fixture
def fake(fake_with) -> FakeGreenApi:
    return fake_with()


def url(fake: FakeGreenApi, method: str, id_instance: int = ID, token: str = TOKEN) -> str:
    return f"{fake.url}/waInstance{id_instance}/{method}/{token}"


def get_settings(fake: FakeGreenApi, id_instance: int = ID, token: str = TOKEN) -> dict:
    response = requests.get(url(fake, "getSettings", id_instance, token), timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def set_settings(fake: FakeGreenApi, body, id_instance: int = ID) -> requests.Response:
    token = fake.instances[id_instance]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(
        url(fake, "setSettings", id_instance, token),
        data=data,
        headers={"Content-Type": "application/json"},
        timeout=5,
    )


# -- account methods -------------------------------------------------------------------------
def test_get_settings_of_a_fresh_instance(fake):
    settings = get_settings(fake)
    assert settings["wid"] == "71101000001@c.us"
    assert settings["webhookUrl"] == "" and settings["webhookUrlToken"] == ""
    assert settings["delaySendMessagesMilliseconds"] == 5000
    for name in YES_NO_SETTINGS:
        assert settings[name] == "no", name
    assert set(settings) == {"wid", *fake.settings(ID)}
    assert "incomingCallWebhook" in settings and "keepOnlineStatus" in settings


def test_default_instance_has_a_random_token():
    first, second = FakeGreenApi(), FakeGreenApi()
    try:
        assert list(first.instances) == [DEFAULT_INSTANCE]
        assert first.instances[DEFAULT_INSTANCE] != second.instances[DEFAULT_INSTANCE]
        assert len(first.instances[DEFAULT_INSTANCE]) >= 32
    finally:
        first.stop()
        second.stop()


def test_set_settings_applies_and_method_names_ignore_case(fake):
    response = set_settings(fake, {"webhookUrl": "https://example.com/hook", "stateWebhook": "yes"})
    assert response.status_code == 200
    assert response.json() == {"saveSettings": True}
    shown = requests.get(url(fake, "GETSETTINGS"), timeout=5).json()
    assert shown["webhookUrl"] == "https://example.com/hook"
    assert shown["stateWebhook"] == "yes" and shown["incomingWebhook"] == "no"
    assert fake.settings(ID)["stateWebhook"] == "yes"
    assert get_settings(fake, OTHER_ID, OTHER_TOKEN)["webhookUrl"] == ""  # per instance


def test_get_state_instance(fake):
    response = requests.get(url(fake, "getStateInstance"), timeout=5)
    assert response.status_code == 200
    assert response.json() == {"stateInstance": "authorized"}
    fake.set_state(ID, "yellowCard")
    assert requests.get(url(fake, "GetStateInstance"), timeout=5).json() == {
        "stateInstance": "yellowCard"
    }
    with pytest.raises(ValueError):
        fake.set_state(ID, "asleep")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/waInstance{ID}/getSettings/wrong-token", 401),
        (f"/waInstance{ID}/getSettings/{OTHER_TOKEN}", 401),  # another instance's token
        (f"/waInstance{ID}/getSettings", 401),
        (f"/waInstance999/getSettings/{TOKEN}", 403),
        (f"/waInstanceabc/getSettings/{TOKEN}", 403),
        (f"/waInstance{ID}/sendMessage/{TOKEN}", 404),
        ("/status", 404),
    ],
)
def test_credentials_and_methods_are_checked(fake, path, status):
    response = requests.get(fake.url + path, timeout=5)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    if status == 401:
        assert response.json()["error"] == "Unauthorized"
    assert fake.calls[-1].status == status


def test_wrong_http_method_is_not_found_and_not_applied(fake):
    response = requests.get(url(fake, "setSettings"), timeout=5)
    assert response.status_code == 404
    response = requests.post(url(fake, "getSettings"), json={}, timeout=5)
    assert response.status_code == 404


def test_a_second_set_settings_within_a_second_is_429_and_not_applied(fake):
    assert set_settings(fake, {"webhookUrl": "https://one.example/hook"}).status_code == 200
    second = set_settings(fake, {"webhookUrl": "https://two.example/hook"})
    assert second.status_code == 429
    assert int(second.headers["Retry-After"]) >= 1
    assert get_settings(fake)["webhookUrl"] == "https://one.example/hook"
    # The limit is per instance.
    assert set_settings(fake, {"stateWebhook": "yes"}, OTHER_ID).status_code == 200
    assert [
        (c.method, c.id_instance, c.status) for c in fake.calls if c.method == "setSettings"
    ] == [
        ("setSettings", ID, 200),
        ("setSettings", ID, 429),
        ("setSettings", OTHER_ID, 200),
    ]


def test_set_settings_is_accepted_again_once_the_window_passed(fake_with):
    fake = fake_with(set_settings_rate=10)  # one call per 0.1 s
    assert set_settings(fake, {"stateWebhook": "yes"}).status_code == 200
    assert set_settings(fake, {"stateWebhook": "no"}).status_code == 429
    time.sleep(0.15)
    assert set_settings(fake, {"incomingWebhook": "yes"}).status_code == 200
    assert fake.settings(ID)["stateWebhook"] == "yes"
    assert fake.settings(ID)["incomingWebhook"] == "yes"


def test_no_rate_limit_when_the_rate_is_none(fake_with):
    fake = fake_with(set_settings_rate=None)
    statuses = [
        set_settings(fake, {"delaySendMessagesMilliseconds": 500 + i}).status_code for i in range(5)
    ]
    assert statuses == [200] * 5
    assert fake.settings(ID)["delaySendMessagesMilliseconds"] == 504


def test_settings_apply_only_after_the_delay(fake_with):
    fake = fake_with(apply_delay=0.5)
    set_at = time.monotonic()
    assert set_settings(fake, {"webhookUrl": "https://new.example/hook"}).status_code == 200
    assert get_settings(fake)["webhookUrl"] == ""  # the instance is still "rebooting"
    assert fake.settings(ID)["webhookUrl"] == ""
    seen = []
    while time.monotonic() - set_at < 2:
        value = get_settings(fake)["webhookUrl"]  # then the time: a tuple would read it first
        seen.append((time.monotonic() - set_at, value))
        if seen[-1][1]:
            break
        time.sleep(0.05)
    assert seen[-1][1] == "https://new.example/hook"
    first_new = min(t for t, value in seen if value)
    assert first_new >= 0.5
    assert all(value == "" for t, value in seen if t < 0.45)


@pytest.mark.parametrize(
    "body",
    [
        {"unknownSetting": "yes"},
        {"webhookUrl": "https://ok.example/hook", "colour": "green"},
        {"incomingWebhook": True},
        {"incomingWebhook": "on"},
        {"delaySendMessagesMilliseconds": "5000"},
        {"delaySendMessagesMilliseconds": 100},
        {"webhookUrl": 5},
        {"webhookUrl": "ftp://example.com/hook"},
        {"webhookUrlToken": None},
        {},
        [],
        b"",
        b"{not json",
    ],
)
def test_invalid_set_settings_is_400_and_not_applied(fake_with, body):
    fake = fake_with(set_settings_rate=None)
    before = fake.settings(ID)
    response = set_settings(fake, body)
    assert response.status_code == 400
    error = response.json()
    assert error["statusCode"] == 400 and error["message"]
    assert fake.settings(ID) == before


def test_unknown_field_error_names_the_field(fake):
    response = set_settings(fake, {"colour": "green"})
    assert response.status_code == 400
    assert "colour" in response.json()["message"]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("notAuthorized", "instance account not authorized"),
        ("starting", "instance in starting process try later"),
    ],
)
def test_set_settings_needs_an_authorized_instance(fake, state, message):
    fake.set_state(ID, state)
    response = set_settings(fake, {"webhookUrl": "https://example.com/hook"})
    assert response.status_code == 400
    assert response.json()["message"] == message
    assert fake.settings(ID)["webhookUrl"] == ""
    settings = get_settings(fake)  # reading still works
    assert settings["wid"] == ("" if state == "notAuthorized" else "71101000001@c.us")


def test_fail_next_injects_statuses_then_recovers(fake):
    fake.fail_next("getSettings", 500, times=2)
    fake.fail_next("SETSETTINGS", 429)
    statuses = [requests.get(url(fake, "getSettings"), timeout=5).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    response = set_settings(fake, {"stateWebhook": "yes"})
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert fake.settings(ID)["stateWebhook"] == "no"
    # An injected failure is not a call past the rate limiter: the retry goes through.
    assert set_settings(fake, {"stateWebhook": "yes"}).status_code == 200
    assert fake.settings(ID)["stateWebhook"] == "yes"


def test_down_answers_503_to_everything_until_up(fake):
    fake.down()
    assert requests.get(url(fake, "getSettings"), timeout=5).status_code == 503
    assert set_settings(fake, {"stateWebhook": "yes"}).status_code == 503
    assert requests.get(f"{fake.url}/anything", timeout=5).status_code == 503
    fake.up()
    assert requests.get(url(fake, "getStateInstance"), timeout=5).status_code == 200
    assert set_settings(fake, {"stateWebhook": "yes"}).status_code == 200


def test_the_token_is_never_recorded_or_logged(fake, caplog):
    caplog.set_level(logging.DEBUG, logger="greenhook_dev.fake_green_api")
    get_settings(fake)
    set_settings(fake, {"webhookUrlToken": "webhook-secret"})
    requests.get(url(fake, "getSettings", token=TOKEN + "x"), timeout=5)
    requests.get(url(fake, "noSuchMethod"), timeout=5)
    requests.get(f"{fake.url}/waInstance{ID}/{TOKEN}", timeout=5)  # token where the method goes
    requests.get(url(fake, "getSettings") + f"?token={TOKEN}", timeout=5)
    # A malformed request line goes through the handler's error log, not the access log.
    with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as raw:
        raw.sendall(f"GET /waInstance{ID}/getSettings/{TOKEN} junk HTTP/1.1\r\n\r\n".encode())
        assert raw.recv(1024).startswith(b"HTTP/1.")
    deadline = time.monotonic() + 2
    while len([r for r in caplog.records if "Bad request" in r.getMessage()]) < 1:
        assert time.monotonic() < deadline, "the malformed request was not logged"
        time.sleep(0.02)
    lines = [r.getMessage() for r in caplog.records if r.name == "greenhook_dev.fake_green_api"]
    assert any(f"/waInstance{ID}/getSettings/***" in line for line in lines)
    assert not [line for line in lines if TOKEN in line]
    calls = fake.calls
    assert len(calls) == 6
    assert not [c for c in calls if TOKEN in repr(c)]
    assert [c.method for c in calls] == [
        "getSettings",
        "setSettings",
        "getSettings",
        "noSuchMethod",
        "?",
        "getSettings",
    ]


# -- the sender ------------------------------------------------------------------------------
class Receiver:
    """A webhook endpoint that answers from a script of statuses (then 200) and records all."""

    def __init__(self, statuses: list[int] | None = None, delay: float = 0.0) -> None:
        self.statuses = list(statuses or [])
        self.delay = delay
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers.items()),
                            "body": body,
                            "status": status,
                            "time": time.monotonic(),
                        }
                    )
                time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/green-api/webhook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[bytes]:
        with self.lock:
            return [r["body"] for r in self.requests]


@pytest.fixture
def receiver_with():
    started: list[Receiver] = []

    def start(statuses: list[int] | None = None, delay: float = 0.0) -> Receiver:
        receiver = Receiver(statuses, delay)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


def notification(n: int) -> dict:
    return {
        "typeWebhook": "stateInstanceChanged",
        "instanceData": {"idInstance": ID, "wid": "79001234567@c.us", "typeInstance": "whatsapp"},
        "timestamp": 1700000000 + n,
        "stateInstance": "authorized",
    }


def test_retries_the_same_body_in_order_and_delivers_each_once(fake_with, receiver_with):
    receiver = receiver_with([503, 503, 503])
    fake = fake_with(retry_interval=FAST_RETRY, set_settings_rate=None)
    assert (
        set_settings(
            fake, {"webhookUrl": receiver.url, "webhookUrlToken": "s3cret-webhook-token"}
        ).status_code
        == 200
    )
    first, second = fake.send(ID, notification(1)), fake.send(ID, notification(2))
    assert fake.wait_delivered(2, timeout=5)
    assert fake.pending(ID) == 0

    expected = [json.dumps(notification(n), ensure_ascii=False).encode() for n in (1, 2)]
    assert receiver.bodies() == [expected[0]] * 4 + [expected[1]]
    assert [r["status"] for r in receiver.requests] == [503, 503, 503, 200, 200]
    for request in receiver.requests:
        assert request["path"] == "/green-api/webhook"
        assert request["headers"]["Authorization"] == "Bearer s3cret-webhook-token"
        assert request["headers"]["Content-Type"] == "application/json"
    # Head of line: the bodies above show the second notification went out only after the
    # first got its 200; between failures the fake waited retry_interval.
    times = [r["time"] for r in receiver.requests[:4]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(gap >= FAST_RETRY * 0.9 for gap in gaps), gaps

    deliveries = fake.deliveries
    assert [(d["notification"], d["attempt"], d["status"]) for d in deliveries] == [
        (first, 1, 503),
        (first, 2, 503),
        (first, 3, 503),
        (first, 4, 200),
        (second, 1, 200),
    ]
    assert {d["url"] for d in deliveries} == {receiver.url}
    assert fake.given_up == []


def test_a_failing_head_blocks_the_instance_but_not_others(fake_with, receiver_with):
    receiver = receiver_with([500] * 1000)  # instance ID's endpoint keeps failing
    other = receiver_with()
    fake = fake_with(retry_interval=FAST_RETRY, set_settings_rate=None)
    set_settings(fake, {"webhookUrl": receiver.url})
    set_settings(fake, {"webhookUrl": other.url}, OTHER_ID)
    fake.send(ID, notification(1))
    fake.send(ID, notification(2))
    fake.send(OTHER_ID, notification(3))
    assert fake.wait_delivered(1, timeout=5, id_instance=OTHER_ID)
    time.sleep(FAST_RETRY * 4)
    assert fake.pending(ID) == 2 and fake.delivered(ID) == 0
    assert set(receiver.bodies()) == {json.dumps(notification(1)).encode()}
    assert len(receiver.bodies()) >= 2  # retried, never skipped ahead


def test_only_200_counts_and_connection_errors_are_retried(fake_with, receiver_with):
    receiver = receiver_with([204, 302, 401])
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"
    fake = fake_with(retry_interval=FAST_RETRY, set_settings_rate=None)
    fake.preset(ID, {"webhookUrl": dead_url})
    fake.send(ID, notification(1))
    deadline = time.monotonic() + 5
    while len(fake.deliveries) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert [d["error"] for d in fake.deliveries[:2]] == ["ConnectionError"] * 2
    assert [d["status"] for d in fake.deliveries[:2]] == [None, None]
    fake.preset(ID, {"webhookUrl": receiver.url})
    assert fake.wait_delivered(1, timeout=5)
    assert [r["status"] for r in receiver.requests] == [204, 302, 401, 200]


def test_no_answer_within_the_timeout_is_a_failure(fake_with, receiver_with):
    receiver = receiver_with(delay=0.5)
    fake = fake_with(retry_interval=FAST_RETRY, delivery_timeout=0.2)
    fake.preset(ID, {"webhookUrl": receiver.url})
    fake.send(ID, notification(1))
    deadline = time.monotonic() + 5
    while not fake.deliveries:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert fake.deliveries[0]["error"] == "ReadTimeout"
    receiver.delay = 0.0
    assert fake.wait_delivered(1, timeout=5)


def test_notifications_wait_for_a_webhook_url(fake_with, receiver_with):
    receiver = receiver_with()
    fake = fake_with(retry_interval=FAST_RETRY, apply_delay=0.3)
    fake.send(ID, notification(1))
    fake.send(ID, notification(2))
    time.sleep(0.2)
    assert fake.deliveries == [] and fake.pending(ID) == 2
    assert set_settings(fake, {"webhookUrl": receiver.url}).status_code == 200
    assert not fake.wait_delivered(1, timeout=0.2)  # not applied yet
    assert fake.wait_delivered(2, timeout=5)
    assert receiver.bodies() == [json.dumps(notification(n)).encode() for n in (1, 2)]


def test_token_with_a_scheme_is_sent_as_is_and_rotation_applies_mid_stream(
    fake_with, receiver_with
):
    receiver = receiver_with([503])
    fake = fake_with(retry_interval=0.3, set_settings_rate=None)
    fake.preset(ID, {"webhookUrl": receiver.url + "?source=green", "webhookUrlToken": "Basic abc="})
    fake.send(ID, b'{"typeWebhook":"raw"}')
    deadline = time.monotonic() + 5
    while not receiver.requests:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert set_settings(fake, {"webhookUrlToken": "rotated"}).status_code == 200
    assert fake.wait_delivered(1, timeout=5)
    assert [r["headers"]["Authorization"] for r in receiver.requests] == [
        "Basic abc=",
        "Bearer rotated",
    ]
    assert receiver.requests[0]["path"] == "/green-api/webhook?source=green"
    assert receiver.bodies() == [b'{"typeWebhook":"raw"}'] * 2
    assert {d["url"] for d in fake.deliveries} == {receiver.url}  # no query string


def test_no_authorization_header_without_a_token(fake_with, receiver_with):
    receiver = receiver_with()
    fake = fake_with()
    fake.preset(ID, {"webhookUrl": receiver.url})
    fake.send(None, notification(1))  # None: the first instance
    assert fake.wait_delivered(1, timeout=5)
    assert "Authorization" not in receiver.requests[0]["headers"]


def test_gives_up_after_the_retention_and_moves_on(fake_with, receiver_with):
    receiver = receiver_with([500] * 1000)
    fake = fake_with(retry_interval=FAST_RETRY, give_up_after=0.3)
    fake.preset(ID, {"webhookUrl": receiver.url})
    dropped = fake.send(ID, notification(1))
    deadline = time.monotonic() + 5
    while not fake.given_up:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    (given_up,) = fake.given_up
    assert given_up["notification"] == dropped and given_up["attempts"] >= 2
    with receiver.lock:
        receiver.statuses.clear()
    kept = fake.send(ID, notification(2))
    assert fake.wait_delivered(1, timeout=5)
    assert fake.deliveries[-1]["notification"] == kept
    assert fake.pending(ID) == 0


def test_stop_is_prompt_with_notifications_pending(receiver_with):
    receiver = receiver_with([500] * 1000)
    fake = FakeGreenApi(retry_interval=60)
    with fake:
        fake.preset(None, {"webhookUrl": receiver.url})
        fake.send(None, notification(1))
        time.sleep(0.1)
        started = time.monotonic()
    assert time.monotonic() - started < 2
    assert fake.pending() == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("fake-green-api")]


# -- journals (docs section 9) ------------------------------------------------------------------
def _message(type_webhook: str, id_message: str, timestamp: int, text: str) -> dict:
    return {
        "typeWebhook": type_webhook,
        "instanceData": {"idInstance": ID, "wid": "79001234567@c.us", "typeInstance": "whatsapp"},
        "timestamp": timestamp,
        "idMessage": id_message,
        "senderData": {
            "chatId": "79000000001@c.us",
            "sender": "79000000001@c.us",
            "senderName": "Ann",
        },
        "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": text}},
    }


def _status(id_message: str, timestamp: int, status: str) -> dict:
    return {
        "typeWebhook": "outgoingMessageStatus",
        "instanceData": {"idInstance": ID, "wid": "79001234567@c.us", "typeInstance": "whatsapp"},
        "timestamp": timestamp,
        "idMessage": id_message,
        "chatId": "79000000001@c.us",
        "status": status,
        "sendByApi": True,
    }


def journal(fake: FakeGreenApi, method: str, minutes: int | str | None = None) -> list[dict]:
    params = {} if minutes is None else {"minutes": minutes}
    response = requests.get(url(fake, method), params=params, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def test_journals_hold_sent_messages_flat_whether_delivered_or_not(fake):
    now = int(time.time())
    fake.preset(ID, {"incomingWebhook": "yes", "outgoingAPIMessageWebhook": "yes"})
    fake.send(ID, _message("incomingMessageReceived", "IN1", now - 120, "hello"))
    fake.send(ID, _message("outgoingAPIMessageReceived", "API1", now - 60, "hi back"))
    fake.send(ID, _status("API1", now - 50, "sent"))
    fake.send(ID, _status("API1", now - 40, "read"))
    fake.send(ID, _message("incomingMessageReceived", "OLD1", now - 3 * 3600, "long ago"))
    assert fake.delivered(ID) == 0  # no webhookUrl: nothing was delivered

    (incoming,) = journal(fake, "lastIncomingMessages", 60)
    assert incoming == {
        "type": "incoming",
        "idMessage": "IN1",
        "timestamp": now - 120,
        "typeMessage": "textMessage",
        "chatId": "79000000001@c.us",
        "senderId": "79000000001@c.us",
        "senderName": "Ann",
        "textMessage": "hello",
    }
    assert [e["idMessage"] for e in journal(fake, "lastIncomingMessages")] == ["IN1", "OLD1"]
    (outgoing,) = journal(fake, "LastOutgoingMessages", 60)
    # The status and time of its last action; sent through the API.
    assert (outgoing["statusMessage"], outgoing["timestamp"], outgoing["sendByApi"]) == (
        "read",
        now - 40,
        True,
    )
    assert "senderName" not in outgoing


def test_journals_skip_kinds_whose_switch_is_off_and_check_minutes(fake):
    fake.preset(ID, {"incomingWebhook": "no"})
    fake.send(ID, _message("incomingMessageReceived", "IN1", int(time.time()), "hello"))
    assert journal(fake, "lastIncomingMessages") == []
    assert fake.journal(ID) == []
    response = requests.get(url(fake, "lastIncomingMessages"), params={"minutes": "x"}, timeout=5)
    assert response.status_code == 400

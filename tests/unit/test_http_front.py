"""The local HTTP front: events built as API Gateway's HTTP API builds them, over real HTTP."""

from __future__ import annotations

import base64
import http.client
import json
import socket

import pytest
import requests

from greenhook_dev.http_front import (
    MAX_BODY_BYTES,
    ApiSettings,
    HttpFront,
    build_event,
    is_text_body,
    map_response,
)

ROUTE = "POST /green-api/webhook"
API = ApiSettings(routes=frozenset({ROUTE}), region="eu-central-1", api_id="abc123defg")
SAMPLE = b'{"typeWebhook":"stateInstanceChanged","instanceData":{"idInstance":1}}'


class RecordingFunction:
    """A stand-in ingest function: keeps every event and answers with `result`."""

    def __init__(self, result=None, error: Exception | None = None) -> None:
        self.events: list[dict] = []
        self.result = result if result is not None else {"statusCode": 200, "body": "{}"}
        self.error = error

    def __call__(self, event: dict):
        self.events.append(event)
        if self.error:
            raise self.error
        return self.result


@pytest.fixture
def front_with():
    started: list[HttpFront] = []

    def start(function: RecordingFunction) -> HttpFront:
        front = HttpFront(function, API, port=0)
        front.start()
        started.append(front)
        return front

    yield start
    for front in started:
        front.stop()


def event_for(**overrides) -> dict:
    request = {
        "api": API,
        "method": "POST",
        "target": "/green-api/webhook",
        "header_items": [("Host", "127.0.0.1:3000"), ("Content-Type", "application/json")],
        "body": SAMPLE,
        "source_ip": "127.0.0.1",
        "server_port": 3000,
        "now": 1700000000.123,
    }
    return build_event(**{**request, **overrides})


# -- event building --------------------------------------------------------------------------
def test_event_has_the_payload_v2_shape():
    event = event_for()
    assert event["version"] == "2.0"
    assert event["routeKey"] == ROUTE
    assert event["rawPath"] == "/green-api/webhook"
    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event
    assert "cookies" not in event
    assert event["body"] == SAMPLE.decode()
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["accountId"] == "123456789012"
    assert context["apiId"] == "abc123defg"
    assert context["domainName"] == "127.0.0.1"
    assert context["http"] == {
        "method": "POST",
        "path": "/green-api/webhook",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "",
    }
    assert context["routeKey"] == ROUTE
    assert context["stage"] == "$default"
    assert context["time"] == "14/Nov/2023:22:13:20 +0000"
    assert context["timeEpoch"] == 1700000000123
    assert context["requestId"]


def test_headers_are_lower_cased_and_repeats_comma_joined():
    event = event_for(
        header_items=[
            ("Content-Type", "application/json"),
            ("X-Custom", "a"),
            ("x-custom", "b"),
            ("User-Agent", "Go-http-client/1.1"),
        ]
    )
    assert event["headers"]["content-type"] == "application/json"
    assert event["headers"]["x-custom"] == "a,b"
    assert event["requestContext"]["http"]["userAgent"] == "Go-http-client/1.1"
    assert all(name == name.lower() for name in event["headers"])


def test_cookies_leave_the_headers():
    event = event_for(header_items=[("Cookie", "a=1; b=2"), ("Cookie", "c=3")])
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]


def test_query_string_is_raw_and_parsed():
    event = event_for(target="/green-api/webhook?x=1&x=2&y=%20z&empty=")
    assert event["rawQueryString"] == "x=1&x=2&y=%20z&empty="
    assert event["queryStringParameters"] == {"x": "1,2", "y": " z", "empty": ""}
    assert event["rawPath"] == "/green-api/webhook"
    assert event["routeKey"] == ROUTE


def test_source_ip_is_the_peer_never_x_forwarded_for():
    event = event_for(header_items=[("X-Forwarded-For", "51.250.84.44")], source_ip="10.1.2.3")
    assert event["requestContext"]["http"]["sourceIp"] == "10.1.2.3"
    # API Gateway appends the peer it saw to the client's header, as here.
    assert event["headers"]["x-forwarded-for"] == "51.250.84.44, 10.1.2.3"


def test_unmatched_method_or_path_gets_the_default_route_key():
    assert event_for(method="GET")["routeKey"] == "$default"
    assert event_for(target="/green-api/webhook/")["routeKey"] == "$default"


@pytest.mark.parametrize(
    ("content_type", "body", "text"),
    [
        ("application/json", SAMPLE, True),
        ("application/json; charset=utf-8", '{"t":"Привет 👋"}'.encode(), True),
        ("Application/JSON", SAMPLE, True),
        ("text/plain", b"hello", True),
        ("application/xml", b"<a/>", True),
        ("application/javascript", b"x()", True),
        ("application/json", b'{"t":"\xff"}', False),  # not UTF-8
        ("application/octet-stream", SAMPLE, False),
        ("application/x-www-form-urlencoded", b"a=1", False),
        ("application/vnd.api+json", SAMPLE, False),
        (None, SAMPLE, False),
    ],
)
def test_body_is_text_only_for_textual_utf8(content_type, body, text):
    assert is_text_body(content_type, body) is text
    headers = [("Content-Type", content_type)] if content_type else []
    event = event_for(header_items=headers, body=body)
    assert event["isBase64Encoded"] is not text
    decoded = event["body"].encode() if text else base64.b64decode(event["body"])
    assert decoded == body


def test_empty_body_has_no_body_key():
    event = event_for(body=b"")
    assert "body" not in event
    assert event["isBase64Encoded"] is False


# -- response mapping ------------------------------------------------------------------------
def test_response_mapping():
    mapped = map_response(
        {
            "statusCode": 201,
            "headers": {"X-A": "1"},
            "cookies": ["s=1"],
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
        }
    )
    assert mapped.status == 201
    assert ("X-A", "1") in mapped.headers
    assert ("Set-Cookie", "s=1") in mapped.headers
    assert mapped.body == b"\x00\x01"
    # Format 2.0: no statusCode means the whole result is a JSON 200.
    bare = map_response({"ok": True})
    assert (bare.status, json.loads(bare.body)) == (200, {"ok": True})


# -- over real HTTP --------------------------------------------------------------------------
def test_post_reaches_the_function_with_the_peer_as_source_ip(front_with):
    function = RecordingFunction(
        {"statusCode": 202, "headers": {"X-Seen": "yes"}, "body": '{"status":"accepted"}'}
    )
    front = front_with(function)
    response = requests.post(
        front.url + "/green-api/webhook?a=1",
        data=SAMPLE,
        headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer t",
            "X-Forwarded-For": "51.250.84.44",
        },
        timeout=10,
    )
    assert response.status_code == 202
    assert response.headers["X-Seen"] == "yes"
    assert response.headers["apigw-requestid"]
    assert response.json() == {"status": "accepted"}
    (event,) = function.events
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["headers"]["x-forwarded-for"] == "51.250.84.44, 127.0.0.1"
    assert event["headers"]["authorization"] == "Bearer t"
    assert event["headers"]["content-length"] == str(len(SAMPLE))
    assert event["headers"]["host"] == f"127.0.0.1:{front.port}"
    assert event["body"] == SAMPLE.decode()
    assert event["queryStringParameters"] == {"a": "1"}
    assert event["requestContext"]["requestId"] == response.headers["apigw-requestid"]


def test_ipv6_loopback_peer(front_with):
    front = front_with(RecordingFunction())
    if "::1" not in front.addresses:
        pytest.skip("no IPv6 loopback on this machine")
    function = front.invoke
    response = requests.post(
        f"http://[::1]:{front.port}/green-api/webhook", data=SAMPLE, timeout=10
    )
    assert response.status_code == 200
    context = function.events[-1]["requestContext"]
    assert context["http"]["sourceIp"] == "::1"
    assert context["domainName"] == "::1"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/green-api/webhook"), ("PUT", "/green-api/webhook"), ("POST", "/other")],
)
def test_no_matching_route_is_404_and_never_invokes(front_with, method, path):
    function = RecordingFunction()
    front = front_with(function)
    response = requests.request(method, front.url + path, data=SAMPLE, timeout=10)
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}
    assert function.events == []


def test_body_over_10_mb_is_413_and_never_invokes(front_with):
    function = RecordingFunction()
    front = front_with(function)
    response = requests.post(
        front.url + "/green-api/webhook", data=b"x" * (MAX_BODY_BYTES + 1), timeout=30
    )
    assert response.status_code == 413
    assert response.json() == {"message": "Request Entity Too Large"}
    assert function.events == []


def test_chunked_body_is_reassembled(front_with):
    function = RecordingFunction()
    front = front_with(function)
    response = requests.post(
        front.url + "/green-api/webhook",
        data=iter([SAMPLE[:10], SAMPLE[10:]]),  # a generator body goes out chunked
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200
    assert function.events[0]["body"] == SAMPLE.decode()


def test_malformed_content_length_is_400_and_never_invokes(front_with):
    function = RecordingFunction()
    front = front_with(function)
    with socket.create_connection(("127.0.0.1", front.port), timeout=10) as connection:
        connection.sendall(
            b"POST /green-api/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n"
        )
        answer = connection.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert function.events == []


def test_function_error_is_a_bare_500(front_with):
    front = front_with(RecordingFunction(error=RuntimeError("boom")))
    response = requests.post(front.url + "/green-api/webhook", data=SAMPLE, timeout=10)
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


def test_keep_alive_serves_several_requests_on_one_connection(front_with):
    function = RecordingFunction()
    front = front_with(function)
    connection = http.client.HTTPConnection("127.0.0.1", front.port, timeout=10)
    try:
        for _ in range(3):
            connection.request("POST", "/green-api/webhook", body=SAMPLE)
            response = connection.getresponse()
            response.read()
            assert response.status == 200
    finally:
        connection.close()
    assert len(function.events) == 3


def test_stop_releases_the_port():
    front = HttpFront(RecordingFunction(), API, port=0)
    front.start()
    port = front.port
    front.stop()
    with socket.create_server(("127.0.0.1", port)):
        pass

"""End to end through the local stack: HTTP front -> ingest -> SQS -> poller -> process -> table.

Each test posts its own variant of a sample (a unique timestamp) so the bodies, and so their
SQS deduplication ids and archive keys, never collide between tests.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from greenhook.archive import ArchiveReader
from greenhook_dev.template_resources import REPO_ROOT

pytestmark = pytest.mark.e2e

SAMPLE = REPO_ROOT / "events" / "stateInstanceChanged.json"
ARCHIVE_TIMEOUT = 10


def unique_body() -> bytes:
    document = json.loads(SAMPLE.read_text())
    document["timestamp"] = time.time_ns()
    return json.dumps(document).encode()


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def post(
    stack: dict, body: bytes, authorization: str | None = None, **headers
) -> requests.Response:
    return requests.post(
        stack["webhook_url"],
        data=body,
        headers={
            "Content-Type": "application/json",
            "Authorization": authorization or stack["authorization"],
            **headers,
        },
        timeout=30,
    )


def wait_for_archive(storage, webhook_id: str, timeout: float = ARCHIVE_TIMEOUT) -> dict | None:
    deadline = time.monotonic() + timeout
    while True:
        found = [i for i in ArchiveReader(storage.payloads).newest(200) if i["id"] == webhook_id]
        if found or time.monotonic() > deadline:
            return found[0] if found else None
        time.sleep(0.2)


def greenhook(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "greenhook_dev.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_webhook_is_accepted_and_archived(local_stack, storage):
    body = unique_body()
    response = post(local_stack, body)
    assert response.status_code == 200, response.text
    item = wait_for_archive(storage, sha256(body))
    assert item is not None, f"not archived within {ARCHIVE_TIMEOUT} s"
    assert item["type_webhook"] == "stateInstanceChanged"
    assert item["id_instance"] == 1101000001
    assert json.loads(item["body"]) == json.loads(body)


def test_wrong_token_is_401_and_nothing_is_stored(local_stack, storage):
    rejected = unique_body()
    response = post(local_stack, rejected, authorization="Bearer not-the-token")
    assert response.status_code == 401
    # Same instance, so same FIFO group: once a later accepted webhook is archived, the
    # rejected one would have been too, had it been queued.
    accepted = unique_body()
    assert post(local_stack, accepted).status_code == 200
    assert wait_for_archive(storage, sha256(accepted)) is not None
    assert wait_for_archive(storage, sha256(rejected), timeout=0) is None
    assert ArchiveReader(storage.payloads).get(sha256(rejected)) is None


def test_source_ip_is_the_peer_not_x_forwarded_for(local_stack, storage):
    body = unique_body()
    response = post(local_stack, body, **{"X-Forwarded-For": "51.250.84.44"})
    assert response.status_code == 200
    assert wait_for_archive(storage, sha256(body)) is not None
    assert ArchiveReader(storage.payloads).get(sha256(body))["source_ip"] == "127.0.0.1"


def test_unknown_route_and_wrong_method_are_404(local_stack):
    base = local_stack["webhook_url"].rsplit("/green-api/", 1)[0]
    for method, url in [("GET", local_stack["webhook_url"]), ("POST", base + "/nope")]:
        response = requests.request(method, url, timeout=10)
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found"}


def test_cli_send_then_archive(local_stack, tmp_path: Path):
    body = unique_body()
    sample = tmp_path / "sample.json"
    sample.write_bytes(body)

    sent = greenhook("send", str(sample), "--stack-file", local_stack["stack_file"])
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("200 ")

    deadline = time.monotonic() + ARCHIVE_TIMEOUT
    while True:
        listed = greenhook("archive", "--json", "--stack-file", local_stack["stack_file"])
        assert listed.returncode == 0, listed.stderr
        ids = [item["id"] for item in json.loads(listed.stdout)]
        if sha256(body) in ids or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sha256(body) in ids

    table = greenhook("archive", "--stack-file", local_stack["stack_file"])
    assert table.returncode == 0
    assert "stateInstanceChanged" in table.stdout
    assert sha256(body)[:12] in table.stdout


def test_cli_send_with_wrong_token_exits_1(local_stack):
    sent = greenhook(
        "send", str(SAMPLE), "--stack-file", local_stack["stack_file"], "--authorization", "x"
    )
    assert sent.returncode == 1
    assert sent.stdout.startswith("401 ")


def test_cli_without_a_stack_says_how_to_start_it(tmp_path: Path):
    missing = str(tmp_path / "stack.json")
    for args in (["send", str(SAMPLE)], ["archive"]):
        result = greenhook(*args, "--stack-file", missing)
        assert result.returncode == 2
        assert "make run" in result.stderr
        assert "Traceback" not in result.stderr

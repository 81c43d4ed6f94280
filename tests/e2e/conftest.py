"""One local stack (`python -m greenhook_dev.local_stack`) for the whole e2e session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from greenhook.storage import Payloads, Storage

START_TIMEOUT = 60  # seconds; a cold start here takes about 5
STOP_TIMEOUT = 20


def _log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory) -> dict:
    """Start the local stack as a subprocess; yield stack.json (plus its path); stop it."""
    state_dir = tmp_path_factory.mktemp("local-stack")
    stack_file = state_dir / "stack.json"
    log_file = state_dir / "local_stack.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "greenhook_dev.local_stack"),
                *("--port", "0", "--state-dir", str(state_dir), "--quiet"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not stack_file.exists():
            if process.poll() is not None:
                pytest.fail(f"local stack exited with {process.returncode}:\n{_log_tail(log_file)}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {stack_file} after {START_TIMEOUT} s:\n{_log_tail(log_file)}")
            time.sleep(0.1)
        info = json.loads(stack_file.read_text())
        yield {**info, "stack_file": str(stack_file), "log_file": str(log_file)}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                pytest.fail(f"local stack ignored SIGINT for {STOP_TIMEOUT} s")
    assert process.returncode == 0, _log_tail(log_file)
    assert not stack_file.exists(), "stack.json left behind after a clean stop"


@pytest.fixture(scope="session")
def aws_session(local_stack) -> boto3.Session:
    return boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=local_stack["region"],
    )


@pytest.fixture(scope="session")
def storage(local_stack, aws_session) -> Storage:
    """The archive of the running local stack."""
    endpoint = local_stack["aws_endpoint_url"]
    dynamodb = aws_session.resource("dynamodb", endpoint_url=endpoint)
    s3 = aws_session.client("s3", endpoint_url=endpoint)
    return Storage(
        local_stack["table_name"],
        resource=dynamodb,
        payloads=Payloads(local_stack["bucket_name"], s3),
    )

"""Shared test set-up: no real AWS is ever reachable from the suite."""

import json
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EVENTS = REPO_ROOT / "events"

# Dummy credentials and a fixed region before anything creates a boto3 client.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "POWERTOOLS_SERVICE_NAME": "greenhook-test",
        "POWERTOOLS_METRICS_NAMESPACE": "GreenhookTest",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture
def event_bytes():
    """Read a file of events/ as bytes: `event_bytes("stateInstanceChanged.json")`."""
    return lambda name: (EVENTS / name).read_bytes()


@pytest.fixture
def event_json():
    """Read a file of events/ as JSON."""
    return lambda name: json.loads((EVENTS / name).read_text())


@pytest.fixture
def sample_body() -> bytes:
    """A stateInstanceChanged webhook body as GREEN-API sends it."""
    return (EVENTS / "stateInstanceChanged.json").read_bytes()

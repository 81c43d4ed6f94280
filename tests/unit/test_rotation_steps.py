"""The rotation's steps on their own (greenhook.rotation): what each writes to the secret and
sends to GREEN-API, against an in-memory secret and a recording GREEN-API stand-in. The whole
machine runs against the fake GREEN-API in tests/integration/test_token_rotation.py."""

from __future__ import annotations

import json

import pytest

from greenhook.greenapi import Credentials
from greenhook.rotation import (
    NotConfirmed,
    Rotation,
    TokenReplaced,
    UnknownWebhookToken,
    default_input,
    token_id,
)

OLD, NEW = "old-token-" + "o" * 38, "new-token-" + "n" * 38


class Secrets:
    def __init__(self, document: dict) -> None:
        self.text = json.dumps(document)

    def read_text(self, arn: str) -> str:
        return self.text

    def write(self, arn: str, document: dict) -> None:
        self.text = json.dumps(document)


class GreenApi:
    """GREEN-API as far as the steps ask: its settings, its state, the settings sent."""

    def __init__(self, token: str, state: str = "authorized") -> None:
        self.credentials = Credentials("http://green-api.invalid", 1101000001, "t")
        self.settings = {"webhookUrl": "https://hook", "webhookUrlToken": token}
        self.state = state
        self.sent: list[dict] = []

    def get_settings(self) -> dict:
        return dict(self.settings)

    def get_state_instance(self) -> str:
        return self.state

    def set_settings(self, changes: dict) -> dict:
        self.sent.append(changes)
        return {"saveSettings": True}


def rotation(secrets: Secrets, green_api: GreenApi) -> Rotation:
    return Rotation(green_api, secrets, "arn:secret", "https://hook", {}, generate=lambda: NEW)


def test_a_rotation_keeps_the_token_greenhook_is_sent_until_the_last_step() -> None:
    secrets, green_api = Secrets({"token": OLD}), GreenApi(OLD)
    steps = rotation(secrets, green_api)
    stored = steps.store_new_token()
    assert stored == {"token_id": token_id(NEW)}  # no token in a state
    assert json.loads(secrets.text) == {"token": NEW, "previous_token": OLD}
    assert steps.register(stored["token_id"]) == {"changed": ["webhookUrlToken"]}
    assert green_api.sent == [{"webhookUrlToken": NEW}]
    assert steps.confirm(stored["token_id"], 0, 3) == {"confirmed": False, "attempt": 1}
    green_api.settings["webhookUrlToken"] = NEW  # GREEN-API applied it
    assert steps.confirm(stored["token_id"], 1, 3) == {"confirmed": True, "attempt": 2}
    assert steps.retire_old_token(stored["token_id"]) == {"retired": True}
    assert json.loads(secrets.text) == {"token": NEW}


def test_after_a_failed_rotation_the_next_keeps_the_token_greenhook_is_sent() -> None:
    """Left with two tokens, a new rotation drops the one GREEN-API does not send."""
    stale = "stale-token-" + "s" * 36
    secrets, green_api = Secrets({"token": stale, "previous_token": OLD}), GreenApi(OLD)
    rotation(secrets, green_api).store_new_token()
    assert json.loads(secrets.text) == {"token": NEW, "previous_token": OLD}


def test_a_token_greenhook_does_not_accept_is_not_rotated_away() -> None:
    secrets, green_api = Secrets({"token": OLD}), GreenApi("set-in-the-console")
    with pytest.raises(UnknownWebhookToken):
        rotation(secrets, green_api).store_new_token()
    assert json.loads(secrets.text) == {"token": OLD}


def test_a_step_of_a_replaced_rotation_changes_nothing() -> None:
    secrets, green_api = Secrets({"token": NEW, "previous_token": OLD}), GreenApi(OLD)
    steps = rotation(secrets, green_api)
    for step in (steps.register, steps.retire_old_token):
        with pytest.raises(TokenReplaced):
            step(token_id("another-rotation-s-token"))
    assert green_api.sent == []
    assert json.loads(secrets.text) == {"token": NEW, "previous_token": OLD}


def test_confirmation_gives_up_after_its_attempts() -> None:
    secrets, green_api = Secrets({"token": NEW, "previous_token": OLD}), GreenApi(OLD)
    with pytest.raises(NotConfirmed):
        rotation(secrets, green_api).confirm(token_id(NEW), 2, 3)


def test_the_cache_wait_outlasts_the_cache() -> None:
    assert default_input(300)["cache_seconds"] == 310
    assert default_input(3)["cache_seconds"] == 4

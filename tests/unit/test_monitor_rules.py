"""The monitor's rules, offline: what counts as drift, GREEN-API's one request a second,
its configuration, and local schedule periods."""

from __future__ import annotations

import pytest

from greenhook.config import ConfigError, MonitorConfig
from greenhook.greenapi import Credentials, GreenApiClient
from greenhook.monitor import drift
from greenhook.register import Registration
from greenhook_dev.schedules import rate_seconds

TOKEN = "t" * 48
REGISTERED = Registration("https://hook.example/green-api/webhook", TOKEN, {"stateWebhook": "yes"})


def settings(**changes: str) -> dict:
    return {**REGISTERED.desired(), "delaySendMessagesMilliseconds": 1000, **changes}


def test_settings_as_registered_are_no_drift():
    assert drift(settings(), REGISTERED, (TOKEN,)) == {}


def test_a_changed_url_or_switch_is_drift_with_both_values():
    found = drift(
        settings(webhookUrl="https://elsewhere.example", stateWebhook="no"), REGISTERED, (TOKEN,)
    )
    assert found == {
        "webhookUrl": {"current": "https://elsewhere.example", "expected": REGISTERED.webhook_url},
        "stateWebhook": {"current": "no", "expected": "yes"},
    }


def test_any_token_ingest_accepts_is_no_drift_and_another_shows_only_its_length():
    rotating = ("n" * 48, TOKEN)  # a rotation under way: GREEN-API still sends the old one
    assert drift(settings(), Registration(REGISTERED.webhook_url, "n" * 48, {}), rotating) == {}
    found = drift(settings(webhookUrlToken="someone-else's"), REGISTERED, (TOKEN,))
    assert found == {"webhookUrlToken": {"current": "***(14 chars)", "expected": "***(48 chars)"}}
    assert TOKEN not in repr(found) and "someone-else's" not in repr(found)


def test_a_missing_setting_is_drift():
    current = settings()
    del current["stateWebhook"]
    assert drift(current, REGISTERED, (TOKEN,)) == {
        "stateWebhook": {"current": None, "expected": "yes"}
    }


class _Answer:
    status_code = 200
    text = "{}"

    def json(self):
        return {"stateInstance": "authorized"}


class _Transport:
    """Answers every request at once; records when (on the test's clock)."""

    def __init__(self, clock):
        self.clock, self.at = clock, []

    def request(self, *args, **kwargs):
        self.at.append(self.clock())
        return _Answer()


def test_the_client_keeps_a_second_between_requests_when_asked():
    now = [100.0]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    transport = _Transport(lambda: now[0])
    client = GreenApiClient(
        Credentials("https://api.example", 1, "secret"),
        session=transport,
        min_interval=1.0,
        clock=lambda: now[0],
        sleep=sleep,
    )
    client.get_state_instance()
    now[0] += 0.25  # the caller's own work between two requests
    client.get_state_instance()
    client.get_state_instance()
    assert transport.at == [100.0, 101.0, 102.0]
    assert sleeps == [0.75, 1.0]


def test_without_pacing_requests_go_at_once():
    transport = _Transport(lambda: 0.0)
    client = GreenApiClient(Credentials("https://api.example", 1, "secret"), session=transport)
    client.get_state_instance()
    client.get_state_instance()
    assert len(transport.at) == 2


ENV = {
    "TABLE_NAME": "t",
    "WEBHOOK_URL": "https://hook.example",
    "TOKEN_SECRET_ARN": "arn:token",
    "CREDENTIALS_SECRET_ARN": "arn:credentials",
    "WEBHOOK_SWITCHES": '{"stateWebhook": "yes"}',
    "AUTO_HEAL": "true",
}


def test_the_monitor_configuration_is_read_and_checked():
    config = MonitorConfig.from_env(ENV)
    assert config.switches == {"stateWebhook": "yes"}
    assert config.auto_heal is True
    assert config.heal_every_seconds == 3600
    assert MonitorConfig.from_env({**ENV, "AUTO_HEAL": "false"}).auto_heal is False
    for broken in ({"AUTO_HEAL": "yes"}, {"WEBHOOK_SWITCHES": "[1]"}, {"TABLE_NAME": ""}):
        with pytest.raises(ConfigError):
            MonitorConfig.from_env({**ENV, **broken})


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200)],
)
def test_rate_expressions_give_the_period(expression, seconds):
    assert rate_seconds(expression) == seconds


def test_only_rate_schedules_run_locally():
    with pytest.raises(ValueError):
        rate_seconds("cron(0 12 * * ? *)")

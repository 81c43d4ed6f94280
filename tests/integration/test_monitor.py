"""The instance monitor on the local stack: the real handler, started by the same schedule
runner `make run` uses, against the fake GREEN-API the stack registered itself with.

The fake is changed behind greenhook's back (settings, logout, ban), as an operator or
GREEN-API's console would; the monitor must notice, record it on the instance item, count
it in metrics, and heal only what it safely can.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest

from greenhook import keys
from greenhook.storage import Storage
from greenhook_dev.cli import main
from greenhook_dev.lambda_runtime import cold_start
from greenhook_dev.local_stack import LOCAL_INSTANCE, start_local_stack
from greenhook_dev.template_resources import load_template
from greenhook_dev.webhooks import Instance

METRICS = ("InstanceNotAuthorized", "SettingsDrift", "InstanceHealed", "MonitorFailed")
BACKFILLED = "MessagesBackfilled"  # only when a backfill ran


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    cold_start()
    running = start_local_stack(
        port=0, state_dir=tmp_path_factory.mktemp("monitor"), start_poller=False
    )
    registered = running.green_api.settings(LOCAL_INSTANCE)
    try:
        yield running, registered
    finally:
        running.stop()
        cold_start()


@pytest.fixture
def running(stack):
    """The module's stack, as the deploy hook left it: settings as registered, the instance
    authorized, no check recorded (so no heal within the hour either)."""
    running, registered = stack
    fake = running.green_api
    fake.set_state(LOCAL_INSTANCE, "authorized")
    fake.preset(LOCAL_INSTANCE, registered)
    table = boto3.resource("dynamodb").Table(running.info["table_name"])
    table.delete_item(Key=keys.instance(LOCAL_INSTANCE))
    cold_start()
    yield running
    cold_start()


class Check:
    """Runs the monitor's schedule once; its finding, and the metrics its line reported."""

    def __init__(self, running, capfd):
        self.running, self.capfd = running, capfd
        (self.schedule,) = running.schedules.schedules

    def __call__(self) -> tuple[dict, dict]:
        self.capfd.readouterr()
        finding = self.running.schedules.run(self.schedule)
        assert isinstance(finding, dict), finding  # not an error's text
        out = self.capfd.readouterr().out
        documents = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
        metrics = {}
        for document in documents:
            names = (*METRICS, BACKFILLED)
            metrics.update({name: document[name] for name in names if name in document})
        return finding, {name: value[0] for name, value in metrics.items()}


@pytest.fixture
def check(running, capfd):
    return Check(running, capfd)


def set_settings_calls(fake) -> int:
    return sum(1 for call in fake.calls if call.method == "setSettings")


def stored_monitor(running) -> dict:
    return Storage(running.info["table_name"]).get_instance(LOCAL_INSTANCE)


def test_settings_as_registered_are_reported_as_such(running, check):
    assert running.schedules.schedules[0].period == 60  # MonitorIntervalMinutes locally
    finding, metrics = check()
    assert finding["authorized"] is True
    assert finding["drift"] == {}
    assert finding["heal"] is None
    assert metrics == dict.fromkeys(METRICS, 0.0)
    instance = stored_monitor(running)
    assert instance["drift"] == {}
    assert instance["monitor"]["state_instance"] == "authorized"


def test_drift_is_reported_and_healed_once_within_the_hour(running, check):
    fake = running.green_api
    registered_url = fake.settings(LOCAL_INSTANCE)["webhookUrl"]
    before = set_settings_calls(fake)
    fake.preset(LOCAL_INSTANCE, {"webhookUrl": "https://elsewhere.example/hook"})

    finding, metrics = check()
    assert set(finding["drift"]) == {"webhookUrl"}
    assert finding["drift"]["webhookUrl"]["current"] == "https://elsewhere.example/hook"
    assert finding["heal"].startswith("re-registered")
    assert (metrics["SettingsDrift"], metrics["InstanceHealed"]) == (1.0, 1.0)
    assert set_settings_calls(fake) == before + 1
    assert fake.settings(LOCAL_INSTANCE)["webhookUrl"] == registered_url  # healed

    fake.preset(LOCAL_INSTANCE, {"stateWebhook": "no"})  # drifts again within the hour
    finding, metrics = check()
    assert set(finding["drift"]) == {"stateWebhook"}
    assert finding["heal"] == "not healed: re-registered less than 3600 s ago"
    assert (metrics["SettingsDrift"], metrics["InstanceHealed"]) == (1.0, 0.0)
    assert set_settings_calls(fake) == before + 1  # not a second reboot
    assert stored_monitor(running)["drift"] == {
        "stateWebhook": {"current": "no", "expected": "yes"}
    }


def test_without_auto_heal_drift_is_only_reported(running, check, monkeypatch):
    monkeypatch.setenv("AUTO_HEAL", "false")
    cold_start()  # the monitor reads its configuration once per cold start
    fake = running.green_api
    before = set_settings_calls(fake)
    fake.preset(LOCAL_INSTANCE, {"webhookUrlToken": "not-our-token"})

    finding, metrics = check()
    assert finding["drift"] == {
        "webhookUrlToken": {"current": "***(13 chars)", "expected": "***(48 chars)"}
    }
    assert finding["heal"] == "auto-heal is off"
    assert metrics["SettingsDrift"] == 1.0 and metrics["InstanceHealed"] == 0.0
    assert set_settings_calls(fake) == before


def test_logout_and_ban_are_recorded_and_nothing_is_registered_meanwhile(running, check):
    fake = running.green_api
    before = set_settings_calls(fake)
    fake.set_state(LOCAL_INSTANCE, "notAuthorized")
    fake.preset(LOCAL_INSTANCE, {"webhookUrl": ""})  # as after a logout in the console

    finding, metrics = check()
    assert finding["authorized"] is False
    assert finding["state_instance"] == "notAuthorized"
    assert finding["heal"] == "not healed: the instance is 'notAuthorized', not authorized"
    assert metrics["InstanceNotAuthorized"] == 1.0

    fake.set_state(LOCAL_INSTANCE, "blocked")
    finding, metrics = check()
    assert finding["state_instance"] == "blocked"
    assert metrics["InstanceNotAuthorized"] == 1.0
    assert stored_monitor(running)["monitor"]["state_instance"] == "blocked"
    assert set_settings_calls(fake) == before

    fake.set_state(LOCAL_INSTANCE, "authorized")  # the QR code scanned again: now it heals
    finding, metrics = check()
    assert finding["heal"].startswith("re-registered")
    assert metrics["InstanceNotAuthorized"] == 0.0
    assert set_settings_calls(fake) == before + 1


def test_green_api_unreachable_is_counted_not_raised(running, check):
    running.green_api.down()
    try:
        finding, metrics = check()
    finally:
        running.green_api.up()
    assert finding["error"].startswith("getStateInstance: HTTP 503")
    assert metrics == {"MonitorFailed": 1.0}  # an unreachable API is no logout: no alarm
    assert running.green_api.instances[LOCAL_INSTANCE] not in json.dumps(finding)  # no token


def granted(function: str) -> set[str]:
    policies = load_template()["Resources"][function]["Properties"]["Policies"]
    actions = set()
    for statement in (s for p in policies for s in p["Statement"]):
        action = statement["Action"]
        actions |= {action} if isinstance(action, str) else set(action)
    return actions


def test_the_monitor_calls_only_what_its_role_allows(running, check):
    called = set()

    def record(model, **_):
        prefix = model.service_model.signing_name or model.service_model.endpoint_prefix
        called.add(f"{prefix}:{model.name}")

    events = boto3._get_default_session().events  # the handler's clients are made per run
    events.register("before-call", record)
    try:
        running.green_api.preset(LOCAL_INSTANCE, {"stateWebhook": "no"})
        check()
    finally:
        events.unregister("before-call", record)
    assert called  # it did reach AWS
    assert called <= granted("MonitorFunction")


def test_greenhook_instance_shows_the_last_check(running, check, capfd):
    running.green_api.preset(LOCAL_INSTANCE, {"stateWebhook": "no"})
    check()
    capfd.readouterr()
    stack_file = running.stack_file
    # A checked instance that has sent no webhook is not listed, but can be named.
    assert Storage(running.info["table_name"]).list_instances() == []
    instance = ["--instance", str(LOCAL_INSTANCE)]
    assert main(["instance", *instance, "--stack-file", str(stack_file)]) == 0
    text = capfd.readouterr().out
    (line,) = [line for line in text.splitlines() if line.startswith("checked")]
    assert "authorized; settings drifted: stateWebhook (no, expected yes); re-registered" in line
    assert main(["instance", "--json", *instance, "--stack-file", str(stack_file)]) == 0
    document = json.loads(capfd.readouterr().out)
    assert document["drift"] == {"stateWebhook": {"current": "no", "expected": "yes"}}


def test_after_a_gap_the_monitor_backfills_what_greenhook_missed(running, check, monkeypatch):
    monkeypatch.setenv("BACKFILL_AFTER_MINUTES", "5")
    cold_start()
    fake = running.green_api
    first, metrics = check()  # the first look only starts the watch
    assert first["backfill"] is None and BACKFILLED not in metrics
    assert abs(first["backfilled_to"] - time.time()) < 10

    # Sent while this stack processes nothing (its queue poller is off): greenhook has only
    # the queued webhook, and the fake's journal has the message.
    webhook = Instance(LOCAL_INSTANCE).text("MON-BF1", "79000000031@c.us", int(time.time()), "hi")
    delivered = fake.delivered(LOCAL_INSTANCE)
    fake.send(LOCAL_INSTANCE, webhook)
    assert fake.wait_delivered(delivered + 1, 10, LOCAL_INSTANCE)  # to the queue, no further
    # The last look was ten minutes ago: a gap of twice BACKFILL_AFTER_MINUTES.
    table = boto3.resource("dynamodb").Table(running.info["table_name"])
    table.update_item(
        Key=keys.instance(LOCAL_INSTANCE),
        UpdateExpression="SET #m.backfilled_to = :t",
        ExpressionAttributeNames={"#m": "monitor"},
        ExpressionAttributeValues={":t": first["backfilled_to"] - 600},
    )
    called = set()

    def record(model, **_):
        prefix = model.service_model.signing_name or model.service_model.endpoint_prefix
        called.add(f"{prefix}:{model.name}")

    events = boto3._get_default_session().events
    events.register("before-call", record)
    try:
        finding, metrics = check()
    finally:
        events.unregister("before-call", record)
    # The gap (ten minutes and the seconds since), and the journals' two minutes of lag.
    assert finding["backfill"].pop("minutes") in (12, 13)
    assert finding["backfill"] == {
        "entries": 1,
        "added": 1,
        "references": 0,
        "statuses": 0,
        "parked": 0,
    }
    assert metrics[BACKFILLED] == 1.0
    assert finding["backfilled_to"] >= first["backfilled_to"]
    stored = Storage(running.info["table_name"]).get_message(LOCAL_INSTANCE, "MON-BF1")
    assert (stored["source"], stored["text"]) == ("journal", "hi")
    assert called <= granted("MonitorFunction")  # the backfill's calls too

    again, metrics = check()  # no gap now
    assert again["backfill"] is None and BACKFILLED not in metrics
    assert again["backfilled_to"] == finding["backfilled_to"]

"""Token rotation as the TokenRotation state machine, on the local stack.

The machine is template.yaml's own definition, run by moto's Step Functions engine
(greenhook_dev.moto_states); its tasks are the rotate function's real handler, in-process.
The stack registered itself with its fake GREEN-API at start (the real deploy hook). A
rotation is started and followed by `greenhook rotate-token --wait`, as an operator would;
the failure cases break one step each, as GREEN-API or AWS would, and check that ingest
still accepts the token GREEN-API sends.
"""

from __future__ import annotations

import json
import threading
import time

import boto3
import pytest

from greenhook.archive import ArchiveReader
from greenhook.storage import Payloads, Storage
from greenhook.tokens import tokens_from_secret
from greenhook_dev import faults
from greenhook_dev.cli import main
from greenhook_dev.lambda_runtime import cold_start
from greenhook_dev.local_stack import LOCAL_INSTANCE, start_local_stack
from greenhook_dev.registration import Operations, Target


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    cold_start()
    running = start_local_stack(
        port=0, state_dir=tmp_path_factory.mktemp("rotation"), retry_delay=1
    )
    registered = running.green_api.settings(LOCAL_INSTANCE)
    try:
        yield running, registered
    finally:
        running.stop()
        cold_start()


@pytest.fixture
def running(stack):
    """The module's stack as the deploy hook left it: one token, GREEN-API sending it."""
    running, registered = stack
    fake = running.green_api
    fake.up()
    fake.set_state(LOCAL_INSTANCE, "authorized")
    fake.apply_delay = 1.0
    fake.retry_interval = 0.5
    fake.preset(LOCAL_INSTANCE, registered)
    secrets = boto3.client("secretsmanager")
    token = registered["webhookUrlToken"]
    secrets.put_secret_value(
        SecretId=running.info["secret_arn"], SecretString=json.dumps({"token": token})
    )
    cold_start()  # ingest's token cache
    yield running
    cold_start()


def accepted(running) -> tuple[str, ...]:
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=running.info["secret_arn"])
    return tokens_from_secret(secret["SecretString"])


def operations(running) -> Operations:
    info = running.info
    target = Target(
        info["registration"],
        float(info["token_cache_seconds"]),
        token_rotation_arn=info["token_rotation_arn"],
    )
    return Operations(target, stepfunctions_client=boto3.client("stepfunctions"))


def history_text(arn: str) -> str:
    client = boto3.client("stepfunctions")
    events, token = [], None
    while True:
        page = client.get_execution_history(
            executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {})
        )
        events += page["events"]
        if not (token := page.get("nextToken")):
            return json.dumps(events, default=str)


def delivered_with_current_token(running) -> bool:
    """A webhook GREEN-API sends now (with whatever token it has) is accepted."""
    fake = running.green_api
    before = len(fake.deliveries)
    done = fake.delivered(LOCAL_INSTANCE)
    fake.send(LOCAL_INSTANCE, state_webhook(int(time.time())))
    if not fake.wait_delivered(done + 1, 20, LOCAL_INSTANCE):
        return False
    return all(d["status"] == 200 for d in fake.deliveries[before:])


def cli_document(out: str) -> dict:
    """The command's --json document; the in-process handlers' log lines share stdout."""
    start = out.rindex('{\n  "executionArn"')
    return json.JSONDecoder().raw_decode(out[start:])[0]


def state_webhook(n: int) -> dict:
    return {
        "typeWebhook": "stateInstanceChanged",
        "instanceData": {"idInstance": LOCAL_INSTANCE, "wid": "1@c.us"},
        "timestamp": 1_700_000_000 + n,
        "stateInstance": "authorized",
    }


def test_no_webhook_is_rejected_or_lost_during_a_rotation(running, capsys):
    fake = running.green_api
    info = running.info
    old_token = fake.settings(LOCAL_INSTANCE)["webhookUrlToken"]
    assert accepted(running) == (old_token,)
    sent: list[int] = []
    stop = threading.Event()

    def keep_sending() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            fake.send(LOCAL_INSTANCE, state_webhook(n))
            sent.append(n)
            time.sleep(0.05)

    deliveries_before = len(fake.deliveries)
    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        capsys.readouterr()
        stack_file = str(running.stack_file)
        code = main(
            ["rotate-token", "--wait", "--grace", "2", "--json", "--stack-file", stack_file]
        )
        result = capsys.readouterr()
        time.sleep(1)  # a few more webhooks with the new token only
    finally:
        stop.set()
        sender.join()
    assert code == 0, result.err
    document = cli_document(result.out)
    assert document["status"] == "SUCCEEDED"
    steps = [line for line in result.err.splitlines() if "so far" not in line]
    assert {"rotation: WaitForTokenCaches", "rotation: GracePeriod"} <= set(steps)  # stderr

    assert fake.wait_delivered(len(sent), timeout=60)
    statuses = [d["status"] for d in fake.deliveries[deliveries_before:]]
    assert 401 not in statuses and 403 not in statuses, statuses
    assert statuses.count(200) == len(sent) >= 20
    new_token = fake.settings(LOCAL_INSTANCE)["webhookUrlToken"]
    assert new_token != old_token
    assert accepted(running) == (new_token,)  # the old one retired
    stack_file = json.loads(running.stack_file.read_text())
    assert stack_file["authorization"] == f"Bearer {new_token}"  # for `greenhook send`
    history = history_text(document["executionArn"])
    assert "RetireOldToken" in history
    assert old_token not in history and new_token not in history  # no token in any state

    storage = Storage(info["table_name"], payloads=Payloads(info["bucket_name"]))
    reader = ArchiveReader(storage.payloads)
    deadline = time.monotonic() + 30

    def archived() -> int:  # a line per delivery: a body GREEN-API re-sent is there twice
        return len({line["id"] for line in reader.newest(5000)})

    while archived() < len(sent) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert archived() >= len(sent)


def test_without_wait_it_returns_at_once_with_the_execution(running, capsys):
    capsys.readouterr()
    started = time.monotonic()
    stack_file = ["--stack-file", str(running.stack_file)]
    assert main(["rotate-token", "--grace", "1", "--json", *stack_file]) == 0
    assert time.monotonic() - started < 5  # the rotation itself waits longer than that
    document = cli_document(capsys.readouterr().out)
    assert document["status"] == "RUNNING"
    client = boto3.client("stepfunctions")
    execution = operations(running).follow_rotation(document["executionArn"], interval=0.5)
    assert execution["status"] == "SUCCEEDED"
    assert client.describe_execution(executionArn=document["executionArn"])["status"] == (
        "SUCCEEDED"
    )


def _unknown_token(running) -> None:
    running.green_api.preset(LOCAL_INSTANCE, {"webhookUrlToken": "set-in-the-console"})


def _logged_out(running) -> None:
    running.green_api.set_state(LOCAL_INSTANCE, "notAuthorized")


def _never_applied(running) -> None:
    running.green_api.apply_delay = 3600.0  # GREEN-API saves, never shows


@pytest.mark.parametrize(
    ("break_it", "state", "error"),
    [
        (_unknown_token, "StoreNewToken", "UnknownWebhookToken"),
        (_logged_out, "Register", "InstanceNotAuthorized"),
        (_never_applied, "Confirm", "NotConfirmed"),
    ],
    ids=["store", "register", "confirm"],
)
def test_a_failed_step_leaves_the_token_greenhook_is_sent_accepted(running, break_it, state, error):
    before = accepted(running)
    break_it(running)
    ops = operations(running)
    arn = ops.start_rotation(
        cache_seconds=1, grace_seconds=1, confirm_every_seconds=1, confirm_attempts=2
    )
    execution = ops.follow_rotation(arn, interval=0.3)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "TokenRotationFailed"
    failure = execution["failure"]
    assert (failure["state"], failure["error"]) == (state, error)
    tokens = accepted(running)
    if state == "StoreNewToken":
        assert tokens == before  # nothing was stored
    else:
        assert len(tokens) == 2 and tokens[1] == before[0]  # the new one and the old one
    running.green_api.set_state(LOCAL_INSTANCE, "authorized")
    if state != "StoreNewToken":
        # whichever token GREEN-API ends up with, ingest accepts it
        assert running.green_api.settings(LOCAL_INSTANCE)["webhookUrlToken"] in tokens
        assert delivered_with_current_token(running)


def test_a_failed_retirement_leaves_both_tokens_accepted(running):
    ops = operations(running)
    old_token = accepted(running)[0]
    arn = ops.start_rotation(cache_seconds=1, grace_seconds=3, confirm_every_seconds=1)
    client = boto3.client("stepfunctions")
    deadline = time.monotonic() + 60
    while "GracePeriod" not in [name for name, _ in ops.states_entered(arn)]:
        assert client.describe_execution(executionArn=arn)["status"] == "RUNNING"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    outage = faults.FaultInjector(
        "secretsmanager", faults.SERVICE_UNAVAILABLE, operations=["PutSecretValue"]
    ).install()
    try:
        execution = ops.follow_rotation(arn, interval=0.3)
    finally:
        outage.uninstall()
    assert outage.injected > 0
    assert execution["status"] == "FAILED"
    assert execution["failure"]["state"] == "RetireOldToken"
    assert execution["failure"]["error"] == "ClientError"
    new_token = running.green_api.settings(LOCAL_INSTANCE)["webhookUrlToken"]
    assert accepted(running) == (new_token, old_token)
    assert delivered_with_current_token(running)

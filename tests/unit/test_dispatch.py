"""The dispatch registry: greenhook's handlers cover every type; users add theirs."""

from __future__ import annotations

import json
import sys

import pytest

from greenhook.config import ProcessConfig
from greenhook.dispatch import Registry, load_handler_modules, registry
from greenhook.models import WEBHOOK_MODELS, parse_webhook
from greenhook_dev.template_resources import REPO_ROOT

TEXT = json.loads((REPO_ROOT / "events/messages/incoming-textMessage.json").read_text())
IMAGE = json.loads((REPO_ROOT / "events/messages/incoming-imageMessage.json").read_text())


def test_greenhook_handles_every_documented_type_webhook():
    assert set(WEBHOOK_MODELS) <= set(registry.types())


def test_type_message_handlers_run_only_for_their_type_and_after_the_type_webhook_ones():
    calls = []
    local = Registry()
    local.register("incomingMessageReceived")(lambda w, s: calls.append(("all", w.idMessage)))
    local.register("incomingMessageReceived", type_message="textMessage")(
        lambda w, s: calls.append(("text", w.idMessage))
    )
    for document in (TEXT, IMAGE):
        webhook = parse_webhook(document)
        for handler in local.handlers_for(webhook):
            handler(webhook, None)
    assert calls == [
        ("all", TEXT["idMessage"]),
        ("text", TEXT["idMessage"]),
        ("all", IMAGE["idMessage"]),
    ]


def test_a_type_without_handlers_has_none():
    webhook = parse_webhook({**TEXT, "typeWebhook": "somethingNew"})
    assert Registry().handlers_for(webhook) == []
    assert registry.handlers_for(webhook) == []


def test_user_modules_named_in_the_environment_register_themselves(tmp_path, monkeypatch):
    (tmp_path / "my_handlers.py").write_text(
        "from greenhook.dispatch import registry\n"
        "seen = []\n"
        "@registry.register('incomingCall')\n"
        "def on_call(webhook, storage):\n"
        "    seen.append(webhook.idMessage)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_handlers", registry._handlers.copy())
    monkeypatch.delitem(sys.modules, "my_handlers", raising=False)
    config = ProcessConfig.from_env(
        {
            "TABLE_NAME": "t",
            "PAYLOAD_BUCKET": "b",
            "ARCHIVE_STREAM_NAME": "a",
            "EXTRA_HANDLER_MODULES": " my_handlers , ",
        }
    )
    assert config.extra_handler_modules == ("my_handlers",)
    load_handler_modules(config.extra_handler_modules)
    call = parse_webhook(json.loads((REPO_ROOT / "events/webhooks/incomingCall.json").read_text()))
    handlers = registry.handlers_for(call)
    assert [h.__module__ for h in handlers] == ["greenhook.handlers", "my_handlers"]
    for handler in handlers[1:]:
        handler(call, None)
    assert sys.modules["my_handlers"].seen == [call.idMessage]


def test_a_missing_user_module_fails_loudly():
    with pytest.raises(ModuleNotFoundError):
        load_handler_modules(["no_such_handlers_module"])

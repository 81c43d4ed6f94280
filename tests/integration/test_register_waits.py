"""`greenhook register` shows what it waits for: GREEN-API applies settings only after the
instance rebooted, which can take minutes."""

from __future__ import annotations

import time

from greenhook.greenapi import Credentials, GreenApiClient
from greenhook.register import Registration, register
from greenhook_dev.fake_green_api import FakeGreenApi

ID_INSTANCE, API_TOKEN, TOKEN = 1101000009, "a" * 50, "w" * 48


def test_register_reports_each_wait_for_the_settings_to_show_and_no_token():
    messages: list[str] = []
    with FakeGreenApi(instances={ID_INSTANCE: API_TOKEN}, apply_delay=1.0) as fake:
        client = GreenApiClient(Credentials(fake.url, ID_INSTANCE, API_TOKEN))
        outcome = register(
            client,
            Registration("https://hook.example/green-api/webhook", TOKEN, {"stateWebhook": "yes"}),
            deadline=time.monotonic() + 30,
            poll=0.2,
            progress=messages.append,
        )
    assert outcome.changed
    assert messages[0] == "setSettings sent: stateWebhook, webhookUrl, webhookUrlToken"
    waits = messages[1:]
    assert waits, "the settings applied after a second: at least one wait was reported"
    assert all(
        m.startswith("waiting for GREEN-API to show stateWebhook, webhookUrl, webhookUrlToken (")
        for m in waits
    )
    assert not any(TOKEN in m or API_TOKEN in m for m in messages)

"""The README's auto-reply example, loaded as the deployed function would load it."""

from __future__ import annotations

import json
import re
import sys

from greenhook.dispatch import registry
from greenhook_dev.lambda_runtime import cold_start
from greenhook_dev.template_resources import REPO_ROOT
from greenhook_dev.webhooks import Instance

ANN = "79011111111@c.us"


def readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (REPO_ROOT / "README.md").read_text(), re.S)
    (example,) = [b for b in blocks if "def auto_reply" in b]
    return example


def test_the_readme_auto_reply_runs_after_the_message_is_stored(
    pipeline, tmp_path, monkeypatch, caplog
):
    (tmp_path / "auto_reply.py").write_text(readme_example())
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "auto_reply", raising=False)
    monkeypatch.setattr(registry, "_handlers", registry._handlers.copy())
    monkeypatch.setenv("EXTRA_HANDLER_MODULES", "auto_reply")
    cold_start()  # the process function reads its configuration (and modules) anew

    instance = Instance()
    pipeline.post(json.dumps(instance.text("Q1", ANN, 1_700_000_000, "Hours?")))
    pipeline.post(json.dumps(instance.text("Q2", ANN, 1_700_000_001, "hello")))
    caplog.clear()
    pipeline.drain()

    replies = [r for r in caplog.records if r.getMessage() == "auto-reply"]
    assert [r.chat_id for r in replies] == [ANN]  # only for "Hours?"
    assert pipeline.storage.get_message(instance.id_instance, "Q1")["text"] == "Hours?"
    assert pipeline.storage.list_parked() == []

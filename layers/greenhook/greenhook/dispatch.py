"""Dispatch: handlers per typeWebhook (and typeMessage) turn a validated webhook into writes.

greenhook's own handlers (`greenhook.handlers`) store every type. A user adds handlers of
their own, for a whole typeWebhook or for one typeMessage of the message webhooks, without
editing greenhook: put a module on the process function's path (a layer, or next to its
app.py) and name it in the `EXTRA_HANDLER_MODULES` setting; it is imported at cold start.

    from greenhook.dispatch import registry

    @registry.register("incomingMessageReceived", type_message="textMessage")
    def auto_reply(webhook, storage): ...

Handlers run in registration order, greenhook's first. They must be idempotent: a
delivery can repeat, and the handlers run again.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Callable, Iterable

from greenhook.models import MessageWebhook, Webhook
from greenhook.storage import Storage

Handler = Callable[[Webhook, Storage], None]


class Registry:
    """(typeWebhook, typeMessage or None for all) -> handlers, in registration order."""

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str | None], list[Handler]] = defaultdict(list)

    def register(
        self, type_webhook: str, type_message: str | None = None
    ) -> Callable[[Handler], Handler]:
        """Add a handler for a typeWebhook, or for one typeMessage (canonical spelling)."""

        def add(handler: Handler) -> Handler:
            self._handlers[(type_webhook, type_message)].append(handler)
            return handler

        return add

    def handlers_for(self, webhook: Webhook) -> list[Handler]:
        found = list(self._handlers.get((webhook.typeWebhook, None), ()))
        if isinstance(webhook, MessageWebhook):
            found += self._handlers.get((webhook.typeWebhook, webhook.type_message), ())
        return found

    def types(self) -> list[str]:
        return sorted({type_webhook for type_webhook, _ in self._handlers})


registry = Registry()


def load_handler_modules(modules: Iterable[str]) -> None:
    """Import the user's handler modules (they register themselves on import)."""
    for module in modules:
        importlib.import_module(module)


from greenhook import handlers as _builtin  # noqa: E402,F401  (registers greenhook's handlers)

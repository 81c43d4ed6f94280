"""Dispatch: one handler per typeWebhook turns a validated webhook into storage writes.

A user adds or replaces a handler without editing greenhook:

    from greenhook.dispatch import registry

    @registry.register("incomingCall")
    def on_call(webhook, storage): ...

Handlers must be idempotent (they are called again when a delivery repeats).
"""

from __future__ import annotations

from collections.abc import Callable

from greenhook.models import StateInstanceChanged, Webhook
from greenhook.storage import Storage

Handler = Callable[[Webhook, Storage], None]


class Registry:
    """typeWebhook -> handler."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, type_webhook: str) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            self._handlers[type_webhook] = handler
            return handler

        return add

    def handler_for(self, type_webhook: str) -> Handler | None:
        return self._handlers.get(type_webhook)

    def types(self) -> list[str]:
        return sorted(self._handlers)


registry = Registry()


@registry.register("stateInstanceChanged")
def store_instance_state(webhook: StateInstanceChanged, storage: Storage) -> None:
    """The instance's authorization state; the newest timestamp wins."""
    storage.put_instance_state(
        webhook.instanceData.idInstance,
        webhook.stateInstance,
        webhook.timestamp,
        wid=webhook.instanceData.wid or None,
    )

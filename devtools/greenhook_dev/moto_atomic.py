"""moto's DynamoDB operations one at a time, as DynamoDB applies each request atomically.

moto's backends read, change and write their state without locks. One thread per request
was harmless while a single poller thread wrote; the process function now handles the
chats of a batch on several threads, and two of them updating one item (the instance's
minute, say) could lose one update in moto, where DynamoDB applies each UpdateItem
atomically. `install()` puts every moto DynamoDB operation under one lock, whether it
arrives over HTTP (the local stack's server) or in-process (`mock_aws`, `moto_inprocess`).
Only DynamoDB's: an SQS long poll waits inside its operation, and must not hold the others.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.core.responses import BaseResponse

_lock = threading.RLock()
_installed = False


def install() -> None:
    """Wrap BaseResponse.call_action, the one place every operation passes (once)."""
    global _installed
    if _installed:
        return
    call_action = BaseResponse.call_action

    def atomic_call_action(self: BaseResponse) -> Any:
        if getattr(self, "service_name", None) != "dynamodb":
            return call_action(self)
        with _lock:
            return call_action(self)

    BaseResponse.call_action = atomic_call_action  # type: ignore[method-assign]
    _installed = True

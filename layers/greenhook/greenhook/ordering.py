"""Which status wins: total orders that make status writes converge in any arrival order.

A rank is a string compared as DynamoDB compares strings; two different statuses never have
the same rank, so whichever order they arrive in, the same one is kept.
"""

from __future__ import annotations

# sent < delivered < read; failed, noAccount and notInGroup are final (nothing moves a
# message out of them). Statuses not listed (yellowCard, pending, new ones) rank below sent:
# they are recorded with their time but never hide a delivery.
_MESSAGE_STATUS_RANK = {
    "sent": 2,
    "delivered": 3,
    "read": 4,
    "failed": 9,
    "noAccount": 9,
    "notInGroup": 9,
}
FINAL_MESSAGE_STATUSES = frozenset(s for s, r in _MESSAGE_STATUS_RANK.items() if r == 9)

# offer (ringing) first; pickUp; then the end of the call (hungUp, declined, invalid; the old
# spellings hangUp and missed are normalised before ranking).
_CALL_STATUS_RANK = {"offer": 1, "pickUp": 2, "hungUp": 9, "declined": 9, "invalid": 9}


def message_status_rank(status: str) -> str:
    return f"{_MESSAGE_STATUS_RANK.get(status, 1)}#{status}"


def call_status_rank(status: str) -> str:
    return f"{_CALL_STATUS_RANK.get(status, 5)}#{status}"

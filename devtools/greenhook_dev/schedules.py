"""EventBridge Scheduler on the local stack: moto keeps the template's schedules, this fires
them. Each ENABLED schedule with a `rate(...)` expression invokes its target function (an
in-process LocalFunction, by ARN) with the target's Input, or `{}`, once per period, the
first time one period after start, as Scheduler does. A failed invocation is logged and
not retried, as the template's `RetryPolicy: MaximumRetryAttempts: 0` asks.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from greenhook_dev.lambda_runtime import LocalFunction
from greenhook_dev.poller import PollingThread

log = logging.getLogger(__name__)
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float:
    """`rate(5 minutes)` -> 300.0; ValueError for anything else (cron, at: not emulated)."""
    match = _RATE.match(expression.strip())
    if not match:
        raise ValueError(f"only rate() schedules run locally, not {expression!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


@dataclass
class Schedule:
    name: str
    period: float
    function: LocalFunction
    event: Any
    next_at: float


class ScheduleRunner(PollingThread):
    """Runs the schedules found in moto whose target is one of `functions` (by ARN)."""

    thread_name = "scheduler"

    def __init__(
        self,
        scheduler: Any,
        functions: dict[str, LocalFunction],
        *,
        period_override: float | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        super().__init__(idle_sleep=1.0)
        self.clock = clock
        self.schedules: list[Schedule] = []
        for summary in scheduler.list_schedules().get("Schedules", []):
            detail = scheduler.get_schedule(Name=summary["Name"])
            target = detail.get("Target") or {}
            function = functions.get(target.get("Arn", ""))
            if detail.get("State") != "ENABLED" or function is None:
                continue
            period = period_override or rate_seconds(detail["ScheduleExpression"])
            event = json.loads(target["Input"]) if target.get("Input") else {}
            self.schedules.append(
                Schedule(detail["Name"], period, function, event, self.clock() + period)
            )

    def run(self, schedule: Schedule) -> Any:
        """Invoke one schedule's target now; its result (an error is logged, not raised)."""
        try:
            result: Any = schedule.function(schedule.event)
        except Exception as error:
            log.exception("schedule %s: its target failed", schedule.name)
            result = f"{type(error).__name__}: {error}"
        return result

    def poll_once(self) -> int:
        fired = 0
        for schedule in self.schedules:
            if self.clock() >= schedule.next_at:
                schedule.next_at = self.clock() + schedule.period
                self.run(schedule)
                fired += 1
        return fired

"""What a subscriber sees, locally: a rule on the event bus to a queue, read into a file.

The local stack creates what a user would create to subscribe (an EventBridge rule matching
`source: greenhook`, targeting an SQS queue) on moto's bus, and a thread drains that queue
into `<state-dir>/events.jsonl`, one delivered event per line with the time it was seen.
`greenhook events` reads the file's tail, and `--follow` the lines as they are written.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from greenhook_dev.poller import PollingThread

log = logging.getLogger(__name__)

EVENTS_FILE_NAME = "events.jsonl"
PATTERN = {"source": ["greenhook"]}


class EventSink(PollingThread):
    """A rule + queue on the bus, and a thread that keeps every delivered event."""

    thread_name = "event-sink"

    def __init__(
        self,
        session: Any,
        *,
        bus_name: str,
        stack_name: str,
        path: Path | None = None,
        idle_sleep: float = 0.1,
    ) -> None:
        self.sqs = session.client("sqs")
        self.bus_name = bus_name
        self.path = path
        super().__init__(idle_sleep)
        self.events: list[dict] = []  # as delivered, in the order the queue gave them
        self.seen_at: list[float] = []  # time.time() each was read
        self._lock = threading.Lock()
        name = f"{stack_name}-local-events"
        self.queue_url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        events = session.client("events")
        events.put_rule(Name=name, EventBusName=bus_name, EventPattern=json.dumps(PATTERN))
        events.put_targets(
            Rule=name, EventBusName=bus_name, Targets=[{"Id": "local-events", "Arn": queue_arn}]
        )
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")

    def drain_once(self) -> int:
        """Read what the queue holds now; returns how many events were read."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return 0
        now = time.time()
        events = [json.loads(m["Body"]) for m in messages]
        with self._lock:
            self.events += events
            self.seen_at += [now] * len(events)
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as file:
                    for event in events:
                        line = {"seen_at": now, "event": event}
                        file.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.sqs.delete_message_batch(
            QueueUrl=self.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
        return len(events)

    poll_once = drain_once

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.events)


def read_events(path: Path) -> list[dict]:
    """Every line of an events file: {"seen_at": ..., "event": {...}}."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]

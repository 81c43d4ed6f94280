"""SQS's message move task for moto, which has none: `install()` adds the three operations.

`StartMessageMoveTask`, `ListMessageMoveTasks` and `CancelMessageMoveTask` behave as AWS
documents them, so that `greenhook redrive` makes the same calls locally as against AWS:
- the source must be a queue that another queue names as its dead-letter queue; without a
  `DestinationArn` the messages go back to that queue (moto does not record a message's
  source queue, so the DLQ must have exactly one source);
- one running task per source queue;
- the task runs on its own: it moves the oldest messages first, each with its body, message
  attributes and message group, deletes it from the DLQ once sent, and honours
  `MaxNumberOfMessagesPerSecond`;
- on a FIFO destination each message's deduplication id is its message id (AWS puts the
  message id there when a message moves to a FIFO DLQ), so SQS's five-minute window cannot
  drop a webhook that comes back, however soon;
- `ListMessageMoveTasks` reports the newest tasks first with their counts and status
  (RUNNING, COMPLETED, CANCELLING, CANCELLED, FAILED), the handle only while RUNNING.
The task moves through moto's SQS backend directly, the way AWS's runs inside SQS.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

_installed = False
_lock = threading.Lock()
VISIBILITY_SECONDS = 60  # a moving message is hidden from other readers meanwhile


@dataclass
class MoveTask:
    handle: str
    source: Any  # moto Queue
    destination: Any  # moto Queue
    rate: int | None
    to_move: int
    started: int = field(default_factory=lambda: int(time.time() * 1000))
    moved: int = 0
    status: str = "RUNNING"
    failure: str | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Status": self.status,
            "SourceArn": self.source.queue_arn,
            "DestinationArn": self.destination.queue_arn,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started,
        }
        if self.status == "RUNNING":  # as SQS: the handle only while it can be cancelled
            out["TaskHandle"] = self.handle
        if self.rate:
            out["MaxNumberOfMessagesPerSecond"] = self.rate
        if self.failure:
            out["FailureReason"] = self.failure
        return out


def _tasks(backend: Any) -> list[MoveTask]:
    with _lock:
        if not hasattr(backend, "_greenhook_move_tasks"):
            backend._greenhook_move_tasks = []
        return backend._greenhook_move_tasks


def _queue_by_arn(backend: Any, arn: str) -> Any:
    from moto.sqs.exceptions import QueueDoesNotExist

    for queue in list(backend.queues.values()):
        if queue.queue_arn == arn:
            return queue
    raise QueueDoesNotExist()


def _move_one(backend: Any, task: MoveTask, message: Any) -> None:
    fifo = task.destination.fifo_queue
    backend.send_message(
        task.destination.name,
        message.body,
        message_attributes=dict(message.message_attributes or {}),
        group_id=message.group_id if fifo else None,
        deduplication_id=message.id if fifo else None,
    )
    backend.delete_message(task.source.name, message.receipt_handle)
    task.moved += 1


def _run(backend: Any, task: MoveTask) -> None:
    try:
        while not task.cancelled.is_set():
            messages = backend.receive_message(
                task.source.name, 10, 0, VISIBILITY_SECONDS, message_attribute_names=["All"]
            )
            if not messages:
                break
            for n, message in enumerate(messages):
                if task.cancelled.is_set():  # what was not moved is visible again at once
                    for left in messages[n:]:
                        backend.change_message_visibility(
                            task.source.name, left.receipt_handle, visibility_timeout=0
                        )
                    break
                _move_one(backend, task, message)
                if task.rate:
                    task.cancelled.wait(1.0 / task.rate)
        task.status = "CANCELLED" if task.cancelled.is_set() else "COMPLETED"
    except Exception as error:  # a task fails with its reason, as in AWS
        task.failure = f"{type(error).__name__}: {error}"
        task.status = "FAILED"


def start(backend: Any, source_arn: str, destination_arn: str | None, rate: int | None) -> str:
    from moto.sqs.exceptions import InvalidParameterValue

    source = _queue_by_arn(backend, source_arn)
    feeding = backend.list_dead_letter_source_queues(source.name)
    if not feeding:
        raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
    if destination_arn:
        destination = _queue_by_arn(backend, destination_arn)
    elif len(feeding) == 1:
        destination = feeding[0]
    else:
        raise InvalidParameterValue(
            "this emulation needs a DestinationArn when a DLQ has several source queues"
        )
    if destination.fifo_queue != source.fifo_queue:
        raise InvalidParameterValue("The source and destination queues must be the same type.")
    if rate is not None and not 1 <= rate <= 500:
        raise InvalidParameterValue("MaxNumberOfMessagesPerSecond must be between 1 and 500.")
    tasks = _tasks(backend)
    with _lock:
        if any(t.source is source and t.status == "RUNNING" for t in tasks):
            raise InvalidParameterValue("There is already a task running for this queue.")
        task = MoveTask(
            handle=str(uuid.uuid4()),
            source=source,
            destination=destination,
            rate=rate,
            to_move=source.approximate_number_of_messages,
        )
        tasks.append(task)
    threading.Thread(target=_run, args=(backend, task), daemon=True, name="sqs-move").start()
    return task.handle


def listed(backend: Any, source_arn: str, limit: int) -> list[dict[str, Any]]:
    source = _queue_by_arn(backend, source_arn)
    mine = [t for t in _tasks(backend) if t.source is source]
    return [t.result() for t in reversed(mine)][: max(1, min(limit, 10))]


def cancel(backend: Any, handle: str) -> int:
    from moto.sqs.exceptions import InvalidParameterValue

    for task in _tasks(backend):
        if task.handle == handle and task.status == "RUNNING":
            task.status = "CANCELLING"
            task.cancelled.set()
            return task.moved
    raise InvalidParameterValue("Task does not exist or is not running.")


def install() -> None:
    """Add the operations to moto's SQS responses (once per process)."""
    global _installed
    if _installed:
        return
    from moto.core.responses import ActionResult
    from moto.sqs.responses import SQSResponse

    def start_message_move_task(self: Any) -> Any:
        rate = self._get_param("MaxNumberOfMessagesPerSecond")
        handle = start(
            self.sqs_backend,
            self._get_param("SourceArn"),
            self._get_param("DestinationArn"),
            int(rate) if rate is not None else None,
        )
        return ActionResult({"TaskHandle": handle})

    def list_message_move_tasks(self: Any) -> Any:
        limit = int(self._get_param("MaxResults") or 1)
        results = listed(self.sqs_backend, self._get_param("SourceArn"), limit)
        return ActionResult({"Results": results})

    def cancel_message_move_task(self: Any) -> Any:
        moved = cancel(self.sqs_backend, self._get_param("TaskHandle"))
        return ActionResult({"ApproximateNumberOfMessagesMoved": moved})

    SQSResponse.start_message_move_task = start_message_move_task
    SQSResponse.list_message_move_tasks = list_message_move_tasks
    SQSResponse.cancel_message_move_task = cancel_message_move_task
    _installed = True

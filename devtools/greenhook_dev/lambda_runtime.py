"""Run a function's real handler in-process the way Lambda calls it.

Lambda never runs two invocations at once in one execution environment, so handler code
may keep module-level caches that are not thread-safe. `LocalFunction` serialises its
invocations with a lock to give the handler the same guarantee: one warm instance.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from greenhook_dev.template_resources import ACCOUNT_ID, REPO_ROOT, LocalStack

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float  # time.monotonic() at which Lambda would stop the invocation

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def load_module(path: Path, module_name: str) -> ModuleType:
    """Import a file as a module under a name of our choosing (both handlers are app.py)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LocalFunction:
    """One Lambda function: its handler, its limits, and Lambda's one-at-a-time calls."""

    def __init__(
        self,
        name: str,
        handler: Handler,
        *,
        region: str,
        timeout: float = 3,
        memory_mb: int = 128,
    ) -> None:
        self.name = name
        self.handler = handler
        self.region = region
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._lock = threading.Lock()

    @classmethod
    def from_template(cls, stack: LocalStack, logical_id: str) -> LocalFunction:
        """Load the handler named by the template (CodeUri + Handler) from its file."""
        props = stack.function_properties(logical_id)
        module_file, _, attribute = props["Handler"].rpartition(".")
        code_dir = REPO_ROOT / props["CodeUri"]
        path = code_dir / f"{module_file.replace('.', '/')}.py"
        # As on Lambda (/var/task), the function's directory is importable: modules a user
        # ships next to the handler (ExtraHandlerModules) load from there.
        if str(code_dir) not in sys.path:
            sys.path.append(str(code_dir))
        module = load_module(path, f"greenhook_local_{logical_id.lower()}_{module_file}")
        return cls(
            f"{stack.stack_name}-{logical_id}",
            getattr(module, attribute),
            region=stack.region,
            timeout=float(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
        )

    def context(self) -> LambdaContext:
        return LambdaContext(
            function_name=self.name,
            function_version="$LATEST",
            invoked_function_arn=f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.name}",
            memory_limit_in_mb=self.memory_mb,
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{self.name}",
            log_stream_name=time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
            deadline=time.monotonic() + self.timeout,
        )

    def __call__(self, event: Any) -> Any:
        """Invoke the handler with `event` and a fresh context; exceptions propagate.

        A call that outlives the function's Timeout is not stopped (a thread cannot be),
        but it is logged: in Lambda it would have failed.
        """
        with self._lock:
            started = time.monotonic()
            try:
                return self.handler(event, self.context())
            finally:
                elapsed = time.monotonic() - started
                if elapsed > self.timeout:
                    log.warning(
                        "%s ran %.1f s, over its Timeout of %.0f s: Lambda would have stopped it",
                        self.name,
                        elapsed,
                        self.timeout,
                    )


def cold_start() -> None:
    """Forget greenhook's cached configuration, clients and token, as a new instance would.

    In-process handlers keep their warm state between stacks and tests; call this whenever
    the environment they read changes.
    """
    from aws_lambda_powertools.utilities import parameters

    from greenhook import config, ingest, process, publish

    config.ingest_config.cache_clear()
    config.process_config.cache_clear()
    config.publish_config.cache_clear()
    config.monitor_config.cache_clear()
    config.rotation_config.cache_clear()
    publish._publisher.cache_clear()
    ingest._client.cache_clear()
    ingest._secrets.cache_clear()
    process._pool.cache_clear()
    process._archive.cache_clear()
    process._payloads.cache_clear()
    parameters.clear_caches()

"""The one Logger and Metrics of greenhook, configured by POWERTOOLS_* variables, and lean.

Every byte logged is billed (CloudWatch Logs ingestion), so:
  * a line carries the request id, not the function's name, ARN and memory (the log group
    and stream say those) nor the source location;
  * a handler's metrics are flushed once, and not at all when there are none (Powertools
    would otherwise print an empty document's warning);
  * ingest's one line per webhook is also that webhook's metric (`log_metric`): CloudWatch
    takes metrics from any line in the embedded metric format, so no second line is needed.
Lambda's own START/END/REPORT lines are dropped by the template (LoggingConfig
SystemLogLevel WARN); Lambda's metrics (duration, errors) do not need them.

No Tracer: the X-Ray SDK costs hundreds of milliseconds of cold start; the functions use
Lambda's active tracing when the Tracing parameter turns it on.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
logger.remove_keys(["location"])
metrics = Metrics()

__all__ = ["MetricUnit", "lambda_handler", "log_metric", "logger", "metrics"]


def lambda_handler(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A function's entry point with lean logging state and its metrics flushed once."""

    @functools.wraps(handler)
    def wrapped(event: Any, context: Any) -> Any:
        logger.clear_state()
        logger.append_keys(request_id=getattr(context, "aws_request_id", None))
        try:
            return handler(event, context)
        finally:
            if metrics.metric_set:
                metrics.flush_metrics()

    return wrapped


def log_metric(level: str, message: str, metric: str, **fields: Any) -> None:
    """One log line that is also an embedded-metric-format document counting `metric` once
    (dimension: the service, as Powertools' own metrics)."""
    document = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": metrics.namespace,
                    "Dimensions": [["service"]],
                    "Metrics": [{"Name": metric, "Unit": MetricUnit.Count.value}],
                }
            ],
        },
        metric: 1,
    }
    getattr(logger, level)(message, extra={**fields, **document})

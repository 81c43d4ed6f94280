"""The one Logger and Metrics of greenhook, configured by POWERTOOLS_* variables.

No Tracer: the X-Ray SDK costs hundreds of milliseconds of cold start; the functions use
Lambda's active tracing instead (Tracing: Active in the template).
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()

__all__ = ["MetricUnit", "logger", "metrics"]

"""Ingest Lambda: API Gateway HTTP API -> checks -> SQS FIFO. Logic lives in greenhook.ingest."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from greenhook.ingest import handle
from greenhook.observability import lambda_handler as entry_point


@entry_point
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(event)

"""Publish Lambda: the table's stream -> business events on the bus (greenhook.publish)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from greenhook.observability import logger, metrics
from greenhook.publish import handle


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(event, context)

"""Process Lambda: SQS FIFO batch -> archive, validate, dispatch, store (greenhook.process)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from greenhook.observability import logger, metrics
from greenhook.process import handle


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(event, context)

"""Process Lambda: SQS FIFO batch -> archive, validate, dispatch, store (greenhook.process)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from greenhook.observability import lambda_handler as entry_point
from greenhook.process import handle


@entry_point
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(event, context)

"""Monitor Lambda: the scheduled check of the GREEN-API instance (greenhook.monitor)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from greenhook.monitor import handle
from greenhook.observability import lambda_handler as entry_point


@entry_point
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(event, context)

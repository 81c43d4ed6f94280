"""Publish Lambda: the table's stream -> business events on the bus (greenhook.publish)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from greenhook.observability import lambda_handler as entry_point
from greenhook.publish import handle


@entry_point
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(event, context)

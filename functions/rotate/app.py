"""Rotate Lambda: one step of the TokenRotation state machine (greenhook.rotation)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from greenhook.observability import lambda_handler as entry_point
from greenhook.rotation import handle


@entry_point
def lambda_handler(event: dict, context: LambdaContext) -> Any:
    return handle(event, context)

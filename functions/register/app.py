"""Register Lambda: the GreenApiRegistration custom resource (greenhook.deploy_hook)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from greenhook import custom_resource, deploy_hook
from greenhook.observability import lambda_handler as entry_point


@entry_point
def lambda_handler(event: dict, context: LambdaContext) -> None:
    custom_resource.handle(
        event,
        context.get_remaining_time_in_millis() / 1000,
        on_create_update=deploy_hook.on_create_update,
        on_delete=deploy_hook.on_delete,
    )

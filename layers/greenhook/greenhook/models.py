"""Typed GREEN-API webhooks (pydantic v2), with GREEN-API's own field names.

Parsing picks the model by `typeWebhook` from WEBHOOK_MODELS (a dict, the discriminator);
a type without a model parses into UnknownWebhook, so nothing is ever rejected for being
new. Unknown fields are kept (extra="allow").
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GreenApiModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class InstanceData(GreenApiModel):
    # int64: ids above 2**31 exist (7103220992); JSON strings of digits are accepted too.
    idInstance: int
    wid: str = ""  # empty before the instance is authorized
    typeInstance: str = "whatsapp"


class Webhook(GreenApiModel):
    """What every notification has."""

    typeWebhook: str
    instanceData: InstanceData
    timestamp: int | None = None  # seconds; absent on some quotaExceeded examples


class UnknownWebhook(Webhook):
    """A typeWebhook greenhook has no model for yet: kept as it is."""


class StateInstanceChanged(Webhook):
    typeWebhook: Literal["stateInstanceChanged"]
    timestamp: int
    # authorized, notAuthorized, blocked, sleepMode, starting, yellowCard, suspended, ...
    stateInstance: str = Field(min_length=1)


WEBHOOK_MODELS: dict[str, type[Webhook]] = {
    "stateInstanceChanged": StateInstanceChanged,
}


def parse_webhook(document: dict) -> Webhook:
    """Validate a webhook into its model; raises pydantic.ValidationError if it does not fit."""
    model = WEBHOOK_MODELS.get(document.get("typeWebhook"), UnknownWebhook)
    return model.model_validate(document)

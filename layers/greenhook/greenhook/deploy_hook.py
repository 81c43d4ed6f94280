"""The deploy hook: the GreenApiRegistration custom resource's Create/Update/Delete.

Resource properties (template.yaml): WebhookUrl, TokenSecretArn, CredentialsSecretArn,
StateSecretArn, Settings (webhook switch -> "yes"/"no"). At Create, the endpoint the
instance had before is kept in the state secret, and Delete puts it back.
"""

from __future__ import annotations

import time

from greenhook.custom_resource import Result
from greenhook.greenapi import Credentials, GreenApiClient
from greenhook.register import Registration, register, unregister
from greenhook.storage import SecretDocuments
from greenhook.tokens import tokens_from_secret

PHYSICAL_PREFIX = "greenhook-registration-"


def _client(props: dict, secrets: SecretDocuments) -> GreenApiClient:
    return GreenApiClient(Credentials.from_document(secrets.read(props["CredentialsSecretArn"])))


def remember_previous(
    secrets: SecretDocuments, state_secret: str, id_instance: int, previous: dict, own_url: str
) -> None:
    """Keep the instance's endpoint from before greenhook, once (the first Create wins)."""
    state = secrets.read(state_secret)
    key = str(id_instance)
    if key in state or previous.get("webhookUrl") == own_url:
        return
    secrets.write(state_secret, {**state, key: previous})


def on_create_update(event: dict, budget_seconds: float) -> Result:
    props = event["ResourceProperties"]
    secrets = SecretDocuments()
    client = _client(props, secrets)
    token = tokens_from_secret(secrets.read_text(props["TokenSecretArn"]))[0]
    registration = Registration(props["WebhookUrl"], token, dict(props.get("Settings") or {}))
    outcome = register(client, registration, deadline=time.monotonic() + budget_seconds)
    id_instance = client.credentials.id_instance
    remember_previous(
        secrets, props["StateSecretArn"], id_instance, outcome.previous, props["WebhookUrl"]
    )
    return Result(
        physical_resource_id=f"{PHYSICAL_PREFIX}{id_instance}",
        data={"IdInstance": str(id_instance), "Changed": str(outcome.changed).lower()},
        reason="settings updated and confirmed"
        if outcome.changed
        else "settings already up to date",
    )


def on_delete(event: dict, budget_seconds: float) -> Result:
    physical_id = event.get("PhysicalResourceId", "")
    if not physical_id.startswith(PHYSICAL_PREFIX):
        return Result(physical_id, reason="nothing was registered")
    props = event["ResourceProperties"]
    secrets = SecretDocuments()
    client = _client(props, secrets)
    registered = physical_id.removeprefix(PHYSICAL_PREFIX)
    if str(client.credentials.id_instance) != registered:
        return Result(
            physical_id, reason=f"credentials now name another instance; {registered} left as is"
        )
    previous = secrets.read(props["StateSecretArn"]).get(registered)
    restored = unregister(client, props["WebhookUrl"], previous)
    if restored is None:
        reason = "the instance's webhookUrl had been changed since; left as is"
    elif restored["webhookUrl"]:
        reason = "restored the previous webhookUrl"
    else:
        reason = "cleared webhookUrl"
    return Result(physical_id, reason=reason)

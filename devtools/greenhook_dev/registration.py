"""`greenhook register / settings / rotate-token / unregister`: the deploy hook's code, by hand.

A `Target` is what the GreenApiRegistration custom resource gets as properties (webhook URL,
secret ARNs, webhook switches), read from the local stack's stack.json or from a deployed
stack's outputs and parameters. The operations call the same greenhook.register code.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from greenhook.deploy_hook import remember_previous
from greenhook.greenapi import Credentials, GreenApiClient
from greenhook.register import (
    Outcome,
    Registration,
    differences,
    mask,
    register,
    unregister,
)
from greenhook.storage import SecretDocuments
from greenhook.tokens import tokens_from_secret
from greenhook_dev.template_resources import load_template

TOKEN_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Target:
    """One stack's registration: the custom resource's properties, plus token cache age."""

    properties: dict[str, Any]
    token_cache_seconds: float = 300

    @property
    def webhook_url(self) -> str:
        return self.properties["WebhookUrl"]

    @classmethod
    def from_deployed_stack(cls, cloudformation: Any, stack_name: str) -> Target:
        """From `describe-stacks`: outputs for the ARNs, parameters for the switches."""
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in stack["Parameters"]}
        if "GreenApiCredentialsSecretArn" not in outputs:
            raise ValueError(
                f"stack {stack_name} has no GREEN-API credentials: deploy it with "
                "GreenApiIdInstance/GreenApiTokenInstance or GreenApiCredentialsSecretArn"
            )
        switches = load_template()["Resources"]["GreenApiRegistration"]["Properties"]["Settings"]
        return cls(
            {
                "WebhookUrl": outputs["WebhookUrl"],
                "TokenSecretArn": outputs["TokenSecretArn"],
                "CredentialsSecretArn": outputs["GreenApiCredentialsSecretArn"],
                "StateSecretArn": outputs["RegistrationStateSecretArn"],
                "Settings": {name: parameters[ref["Ref"]] for name, ref in switches.items()},
            }
        )


class Operations:
    """What the commands do, given a target and a Secrets Manager client."""

    def __init__(self, target: Target, secrets_client: Any = None) -> None:
        self.target = target
        self.secrets = SecretDocuments(secrets_client)

    def client(self) -> GreenApiClient:
        credentials = self.secrets.read(self.target.properties["CredentialsSecretArn"])
        return GreenApiClient(Credentials.from_document(credentials))

    def tokens(self) -> tuple[str, ...]:
        return tokens_from_secret(self.secrets.read_text(self.target.properties["TokenSecretArn"]))

    def registration(self) -> Registration:
        props = self.target.properties
        return Registration(props["WebhookUrl"], self.tokens()[0], dict(props.get("Settings", {})))

    def register(
        self, wait_seconds: float = 600, progress: Callable[[str], None] = lambda _: None
    ) -> Outcome:
        client = self.client()
        outcome = register(
            client,
            self.registration(),
            deadline=time.monotonic() + wait_seconds,
            progress=progress,
        )
        remember_previous(
            self.secrets,
            self.target.properties["StateSecretArn"],
            client.credentials.id_instance,
            outcome.previous,
            self.target.webhook_url,
        )
        return outcome

    def settings(self) -> dict[str, Any]:
        """GetSettings (token masked) and what differs from what the stack expects."""
        current = self.client().get_settings()
        expected = self.registration().desired()
        differ = {
            key: {"current": mask(key, current.get(key)), "expected": mask(key, value)}
            for key, value in differences(current, expected).items()
        }
        shown = {k: mask(k, v) for k, v in current.items()}
        return {"settings": shown, "differences": differ}

    def unregister(self) -> dict | None:
        client = self.client()
        state = self.secrets.read(self.target.properties["StateSecretArn"])
        previous = state.get(str(client.credentials.id_instance))
        return unregister(client, self.target.webhook_url, previous)

    def rotate_token(
        self,
        *,
        propagation_seconds: float | None = None,
        grace_seconds: float = 120,
        wait_seconds: float = 600,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str], None] = lambda _: None,
    ) -> str:
        """Replace the webhook token without a moment where a webhook would be rejected.

        1. the secret holds the new token and keeps the old one (ingest accepts both);
        2. wait until every ingest instance's token cache has expired, so all know the new;
        3. SetSettings with the new token and wait until GetSettings shows it;
        4. wait a grace period for deliveries already under way with the old token;
        5. retire the old token. Returns the new token.
        A failure before 5 leaves both tokens accepted: run the command again.
        """
        secret_arn = self.target.properties["TokenSecretArn"]
        old = self.tokens()[0]
        new = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(48))
        self.secrets.write(secret_arn, {"token": new, "previous_token": old})
        progress("new token stored; the old one is still accepted")
        wait = (
            self.target.token_cache_seconds if propagation_seconds is None else propagation_seconds
        )
        sleep(wait)
        progress(f"waited {wait:g} s for ingest's token cache; registering the new token")
        self.register(wait_seconds, progress=progress)
        progress(f"GREEN-API sends the new token; grace period {grace_seconds:g} s")
        sleep(grace_seconds)
        self.secrets.write(secret_arn, {"token": new})
        progress("old token retired")
        return new


__all__ = ["Operations", "Target", "mask"]

"""Webhook token rotation, one step per call: the tasks of the TokenRotation state machine.

The machine (template.yaml, Step Functions Standard) runs

    StoreNewToken -> WaitForTokenCaches -> Register -> Confirm <-> WaitBeforeConfirming
        -> GracePeriod -> RetireOldToken

Its waits are Wait states, which cost nothing and hold no function: ingest's token cache
must expire so every ingest instance accepts the new token before GREEN-API sends it, and
deliveries already under way with the old token get a grace period. No function sleeps.

Every step's input and output is kept in the execution's history, so none carries a token:
the new token exists only in the secret, and the steps name it by `token_id` (a prefix of
its SHA-256). A step refuses to act for a token the secret no longer holds (another rotation
replaced it). Until the last step the secret holds the new token and the old one, so ingest
accepts both: a step that fails leaves both valid (the machine's Catch ends it in
RotationFailed, which TokenRotationFailedAlarm reports), and starting again is safe.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from greenhook.config import RegistrationConfig, rotation_config
from greenhook.greenapi import Credentials, GreenApiClient, GreenApiError
from greenhook.observability import logger
from greenhook.register import InstanceNotAuthorized, Registration, differences
from greenhook.storage import SecretDocuments
from greenhook.tokens import tokens_from_secret

TOKEN_ALPHABET = string.ascii_letters + string.digits
TOKEN_LENGTH = 48
TOKEN_FIELD = "webhookUrlToken"  # noqa: S105  (a settings field name)


class RotationError(GreenApiError):
    """A step cannot go on; its class name is the state machine's error name."""


class UnknownWebhookToken(RotationError):
    """GREEN-API sends a token ingest does not accept: rotating would not fix that."""


class TokenReplaced(RotationError):
    """The secret no longer holds this rotation's token: another rotation replaced it."""


class NotConfirmed(RotationError):
    """getSettings did not show the new token within the confirmation attempts."""


def new_token() -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


def token_id(token: str) -> str:
    """How steps name a token without carrying it: 16 hex digits of its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def default_input(token_cache_seconds: int) -> dict[str, int]:
    """An execution's input: how long each wait is. template.yaml's schedule sends this for
    ingest's 300 s cache (a test keeps them equal); `greenhook rotate-token` builds it."""
    return {
        # every cache expired, with a margin (whole seconds: a Wait state's unit)
        "cache_seconds": token_cache_seconds + max(1, math.ceil(token_cache_seconds / 30)),
        "grace_seconds": 120,  # deliveries already under way with the old token
        "confirm_every_seconds": 15,
        "confirm_attempts": 40,  # 10 minutes for GREEN-API to show the new settings
    }


@dataclass
class Rotation:
    client: GreenApiClient
    secrets: SecretDocuments
    token_secret_arn: str
    webhook_url: str
    switches: dict[str, str]
    generate: Callable[[], str] = new_token

    def _tokens(self) -> tuple[str, ...]:
        return tokens_from_secret(self.secrets.read_text(self.token_secret_arn))

    def _rotating(self, wanted_id: str) -> str:
        """The secret's current token, if it is this rotation's new one."""
        token = self._tokens()[0]
        if not hmac.compare_digest(token_id(token), str(wanted_id)):
            raise TokenReplaced(
                "the token secret no longer holds this rotation's token (another rotation "
                "replaced it); nothing changed here"
            )
        return token

    def store_new_token(self) -> dict:
        """A new token in the secret, next to the one GREEN-API sends now."""
        accepted = self._tokens()
        sent = str(self.client.get_settings().get(TOKEN_FIELD) or "")
        current = next((t for t in accepted if hmac.compare_digest(t, sent)), None)
        if current is None:
            raise UnknownWebhookToken(
                "GREEN-API sends a webhook token ingest does not accept: register the "
                "stack's token first (`greenhook register`, or the monitor's AutoHeal)"
            )
        token = self.generate()
        self.secrets.write(self.token_secret_arn, {"token": token, "previous_token": current})
        return {"token_id": token_id(token)}

    def register(self, rotation_token_id: str) -> dict:
        """setSettings with the new token (and whatever else differs); no waiting here."""
        token = self._rotating(rotation_token_id)
        state = self.client.get_state_instance()
        if state != "authorized":
            raise InstanceNotAuthorized(
                f"the GREEN-API instance is {state!r}, not 'authorized': GREEN-API refuses "
                "settings until it is linked to a phone again"
            )
        desired = Registration(self.webhook_url, token, dict(self.switches)).desired()
        changes = differences(self.client.get_settings(), desired)
        if changes:
            self.client.set_settings(changes)
        return {"changed": sorted(changes)}  # field names only

    def confirm(self, rotation_token_id: str, attempt: int, attempts: int) -> dict:
        """Does getSettings show the new token yet? NotConfirmed after `attempts` looks."""
        token = self._rotating(rotation_token_id)
        try:
            shown = str(self.client.get_settings().get(TOKEN_FIELD) or "")
        except GreenApiError as error:
            if error.status in (401, 403):
                raise
            shown = ""  # the instance reboots after setSettings: look again
        confirmed = hmac.compare_digest(shown, token)
        if not confirmed and attempt + 1 >= attempts:
            raise NotConfirmed(
                f"GREEN-API did not show the new token after {attempts} looks; both tokens "
                "stay accepted: check `greenhook settings`, then rotate again"
            )
        return {"confirmed": confirmed, "attempt": attempt + 1}

    def retire_old_token(self, rotation_token_id: str) -> dict:
        """Only the new token is accepted from now on."""
        token = self._rotating(rotation_token_id)
        self.secrets.write(self.token_secret_arn, {"token": token})
        return {"retired": True}


def from_config(config: RegistrationConfig, secrets_: SecretDocuments | None = None) -> Rotation:
    secrets_ = secrets_ or SecretDocuments()
    credentials = Credentials.from_document(secrets_.read(config.credentials_secret_arn))
    return Rotation(
        client=GreenApiClient(credentials, min_interval=1.0),
        secrets=secrets_,
        token_secret_arn=config.token_secret_arn,
        webhook_url=config.webhook_url,
        switches=dict(config.switches),
    )


def handle(event: dict, context: object) -> Any:
    """One step, named by the state machine's task: {"step": ..., and its arguments}."""
    rotation = from_config(rotation_config())
    step = event.get("step")
    if step == "store_new_token":
        result = rotation.store_new_token()
    elif step == "register":
        result = rotation.register(event["token_id"])
    elif step == "confirm":
        result = rotation.confirm(event["token_id"], int(event["attempt"]), int(event["attempts"]))
    elif step == "retire_old_token":
        result = rotation.retire_old_token(event["token_id"])
    else:
        raise ValueError(f"unknown rotation step {step!r}")
    logger.info("token rotation step", extra={"step": step, **result})  # no token in it
    return result

"""`greenhook register / settings / rotate-token / unregister`: the deploy hook's code, by hand.

A `Target` is what the GreenApiRegistration custom resource gets as properties (webhook URL,
secret ARNs, webhook switches), read from the local stack's stack.json or from a deployed
stack's outputs and parameters. The operations call the same greenhook.register code;
a rotation is an execution of the stack's TokenRotation state machine (greenhook.rotation),
on AWS or on the local stack's moto, started and followed here.
"""

from __future__ import annotations

import contextlib
import json
import math
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
from greenhook.rotation import default_input
from greenhook.storage import SecretDocuments
from greenhook.tokens import tokens_from_secret
from greenhook_dev.template_resources import load_template

FAILED_STATE = "RotationFailed"  # the state machine's Catch-all (template.yaml)


@dataclass(frozen=True)
class Target:
    """One stack's registration: the custom resource's properties, plus token cache age."""

    properties: dict[str, Any]
    token_cache_seconds: float = 300
    token_rotation_arn: str | None = None  # the TokenRotation state machine

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
            },
            token_rotation_arn=outputs.get("TokenRotationStateMachineArn"),
        )


class Operations:
    """What the commands do, given a target and a Secrets Manager client."""

    def __init__(
        self, target: Target, secrets_client: Any = None, stepfunctions_client: Any = None
    ) -> None:
        self.target = target
        self.secrets = SecretDocuments(secrets_client)
        self.stepfunctions = stepfunctions_client

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

    def start_rotation(
        self,
        *,
        cache_seconds: float | None = None,
        grace_seconds: float | None = None,
        confirm_every_seconds: float | None = None,
        confirm_attempts: int | None = None,
    ) -> str:
        """Start an execution of the TokenRotation state machine; its ARN. The waits default
        to the stack's token cache age (plus a margin) and greenhook.rotation's defaults."""
        if not self.target.token_rotation_arn:
            raise ValueError(
                "this stack has no TokenRotation state machine: deploy the current template"
            )
        document = default_input(int(self.target.token_cache_seconds))
        for key, value in (
            ("cache_seconds", cache_seconds),
            ("grace_seconds", grace_seconds),
            ("confirm_every_seconds", confirm_every_seconds),
        ):
            if value is not None:
                document[key] = max(1, math.ceil(value))  # Wait states take whole seconds
        if confirm_attempts is not None:
            document["confirm_attempts"] = confirm_attempts
        started = self.stepfunctions.start_execution(
            stateMachineArn=self.target.token_rotation_arn, input=json.dumps(document)
        )
        return started["executionArn"]

    def states_entered(self, execution_arn: str) -> list[tuple[str, dict]]:
        """The states the execution entered, newest first, with each one's input."""
        events = self.stepfunctions.get_execution_history(
            executionArn=execution_arn, reverseOrder=True, maxResults=50
        )["events"]
        events.sort(key=lambda e: e["id"], reverse=True)  # moto ignores reverseOrder
        return [
            (details.get("name"), json.loads(details.get("input") or "{}"))
            for event in events
            if (details := event.get("stateEnteredEventDetails"))
        ]

    def follow_rotation(
        self,
        execution_arn: str,
        *,
        interval: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str, float], None] = lambda step, seconds: None,
    ) -> dict:
        """Poll the execution until it ends, telling `progress` the state it is in and the
        seconds so far; describe_execution's answer, with `failure` (the failed step, its
        error and message) when it failed."""
        started = time.monotonic()
        while True:
            execution = self.stepfunctions.describe_execution(executionArn=execution_arn)
            if execution["status"] != "RUNNING":
                break
            entered = self.states_entered(execution_arn)
            progress(entered[0][0] if entered else "starting", time.monotonic() - started)
            sleep(interval)
        if execution["status"] == "FAILED":
            execution["failure"] = self.rotation_failure(execution_arn)
        return execution

    def rotation_failure(self, execution_arn: str) -> dict:
        """Which step failed and why, from the Catch's `error` on RotationFailed's input."""
        entered = self.states_entered(execution_arn)
        names = [name for name, _ in entered]
        if FAILED_STATE not in names:
            return {"state": names[0] if names else None, "error": None, "message": ""}
        at = names.index(FAILED_STATE)
        error = entered[at][1].get("error") or {}
        message = error.get("Cause") or ""
        with contextlib.suppress(ValueError, AttributeError):  # a Lambda error's JSON document
            message = json.loads(message).get("errorMessage", message)
        step = names[at + 1] if at + 1 < len(names) else None
        return {"state": step, "error": error.get("Error"), "message": message}


__all__ = ["FAILED_STATE", "Operations", "Target", "mask"]

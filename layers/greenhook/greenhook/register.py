"""Registering greenhook's endpoint with a GREEN-API instance (the deploy hook's logic).

Read the settings first, change only what differs (every setSettings reboots the instance
and is limited to one a second), then confirm with getSettings until the new values show,
which can take minutes. Used by the CloudFormation custom resource, `greenhook register`
and the local stack alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from greenhook.greenapi import WEBHOOK_SWITCHES, GreenApiClient, GreenApiError

ENDPOINT_FIELDS = ("webhookUrl", "webhookUrlToken")


class InstanceNotAuthorized(GreenApiError):
    """The instance is not linked to a phone (scan the QR code in the GREEN-API console)."""


class NotApplied(GreenApiError):
    """setSettings was saved but getSettings did not show the values before the deadline."""


@dataclass(frozen=True)
class Registration:
    """What greenhook wants the instance's settings to be."""

    webhook_url: str
    # The bare token: GREEN-API sends it as the Authorization header (ingest accepts it bare
    # or with a Bearer/Basic scheme), so no scheme is added here.
    webhook_token: str
    switches: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.switches) - set(WEBHOOK_SWITCHES)
        if unknown:
            raise ValueError(f"unknown webhook switches: {sorted(unknown)}")
        bad = {k: v for k, v in self.switches.items() if v not in ("yes", "no")}
        if bad:
            raise ValueError(f"webhook switches must be 'yes' or 'no': {sorted(bad)}")

    def desired(self) -> dict[str, str]:
        return {
            "webhookUrl": self.webhook_url,
            "webhookUrlToken": self.webhook_token,
            **self.switches,
        }


def differences(current: dict, desired: dict) -> dict:
    """The desired fields whose current value differs."""
    return {k: v for k, v in desired.items() if current.get(k) != v}


def mask(key: str, value: object) -> object:
    """Hide secrets in settings output: tokens show their length only."""
    if key.lower().endswith("token") and isinstance(value, str) and value:
        return f"***({len(value)} chars)"
    return value


def endpoint_of(settings: dict) -> dict[str, str]:
    """The webhookUrl and webhookUrlToken in a getSettings answer."""
    return {k: str(settings.get(k) or "") for k in ENDPOINT_FIELDS}


@dataclass(frozen=True)
class Outcome:
    changed: bool
    previous: dict[str, str]  # webhookUrl/webhookUrlToken before this call
    settings: dict  # getSettings after


Clock = Callable[[], float]
Sleep = Callable[[float], None]
Progress = Callable[[str], None]


def wait_until_applied(
    client: GreenApiClient,
    desired: dict,
    *,
    deadline: float,
    poll: float = 5.0,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
    progress: Progress = lambda _: None,
) -> dict:
    """Poll getSettings (with growing pauses) until `desired` shows, or raise NotApplied.
    `progress` is told what is still awaited before each pause."""
    wait = poll
    started = clock()
    while True:
        try:
            current = client.get_settings()
            missing = differences(current, desired)
        except GreenApiError as error:
            if isinstance(error, InstanceNotAuthorized) or error.status in (401, 403):
                raise
            missing = {"(getSettings failed while the instance reboots)": str(error)}
        if not missing:
            return current
        if clock() + wait > deadline:
            raise NotApplied(
                "GREEN-API saved the settings but still shows old values for "
                f"{sorted(missing)}; they may apply within minutes: check `greenhook settings`"
            )
        progress(
            f"waiting for GREEN-API to show {', '.join(sorted(missing))} "
            f"({clock() - started:.0f} s so far; each setSettings reboots the instance)"
        )
        sleep(wait)
        wait = min(wait * 1.5, 30.0)


def register(
    client: GreenApiClient,
    registration: Registration,
    *,
    deadline: float,
    poll: float = 5.0,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
    progress: Progress = lambda _: None,
) -> Outcome:
    """Make the instance's settings match `registration`; returns what it changed."""
    state = client.get_state_instance()
    if state != "authorized":
        raise InstanceNotAuthorized(
            f"the GREEN-API instance is {state!r}, not 'authorized': link it to a phone "
            "(QR code in the GREEN-API console), then deploy again"
        )
    current = client.get_settings()
    desired = registration.desired()
    changes = differences(current, desired)
    if not changes:
        return Outcome(False, endpoint_of(current), current)
    client.set_settings(changes)
    progress(f"setSettings sent: {', '.join(sorted(changes))}")
    after = wait_until_applied(
        client, desired, deadline=deadline, poll=poll, clock=clock, sleep=sleep, progress=progress
    )
    return Outcome(True, endpoint_of(current), after)


def unregister(client: GreenApiClient, own_url: str, previous: dict | None) -> dict | None:
    """Put back the endpoint that was there before greenhook (or clear it).

    Only if the instance still points at `own_url`: a URL someone set since is left alone.
    Returns the settings written, or None when nothing was changed.
    """
    current = client.get_settings()
    if current.get("webhookUrl") != own_url:
        return None
    restore = endpoint_of(previous or {})
    if restore["webhookUrl"] == own_url:
        restore = {"webhookUrl": "", "webhookUrlToken": ""}
    client.set_settings(restore)
    return restore

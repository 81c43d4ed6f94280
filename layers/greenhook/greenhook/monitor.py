"""The instance monitor: is the GREEN-API instance authorized, and does it still send to us?

Run on a schedule (EventBridge Scheduler, template.yaml). Each check reads getStateInstance
and getSettings and compares the settings with what the stack registers (URL, every webhook
switch, and the token: accepted if it is any token ingest accepts now, compared by hash,
so a rotation under way is not drift). The finding goes on the instance item (`greenhook
instance` shows it) and into metrics for the alarms. With auto-heal on, drifted settings
are registered again through the deploy hook's own code, at most once per `heal_every`
(every setSettings reboots the instance) and never while the instance is not authorized
(GREEN-API refuses settings then, and a QR scan is what it needs). Nothing here logs or
stores a token: drift shows a token's length only (greenhook.register.mask).

After a gap (no webhook, and no backfill, for `backfill_after` seconds) a check of an
authorized instance also backfills from GREEN-API's journals (greenhook.backfill) the window
since the newest webhook or backfill: what GREEN-API gave up delivering meanwhile is stored.
A quiet instance costs two journal requests per gap length; the first check only starts the
watch (`backfilled_to`), so a new stack does not import a day of history.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from greenhook.backfill import JOURNAL_LAG_MINUTES, MAX_MINUTES, Backfill
from greenhook.config import MonitorConfig, monitor_config
from greenhook.greenapi import Credentials, GreenApiClient, GreenApiError
from greenhook.observability import MetricUnit, logger, metrics
from greenhook.register import NotApplied, Registration, mask, register
from greenhook.storage import Payloads, SecretDocuments, Storage
from greenhook.tokens import tokens_from_secret

AUTHORIZED = "authorized"
HEALED = "re-registered"
TOKEN_FIELD = "webhookUrlToken"  # noqa: S105  (a settings field name)


def _digest(token: object) -> bytes:
    return hashlib.sha256(str(token or "").encode()).digest()


def drift(current: dict, registration: Registration, accepted_tokens: Iterable[str]) -> dict:
    """The registered fields GREEN-API shows otherwise: {field: {current, expected}}, masked."""
    expected = registration.desired()
    found = {}
    for key, value in expected.items():
        if key == TOKEN_FIELD:
            shown = _digest(current.get(key))
            if any(hmac.compare_digest(shown, _digest(t)) for t in accepted_tokens):
                continue
        elif current.get(key) == value:
            continue
        found[key] = {"current": mask(key, current.get(key)), "expected": mask(key, value)}
    return found


@dataclass(frozen=True)
class Finding:
    """One check of one instance."""

    id_instance: int
    checked_at: int  # unix seconds
    state_instance: str | None
    drift: dict = field(default_factory=dict)
    heal: str | None = None  # what auto-heal did, when there was drift
    error: str | None = None  # GREEN-API could not be asked (no token in it)
    backfill: dict | None = None  # what a backfill after a gap found (Outcome.counts)
    backfilled_to: int | None = None  # journals read up to here (unix seconds)

    @property
    def authorized(self) -> bool:
        return self.state_instance == AUTHORIZED

    @property
    def healed(self) -> bool:
        return bool(self.heal and self.heal.startswith(HEALED))

    def as_item(self) -> dict:
        return {
            "checked_at": self.checked_at,
            "state_instance": self.state_instance,
            "authorized": self.authorized,
            "drift": self.drift,
            "heal": self.heal,
            "error": self.error,
            "backfill": self.backfill,
            "backfilled_to": self.backfilled_to,
        }


@dataclass
class Monitor:
    client: GreenApiClient
    registration: Registration
    accepted_tokens: tuple[str, ...]
    storage: Storage
    auto_heal: bool = False
    heal_every: int = 3600
    heal_wait_seconds: float = 120.0  # how long a heal waits for getSettings to show it
    backfill_after: int = 0  # seconds without webhook or backfill before one (0: never)
    clock: Callable[[], float] = time.time

    def check(self) -> Finding:
        """Look once, record what was found, heal if allowed, backfill after a gap."""
        id_instance = self.client.credentials.id_instance
        now = int(self.clock())
        previous = self.storage.get_instance(id_instance) if self.backfill_after else None
        backfilled_to = ((previous or {}).get("monitor") or {}).get("backfilled_to")
        try:
            state = self.client.get_state_instance()
            current = self.client.get_settings()
        except GreenApiError as error:
            finding = Finding(id_instance, now, None, error=str(error), backfilled_to=backfilled_to)
        else:
            found = drift(current, self.registration, self.accepted_tokens)
            heal = self._heal(found, state, now)
            since = (previous or {}).get("last_webhook_at"), backfilled_to
            backfill, backfilled_to = self._backfill(state, current, now, since)
            finding = Finding(
                id_instance,
                now,
                state,
                found,
                heal,
                backfill=backfill,
                backfilled_to=backfilled_to,
            )
        self.storage.put_monitor(id_instance, now, finding.as_item())
        return finding

    def _backfill(
        self, state: str | None, current: dict, now: int, marks: tuple[object, object]
    ) -> tuple[dict | None, int | None]:
        """(what a backfill found, or None if none ran; where the journals were read to).
        `marks`: the newest webhook's minute and where the last backfill read to."""
        if not self.backfill_after:
            return None, None
        backfilled_to = marks[1] if isinstance(marks[1], int) else None
        if state != AUTHORIZED:
            return None, backfilled_to  # after the QR scan: the gap is still there to fill
        known = [mark for mark in marks if isinstance(mark, int)]
        if not known:
            return None, now  # the first look: watch from here on
        since = max(known)
        if now - since < self.backfill_after:
            return None, backfilled_to
        minutes = min(MAX_MINUTES, math.ceil((now - since) / 60) + JOURNAL_LAG_MINUTES)
        wid = str(current.get("wid") or "")
        try:
            outcome = Backfill(self.client, self.storage, wid).run(minutes)
        except GreenApiError as error:
            return {"minutes": minutes, "error": str(error)}, backfilled_to  # the next check
        return outcome.counts(), now

    def _heal(self, found: dict, state: str | None, now: int) -> str | None:
        if not found:
            return None
        if not self.auto_heal:
            return "auto-heal is off"
        if state != AUTHORIZED:
            return f"not healed: the instance is {state!r}, not authorized"
        if not self.storage.claim_heal(self.client.credentials.id_instance, now, self.heal_every):
            return f"not healed: re-registered less than {self.heal_every} s ago"
        try:
            register(
                self.client,
                self.registration,
                deadline=time.monotonic() + self.heal_wait_seconds,
            )
        except NotApplied:  # saved; GREEN-API shows new settings within minutes
            return f"{HEALED}; GREEN-API does not show it yet"
        except GreenApiError as error:
            return f"heal failed: {error}"
        return HEALED


def from_config(config: MonitorConfig, secrets: SecretDocuments | None = None) -> Monitor:
    """The monitor of the stack's one registered instance, as its environment describes it."""
    secrets = secrets or SecretDocuments()
    credentials = Credentials.from_document(secrets.read(config.credentials_secret_arn))
    tokens = tokens_from_secret(secrets.read_text(config.token_secret_arn))
    payloads = Payloads(config.payload_bucket) if config.payload_bucket else None
    return Monitor(
        # GREEN-API allows one request a second; the next check is minutes away, so two
        # retries of a failed request are enough.
        client=GreenApiClient(credentials, min_interval=1.0, retries=2),
        registration=Registration(config.webhook_url, tokens[0], dict(config.switches)),
        accepted_tokens=tokens,
        storage=Storage(config.table_name, payloads=payloads),
        auto_heal=config.auto_heal,
        heal_every=config.heal_every_seconds,
        backfill_after=config.backfill_after_minutes * 60,
    )


def report(finding: Finding) -> None:
    """The finding as metrics (the alarms read them) and one log line. A check that could
    not ask GREEN-API says nothing of the instance: only MonitorFailed counts it."""
    metrics.add_metric("MonitorFailed", MetricUnit.Count, int(finding.error is not None))
    if finding.error is None:
        metrics.add_metric("InstanceNotAuthorized", MetricUnit.Count, int(not finding.authorized))
        metrics.add_metric("SettingsDrift", MetricUnit.Count, len(finding.drift))
        metrics.add_metric("InstanceHealed", MetricUnit.Count, int(finding.healed))
    if finding.backfill is not None:
        added = finding.backfill.get("added", 0)
        metrics.add_metric("MessagesBackfilled", MetricUnit.Count, added)
    level = "info" if finding.authorized and not finding.drift else "warning"
    getattr(logger, level)(
        "instance checked",
        extra={
            "id_instance": finding.id_instance,
            "state_instance": finding.state_instance,
            "drift": sorted(finding.drift),
            "heal": finding.heal,
            "error": finding.error,
            "backfill": finding.backfill,
        },
    )


def handle(event: dict, context: object) -> dict:
    """The scheduled check: one look at the instance, recorded and reported."""
    finding = from_config(monitor_config()).check()
    report(finding)
    return finding.as_item()

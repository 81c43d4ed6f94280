"""Configuration of each function, read from the environment once and validated.

Plain dataclasses, not pydantic: the ingest path must not pay pydantic's import cost.
Environment variables hold names and ARNs only; the webhook token comes from Secrets Manager.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(RuntimeError):
    """The function's environment is missing or malformed (a deployment mistake)."""


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return value


def _minutes(env: Mapping[str, str], name: str) -> int:
    """A number of minutes from 0 (off) to a day (GREEN-API's journals go back that far)."""
    raw = env.get(name, "").strip() or "0"
    if not raw.isdigit() or int(raw) > 1440:
        raise ConfigError(f"{name} must be a whole number of minutes from 0 to 1440, got {raw!r}")
    return int(raw)


def parse_cidrs(raw: str) -> tuple[IpNetwork, ...]:
    """Parse a comma-separated CIDR list; an empty list is an error (fail closed)."""
    networks = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"ALLOWED_CIDRS has an invalid network: {item!r}") from None
    if not networks:
        raise ConfigError("ALLOWED_CIDRS is empty: no sender could ever be accepted")
    return tuple(networks)


@dataclass(frozen=True)
class IngestConfig:
    queue_url: str
    payload_bucket: str
    token_secret_name: str
    token_cache_seconds: int
    allowed_networks: tuple[IpNetwork, ...]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IngestConfig:
        return cls(
            queue_url=_required(env, "QUEUE_URL"),
            payload_bucket=_required(env, "PAYLOAD_BUCKET"),
            token_secret_name=_required(env, "TOKEN_SECRET_NAME"),
            token_cache_seconds=_positive_int(env, "TOKEN_CACHE_SECONDS", 300),
            allowed_networks=parse_cidrs(_required(env, "ALLOWED_CIDRS")),
        )


@dataclass(frozen=True)
class ProcessConfig:
    table_name: str
    payload_bucket: str
    archive_stream_name: str  # the raw archive's Firehose delivery stream
    chats_in_parallel: int = 4  # message groups of a batch handled at once
    extra_handler_modules: tuple[str, ...] = ()  # the user's handlers (greenhook.dispatch)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProcessConfig:
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            payload_bucket=_required(env, "PAYLOAD_BUCKET"),
            archive_stream_name=_required(env, "ARCHIVE_STREAM_NAME"),
            chats_in_parallel=_positive_int(env, "CHATS_IN_PARALLEL", 4),
            extra_handler_modules=tuple(
                m.strip() for m in env.get("EXTRA_HANDLER_MODULES", "").split(",") if m.strip()
            ),
        )


@dataclass(frozen=True)
class PublishConfig:
    event_bus_name: str
    failures_queue_url: str  # what could not be published, with why

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PublishConfig:
        return cls(
            event_bus_name=_required(env, "EVENT_BUS_NAME"),
            failures_queue_url=_required(env, "FAILED_EVENTS_QUEUE_URL"),
        )


def _switches(raw: str) -> dict[str, str]:
    try:
        switches = json.loads(raw)
    except ValueError:
        raise ConfigError("WEBHOOK_SWITCHES must be a JSON object") from None
    if not isinstance(switches, dict):
        raise ConfigError("WEBHOOK_SWITCHES must be a JSON object")
    return {str(k): str(v) for k, v in switches.items()}


@dataclass(frozen=True)
class RegistrationConfig:
    """What the stack registers with GREEN-API, and where its secrets are: the token
    rotation's steps (greenhook.rotation) need only this; the monitor more."""

    webhook_url: str
    token_secret_arn: str
    credentials_secret_arn: str
    switches: dict[str, str]  # the webhook switches the stack registers

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RegistrationConfig:
        return cls(**_registration_fields(env))


def _registration_fields(env: Mapping[str, str]) -> dict[str, Any]:
    return {
        "webhook_url": _required(env, "WEBHOOK_URL"),
        "token_secret_arn": _required(env, "TOKEN_SECRET_ARN"),
        "credentials_secret_arn": _required(env, "CREDENTIALS_SECRET_ARN"),
        "switches": _switches(_required(env, "WEBHOOK_SWITCHES")),
    }


@dataclass(frozen=True)
class MonitorConfig(RegistrationConfig):
    table_name: str
    auto_heal: bool
    heal_every_seconds: int = 3600
    # Backfill from GREEN-API's journals when no webhook came for this long (0: never).
    backfill_after_minutes: int = 0
    payload_bucket: str | None = None  # where a backfilled message too large for an item goes

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MonitorConfig:
        auto_heal = env.get("AUTO_HEAL", "false").strip().lower()
        if auto_heal not in ("true", "false"):
            raise ConfigError(f"AUTO_HEAL must be true or false, got {auto_heal!r}")
        return cls(
            **_registration_fields(env),
            table_name=_required(env, "TABLE_NAME"),
            auto_heal=auto_heal == "true",
            heal_every_seconds=_positive_int(env, "HEAL_EVERY_SECONDS", 3600),
            backfill_after_minutes=_minutes(env, "BACKFILL_AFTER_MINUTES"),
            payload_bucket=env.get("PAYLOAD_BUCKET") or None,
        )


@cache
def ingest_config() -> IngestConfig:
    """The ingest function's configuration, read on first use."""
    return IngestConfig.from_env(os.environ)


@cache
def process_config() -> ProcessConfig:
    """The process function's configuration, read on first use."""
    return ProcessConfig.from_env(os.environ)


@cache
def publish_config() -> PublishConfig:
    """The publish function's configuration, read on first use."""
    return PublishConfig.from_env(os.environ)


@cache
def rotation_config() -> RegistrationConfig:
    """The rotate function's configuration, read on first use."""
    return RegistrationConfig.from_env(os.environ)


@cache
def monitor_config() -> MonitorConfig:
    """The monitor function's configuration, read on first use."""
    return MonitorConfig.from_env(os.environ)

"""A careful client for GREEN-API's account methods (getSettings, setSettings, getStateInstance)
and its journals (lastIncomingMessages, lastOutgoingMessages).

One requests.Session with timeouts, retries with backoff on 429 and 5xx (honouring
Retry-After), and errors that never carry the URL: the apiTokenInstance is part of its path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

# The webhook-type switches greenhook manages (SetSettings field names, "yes"/"no").
WEBHOOK_SWITCHES = (
    "incomingWebhook",
    "outgoingWebhook",
    "outgoingMessageWebhook",
    "outgoingAPIMessageWebhook",
    "stateWebhook",
    "incomingCallWebhook",
    "outgoingCallWebhook",
    "pollMessageWebhook",
    "editedMessageWebhook",
    "deletedMessageWebhook",
    "incomingBlockWebhook",
    "deviceWebhook",
)


class GreenApiError(RuntimeError):
    """GREEN-API could not be reached or answered with an error (message has no token)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GreenApiAuthError(GreenApiError):
    """The credentials are wrong (401/403): retrying will not help."""


@dataclass(frozen=True)
class Credentials:
    api_url: str
    id_instance: int
    api_token: str

    def __repr__(self) -> str:  # never print the token
        return f"Credentials(api_url={self.api_url!r}, id_instance={self.id_instance})"

    @classmethod
    def from_document(cls, document: dict) -> Credentials:
        """From the credentials secret: {"idInstance", "apiTokenInstance", "apiUrl"}."""
        try:
            return cls(
                api_url=str(document.get("apiUrl") or "https://api.green-api.com").rstrip("/"),
                id_instance=int(document["idInstance"]),
                api_token=str(document["apiTokenInstance"]),
            )
        except (KeyError, TypeError, ValueError):
            raise GreenApiError(
                "the credentials secret needs idInstance (a number) and apiTokenInstance"
            ) from None


def _session(retries: int, backoff: float) -> requests.Session:
    session = requests.Session()
    retry = Retry(
        total=retries,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "POST"}),  # setSettings with the same body is safe
        backoff_factor=backoff,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session.mount("https://", HTTPAdapter(max_retries=retry))
    session.mount("http://", HTTPAdapter(max_retries=retry))
    return session


class GreenApiClient:
    """getSettings / setSettings / getStateInstance of one instance."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        timeout: float = 15,
        retries: int = 4,
        backoff: float = 1.0,
        session: requests.Session | None = None,
        min_interval: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.credentials = credentials
        self.timeout = timeout
        self.session = session or _session(retries, backoff)
        # GREEN-API limits account methods to about one request a second per instance.
        self.min_interval = min_interval
        self._clock, self._sleep = clock, sleep
        self._last_call: float | None = None
        self._pace = threading.Lock()
        # urllib3 logs each request's URL at DEBUG, and ours carry the apiTokenInstance.
        logging.getLogger("urllib3").setLevel(max(logging.INFO, logging.getLogger("urllib3").level))

    def _wait_turn(self) -> None:
        with self._pace:
            if self._last_call is not None and self.min_interval > 0:
                pause = self._last_call + self.min_interval - self._clock()
                if pause > 0:
                    self._sleep(pause)
            self._last_call = self._clock()

    def _call(
        self, http_method: str, method: str, body: dict | None = None, params: dict | None = None
    ) -> Any:
        self._wait_turn()
        c = self.credentials
        url = f"{c.api_url}/waInstance{c.id_instance}/{method}/{c.api_token}"
        try:
            response = self.session.request(
                http_method, url, json=body, params=params, timeout=self.timeout
            )
        except requests.RequestException as error:
            # requests' messages quote the URL, and with it the token: say only what failed.
            raise GreenApiError(
                f"{method}: GREEN-API unreachable ({type(error).__name__})"
            ) from None
        if response.status_code in (401, 403):
            raise GreenApiAuthError(
                f"{method}: GREEN-API rejected the credentials (HTTP {response.status_code}); "
                "check idInstance, apiTokenInstance and apiUrl",
                response.status_code,
            )
        if response.status_code != 200:
            detail = response.text[:200].replace(c.api_token, "***")
            raise GreenApiError(
                f"{method}: HTTP {response.status_code}: {detail}", response.status_code
            )
        try:
            return response.json()
        except ValueError:
            raise GreenApiError(f"{method}: answer is not JSON", response.status_code) from None

    def get_settings(self) -> dict:
        return self._call("GET", "getSettings")

    def set_settings(self, settings: dict) -> dict:
        answer = self._call("POST", "setSettings", settings)
        if not (isinstance(answer, dict) and answer.get("saveSettings") is True):
            raise GreenApiError(f"setSettings: not saved: {answer!r}")
        return answer

    def get_state_instance(self) -> str | None:
        answer = self._call("GET", "getStateInstance")
        return answer.get("stateInstance") if isinstance(answer, dict) else None

    def _journal(self, method: str, minutes: int) -> list[dict]:
        answer = self._call("GET", method, params={"minutes": int(minutes)})
        if not isinstance(answer, list):
            raise GreenApiError(f"{method}: expected a list, got {type(answer).__name__}")
        return [entry for entry in answer if isinstance(entry, dict)]

    def last_incoming_messages(self, minutes: int) -> list[dict]:
        """The incoming messages of the last `minutes` (docs section 9), flat entries."""
        return self._journal("lastIncomingMessages", minutes)

    def last_outgoing_messages(self, minutes: int) -> list[dict]:
        """The outgoing messages of the last `minutes`, each with its current status."""
        return self._journal("lastOutgoingMessages", minutes)

"""The webhook token(s), read from Secrets Manager through Powertools Parameters' cache."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities import parameters


class TokenUnavailable(RuntimeError):
    """The token secret could not be read or holds no token; fail closed."""


def tokens_from_secret(value: str) -> tuple[str, ...]:
    """Accepted tokens in a secret value: JSON {"token", "previous_token"} or a bare token.

    `previous_token` is kept during a rotation so that both pass until GREEN-API uses the new one.
    """
    value = value.strip()
    if value.startswith("{"):
        try:
            document = json.loads(value)
        except ValueError:
            raise TokenUnavailable("token secret is not valid JSON") from None
        found = [document.get(key) for key in ("token", "previous_token")]
    else:
        found = [value]
    tokens = tuple(t for t in found if isinstance(t, str) and t.strip())
    if not tokens:
        raise TokenUnavailable("token secret holds no token")
    return tokens


def webhook_tokens(
    secret_name: str, max_age: int, provider: parameters.SecretsProvider | None = None
) -> tuple[str, ...]:
    """The tokens ingest accepts now, cached for `max_age` seconds (by `provider`, else by
    Powertools' default one)."""
    try:
        if provider is not None:
            value = provider.get(secret_name, max_age=max_age)
        else:
            value = parameters.get_secret(secret_name, max_age=max_age)
    except parameters.exceptions.GetParameterError as error:
        raise TokenUnavailable(f"token secret could not be read: {error}") from None
    if not isinstance(value, str):
        raise TokenUnavailable("token secret is binary, expected text")
    return tokens_from_secret(value)

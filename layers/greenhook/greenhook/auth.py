"""Who may deliver webhooks: the sender's source IP and the Authorization header."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable

from greenhook.config import IpNetwork

_SCHEMES = ("bearer", "basic")


def source_ip_allowed(source_ip: str | None, allowed: Iterable[IpNetwork]) -> bool:
    """True if `source_ip` (from the request context, never a header) is in an allowed network."""
    if not source_ip:
        return False
    try:
        address = ipaddress.ip_address(source_ip.strip())
    except ValueError:
        return False
    # An IPv4 client seen through a dual-stack socket arrives as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in allowed)


def _strip_scheme(value: str) -> str:
    """`Bearer x` / `basic   x` -> `x`; anything else unchanged."""
    parts = value.split(None, 1)
    if len(parts) == 2 and parts[0].lower() in _SCHEMES:
        return parts[1].strip()
    return value


def _forms(value: str) -> set[bytes]:
    """Digests of the accepted spellings of a value: as given, and without its scheme.

    Comparing fixed-length digests keeps even the token's length out of the timing.
    """
    value = value.strip()
    # surrogatepass: a header that is not valid Unicode still gets a digest (and a 401).
    forms = (value, _strip_scheme(value))
    return {hashlib.sha256(form.encode("utf-8", "surrogatepass")).digest() for form in forms}


def authorization_matches(header: str | None, tokens: Iterable[str]) -> bool:
    """Constant-time check of an Authorization header against the configured tokens.

    Accepts `Bearer <t>`, `Basic <t>` (scheme in any case, surrounding whitespace ignored)
    and the configured value exactly; the configured value may itself carry a scheme, as
    GREEN-API allows in `webhookUrlToken`. Every comparison runs, so timing reveals nothing.
    An empty token never matches: a missing secret fails closed.
    """
    if not header or not header.strip():
        return False
    presented = _forms(header)
    matched = False
    for token in tokens:
        if not token or not token.strip():
            continue
        for expected in _forms(token):
            for candidate in presented:
                matched |= hmac.compare_digest(candidate, expected)
    return matched

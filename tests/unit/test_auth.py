import ipaddress

import pytest

from greenhook.auth import authorization_matches, source_ip_allowed
from greenhook.config import parse_cidrs

TOKEN = "s3cretTokenValue42"


@pytest.fixture
def allowlist():
    return parse_cidrs("51.250.84.44/32, 203.0.113.0/30, 2001:db8:10::/48")


@pytest.mark.parametrize(
    ("source_ip", "allowed"),
    [
        ("51.250.84.44", True),
        ("51.250.84.45", False),
        ("51.250.84.43", False),
        ("203.0.113.0", True),  # first address of the /30
        ("203.0.113.3", True),  # last address of the /30
        ("203.0.113.4", False),  # just past it
        ("2001:db8:10::1", True),
        ("2001:db8:10:ffff:ffff:ffff:ffff:ffff", True),  # last of the /48
        ("2001:db8:11::", False),  # first past the /48
        ("::ffff:51.250.84.44", True),  # IPv4-mapped IPv6
        ("::ffff:51.250.84.45", False),
        ("", False),
        (None, False),
        ("not-an-ip", False),
        ("51.250.84.44, 1.2.3.4", False),
    ],
)
def test_source_ip_allowlist(allowlist, source_ip, allowed):
    assert source_ip_allowed(source_ip, allowlist) is allowed


def test_ipv4_network_does_not_match_ipv6_address():
    assert not source_ip_allowed("::1", [ipaddress.ip_network("0.0.0.0/0")])
    assert source_ip_allowed("::1", [ipaddress.ip_network("::/0")])


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {TOKEN}",
        f"Basic {TOKEN}",
        TOKEN,
        f"bearer {TOKEN}",
        f"BASIC {TOKEN}",
        f"  Bearer   {TOKEN}  ",
        f"Bearer\t{TOKEN}",
    ],
)
def test_accepted_authorization_forms(header):
    assert authorization_matches(header, [TOKEN])


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "Bearer",
        "Bearer ",
        f"Bearer {TOKEN[:-1]}",  # a prefix of the real token
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN.upper()}",
        f"Token {TOKEN}",
        f"Bearer {TOKEN} {TOKEN}",
        "Bearer wrong",
    ],
)
def test_rejected_authorization_forms(header):
    assert not authorization_matches(header, [TOKEN])


def test_configured_value_with_scheme_is_accepted_with_or_without_it():
    configured = f"Bearer {TOKEN}"
    assert authorization_matches(f"Bearer {TOKEN}", [configured])
    assert authorization_matches(TOKEN, [configured])
    assert authorization_matches(f"Bearer Bearer {TOKEN}", [configured])
    assert not authorization_matches("Bearer other", [configured])


def test_previous_token_also_passes_during_rotation():
    assert authorization_matches("Bearer old-token", [TOKEN, "old-token"])
    assert not authorization_matches("Bearer older-token", [TOKEN, "old-token"])


@pytest.mark.parametrize("tokens", [[], [""], ["   "], [None]])
def test_missing_token_fails_closed(tokens):
    assert not authorization_matches("Bearer ", tokens)
    assert not authorization_matches("", tokens)
    assert not authorization_matches("Bearer anything", tokens)

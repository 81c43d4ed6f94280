"""Hostile webhook bodies and request headers, as hypothesis strategies (for fuzz tests).

Bodies are written as JSON *text*, not through json.dumps, so that they can carry what a
serializer never writes but a sender can: NaN and Infinity, 1e-400, 40-digit integers, lone
surrogates as escapes ("\\ud800"), duplicate keys, nesting thousands of levels deep. Most are
real webhooks from events/ with a few fields replaced, removed, added or duplicated, so that
they get past routing and validation into the handlers and the table; the rest are arbitrary
bytes, JSON that is not an object, broken JSON.

Every strategy draws a `Body` (the bytes and how they were made, for a readable failure) or a
header value; nothing here knows greenhook's answers, the tests decide what must happen.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from hypothesis import strategies as st

from greenhook_dev.template_resources import REPO_ROOT

EVENTS = REPO_ROOT / "events"
SAMPLE_FOLDERS = (".", "webhooks", "messages", "variants")  # envelopes/ are not bodies

PLAIN, BASE64, BROKEN_BASE64 = "plain", "base64", "broken base64"


@dataclass(frozen=True)
class Raw:
    """JSON text written into a body as it is."""

    text: str


class Members(list):
    """A JSON object as its (key, value) pairs, in order: keys may repeat."""


class Body:
    """A drawn body: its bytes, how it was made, and how it travels in the API event.

    Not a dataclass, so that hypothesis reports it by this short repr, not byte for byte.
    """

    __slots__ = ("data", "label", "transport")

    def __init__(self, data: bytes, label: str, transport: str = PLAIN) -> None:
        self.data, self.label, self.transport = data, label, transport

    def __repr__(self) -> str:
        shown = self.data if len(self.data) <= 600 else self.data[:600] + b"..."
        return f"Body({self.label!r}, {len(self.data)} bytes, {self.transport}: {shown!r})"

    def event_body(self) -> tuple[str, bool]:
        """(body, isBase64Encoded) as API Gateway's payload v2 would carry it."""
        if self.transport == PLAIN:
            return self.data.decode("utf-8"), False
        encoded = base64.b64encode(self.data).decode("ascii")
        if self.transport == BROKEN_BASE64:
            return f"%{encoded}%", True
        return encoded, True


# -- JSON text ------------------------------------------------------------------------------


def to_json(value: Any) -> str:
    """JSON text of a tree of Members, lists, Raw and plain values (keys may be Raw too)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Members):
        return "{" + ",".join(f"{to_json(k)}:{to_json(v)}" for k, v in value) + "}"
    if isinstance(value, dict):
        return to_json(Members(value.items()))
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, str):
        # Raw UTF-8 as GREEN-API sends it; a lone surrogate (only from Raw) stays escaped.
        if any("\ud800" <= c <= "\udfff" for c in value):
            return json.dumps(value)
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value)  # int, bool, None


def nested(depth: int, inner: str = "", *, kind: str = "array") -> str:
    """`[[[...inner...]]]` or `{"a":{"a":...inner...}}`, `depth` levels, as text."""
    if kind == "array":
        return "[" * depth + inner + "]" * depth
    return '{"a":' * depth + (inner or "{}") + "}" * depth


@cache
def sample_documents() -> tuple[tuple[str, str], ...]:
    """(name, JSON text) of every sample webhook in events/."""
    found = []
    for folder in SAMPLE_FOLDERS:
        for path in sorted((EVENTS / folder).glob("*.json")):
            found.append((str(path.relative_to(EVENTS)), path.read_text(encoding="utf-8")))
    return tuple(found)


def parse_members(text: str) -> Any:
    """A sample as a mutable tree whose objects are Members."""
    return json.loads(text, object_pairs_hook=Members)


# -- hostile values -------------------------------------------------------------------------

HUGE_INTEGERS = (
    10**40,
    -(10**40),
    10**38 - 1,  # 38 digits: DynamoDB's largest precision
    10**38,
    -(10**38),
    2**63,
    2**64,
    -(2**63) - 1,
    10**125,
    10**126,  # DynamoDB's number range ends at 9.99e125
    0,
    -1,
)
NUMBER_TEXTS = (
    "1e308",
    "-1e308",
    "1e309",  # inf once parsed
    "-0.0",
    "-0",
    "1e-400",  # 0.0 once parsed
    "4.9e-324",
    "1E+2",
    "1.0",
    "0.5",
    "12345678901234567890123456789012345678901234567890.5",
    "1" + "0" * 4400,  # past Python's 4300-digit int conversion limit
    "NaN",
    "Infinity",
    "-Infinity",
)
STRING_TEXTS = (
    r'"\ud800"',  # lone high surrogate
    r'"\udfff"',  # lone low surrogate
    r'"a\ud800b"',
    r'"\ude00\ud83d"',  # a surrogate pair in the wrong order
    r'"\ud83d\ude00"',  # an emoji as a (valid) pair of escapes
    r'"\u0000"',
    r'"a\u0000b"',
    r'"\u001f\u007f"',
    r'"\ufffe\uffff"',  # noncharacters: SQS refuses them as text
    r'"\ufeff"',
    '"\u202eevil\u202c"',  # RTL override, raw
    r'"\u202e\u200f\u200b"',
    '"😀👍🏽❤️"',
    '""',
    '" "',
    r'"\"\\/\b\f\n\r\t"',
    '"79876543210@c.us"',
    '"7103220992"',
)
WRONG_TYPES = ("true", "false", "null", "[]", "{}", "[1,2]", '{"a":1}', "[null]", '[""]')
DEEP_LEVELS = (2, 33, 256, 999, 5000, 20_000)  # 32: DynamoDB; 255: pydantic; ~1k/10k: json
LONG_STRINGS = (
    Raw(json.dumps("x" * 5_000)),
    Raw(json.dumps("x" * 70_000)),
    Raw('"' + "😀" * 20_000 + '"'),
    Raw('"' + r"\ud800" * 3_000 + '"'),
    Raw('"' + "\u202e" * 10_000 + '"'),
)
UNKNOWN_TYPE_NAMES = (
    "brandNewType",
    "",
    "IncomingMessageReceived",
    "incomingMessageReceived ",
    "__proto__",
    "constructor",
    "typeWebhook",
)

# Character classes that break things: surrogates, controls, formats (RTL, zero-width),
# private use, symbols (emoji), non-Latin letters, odd whitespace.
_CATEGORIES = ["Cc", "Cf", "Co", "So", "Lo", "Zs", "Zl", "Nd", "Ll"]
_HOSTILE_CHARACTERS = st.characters(codec=None, categories=["Cs", *_CATEGORIES])
_ENCODABLE_CHARACTERS = st.characters(codec="utf-8", categories=_CATEGORIES)


def hostile_strings(max_size: int = 40) -> st.SearchStrategy[Raw]:
    """JSON string literals with surrogates, NUL, RTL marks, emoji... (escaped as JSON does)."""
    return st.one_of(
        st.sampled_from(STRING_TEXTS).map(Raw),
        st.text(_HOSTILE_CHARACTERS, max_size=max_size).map(lambda s: Raw(json.dumps(s))),
        st.text(_ENCODABLE_CHARACTERS, max_size=max_size).map(
            lambda s: Raw(json.dumps(s, ensure_ascii=False))  # raw UTF-8
        ),
        st.sampled_from(LONG_STRINGS),
    )


def hostile_numbers() -> st.SearchStrategy[Raw]:
    return st.one_of(
        st.sampled_from(HUGE_INTEGERS).map(lambda n: Raw(str(n))),
        st.sampled_from(NUMBER_TEXTS).map(Raw),
        st.integers(min_value=-(10**45), max_value=10**45).map(lambda n: Raw(str(n))),
        st.floats().map(lambda f: Raw(to_json(f))),
    )


def json_values(max_leaves: int = 6) -> st.SearchStrategy[Any]:
    """Small arbitrary JSON values (objects as dicts)."""
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def deep_values() -> st.SearchStrategy[Raw]:
    return st.builds(
        lambda depth, kind: Raw(nested(depth, kind=kind)),
        st.sampled_from(DEEP_LEVELS),
        st.sampled_from(("array", "object")),
    )


def hostile_values() -> st.SearchStrategy[Any]:
    """Anything a field may be replaced with."""
    return st.one_of(
        hostile_numbers(),
        hostile_strings(),
        st.sampled_from(WRONG_TYPES).map(Raw),
        deep_values(),
        json_values(),
    )


def hostile_keys() -> st.SearchStrategy[Raw]:
    return st.one_of(
        st.sampled_from(
            ('""', r'"\ud800"', r'"\u0000"', '"typeWebhook"', '"__proto__"', '"timestamp"')
        ).map(Raw),
        st.text(_HOSTILE_CHARACTERS, max_size=12).map(lambda s: Raw(json.dumps(s))),
    )


# -- mutated webhooks -----------------------------------------------------------------------

# Fields where a hostile value reaches the most code: routing, the archive, keys, versions.
TARGET_FIELDS = (
    ("timestamp",),
    ("instanceData", "idInstance"),
    ("instanceData", "wid"),
    ("idMessage",),
    ("senderData", "chatId"),
    ("senderData", "sender"),
    ("senderData", "senderName"),
    ("senderData", "chatName"),
    ("messageData", "typeMessage"),
    ("chatId",),
    ("status",),
    ("stateInstance",),
    ("from",),
    ("deviceData", "battery"),
    ("quotaData",),
)


def _paths(tree: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every position in a tree, as (index in Members or list, ...)."""
    if isinstance(tree, Members):
        for i, (_, value) in enumerate(tree):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


def _container(tree: Any, path: tuple) -> Any:
    """The Members or list holding the position `path`."""
    node = tree
    for i in path[:-1]:
        node = node[i][1] if isinstance(node, Members) else node[i]
    return node


def _named(tree: Any, names: tuple[str, ...]) -> tuple | None:
    """The position of a field given by names (first of duplicates), if present."""
    node, path = tree, ()
    for name in names:
        if not isinstance(node, Members):
            return None
        index = next((i for i, (k, _) in enumerate(node) if k == name), None)
        if index is None:
            return None
        node, path = node[index][1], (*path, index)
    return path


def _label(tree: Any, path: tuple) -> str:
    parts, node = [], tree
    for i in path:
        if isinstance(node, Members):
            key = node[i][0]
            parts.append(key.text if isinstance(key, Raw) else str(key))
            node = node[i][1]
        else:
            parts.append(f"[{i}]")
            node = node[i]
    return ".".join(parts) or "<body>"


def _short(value: Any) -> str:
    text = to_json(value)
    return text if len(text) <= 60 else f"{text[:40]}...({len(text)} chars)"


def _replacement(current: Any) -> st.SearchStrategy[Any]:
    """Mostly a hostile value of the same JSON type (it may still validate), else anything."""
    if isinstance(current, str):
        return hostile_strings() | hostile_values()
    if isinstance(current, int | float) and not isinstance(current, bool):
        return hostile_numbers() | hostile_values()
    return hostile_values()


@st.composite
def mutated_webhooks(draw: st.DrawFn, max_mutations: int = 3) -> Body:
    """A sample webhook from events/ with 1..max_mutations hostile changes."""
    name, text = draw(st.sampled_from(sample_documents()), label="sample")
    tree = parse_members(text)
    done = []
    for _ in range(draw(st.integers(1, max_mutations), label="mutations")):
        targets = [p for p in (_named(tree, f) for f in TARGET_FIELDS) if p is not None]
        anywhere = list(_paths(tree))
        if not anywhere:
            break
        if targets and draw(st.booleans(), label="targeted"):
            path = draw(st.sampled_from(targets), label="field")
        else:
            path = draw(st.sampled_from(anywhere), label="field")
        holder, index, where = _container(tree, path), path[-1], _label(tree, path)
        kind = draw(
            st.sampled_from(("replace", "replace", "delete", "add", "duplicate", "wrap")),
            label="kind",
        )
        if kind == "replace":
            value = draw(
                _replacement(holder[index][1] if isinstance(holder, Members) else holder[index]),
                label="value",
            )
            if isinstance(holder, Members):
                holder[index] = (holder[index][0], value)
            else:
                holder[index] = value
            done.append(f"{where} := {_short(value)}")
        elif kind == "delete":
            del holder[index]
            done.append(f"del {where}")
        elif kind == "add":
            value = draw(hostile_values(), label="value")
            if isinstance(holder, Members):
                key = draw(hostile_keys(), label="key")
                holder.insert(index, (key, value))
                done.append(f"add {_short(key)} := {_short(value)} next to {where}")
            else:
                holder.insert(index, value)
                done.append(f"insert {_short(value)} at {where}")
        elif kind == "duplicate" and isinstance(holder, Members):
            value = draw(hostile_values(), label="value")
            after = draw(st.booleans(), label="duplicate after")  # the last one wins in Python
            holder.insert(index + 1 if after else index, (holder[index][0], value))
            done.append(f"duplicate {where} := {_short(value)} {'after' if after else 'before'}")
        else:  # wrap (or duplicate in an array): the value deep inside nested arrays
            depth = draw(st.sampled_from(DEEP_LEVELS), label="depth")
            current = holder[index][1] if isinstance(holder, Members) else holder[index]
            wrapped = Raw(nested(depth, to_json(current)))
            if isinstance(holder, Members):
                holder[index] = (holder[index][0], wrapped)
            else:
                holder[index] = wrapped
            done.append(f"{where} wrapped {depth} levels deep")
    return Body(to_json(tree).encode("utf-8"), f"{name}: " + "; ".join(done))


@st.composite
def retyped_webhooks(draw: st.DrawFn) -> Body:
    """A sample with an unknown typeWebhook, or (message webhooks) an unknown typeMessage."""
    name, text = draw(st.sampled_from(sample_documents()), label="sample")
    tree = parse_members(text)
    unknown = draw(
        st.sampled_from(UNKNOWN_TYPE_NAMES).map(lambda s: Raw(json.dumps(s)))
        | hostile_strings(max_size=12),
        label="type",
    )
    path = _named(tree, ("messageData", "typeMessage"))
    if path is None or draw(st.booleans(), label="typeWebhook"):
        path = _named(tree, ("typeWebhook",))
    holder = _container(tree, path)
    holder[path[-1]] = (holder[path[-1]][0], unknown)
    return Body(to_json(tree).encode("utf-8"), f"{name}: {_label(tree, path)} := {unknown.text}")


def samples() -> st.SearchStrategy[Body]:
    """The sample webhooks untouched: what must simply be stored."""
    return st.sampled_from(sample_documents()).map(
        lambda s: Body(s[1].encode("utf-8"), f"{s[0]} as is")
    )


# -- bodies that are not webhooks -----------------------------------------------------------

INVALID_UTF8 = (
    b"\xff",
    b"\xfe\xff",
    b"\xc0\x80",  # overlong NUL
    b"\xed\xa0\x80",  # a surrogate encoded in UTF-8 (CESU-8)
    b"\xf4\x90\x80\x80",  # past U+10FFFF
    b"\xe2\x82",  # truncated sequence
    b"\x80",
)


@st.composite
def invalid_utf8(draw: st.DrawFn) -> Body:
    """A sample with invalid UTF-8 spliced in (inside a string or anywhere)."""
    name, text = draw(st.sampled_from(sample_documents()), label="sample")
    data = text.encode("utf-8")
    at = draw(st.integers(0, len(data)), label="at")
    bad = draw(st.sampled_from(INVALID_UTF8), label="bytes")
    return Body(data[:at] + bad + data[at:], f"{name} with {bad!r} at byte {at}")


def arbitrary_bytes() -> st.SearchStrategy[Body]:
    return st.binary(min_size=1, max_size=300).map(lambda b: Body(b, "arbitrary bytes"))


def non_objects() -> st.SearchStrategy[Body]:
    """JSON that is not an object: scalars, arrays (a webhook inside one too), NaN."""
    fixed = ("[]", "null", "0", "-0.0", "1e400", "NaN", '"typeWebhook"', "true", '""', "[{}]")
    return st.one_of(
        st.sampled_from(fixed).map(lambda t: Body(t.encode(), "non-object")),
        json_values()
        .filter(lambda v: not isinstance(v, dict))
        .map(lambda v: Body(to_json(v).encode(), "non-object")),
        st.sampled_from(sample_documents()).map(
            lambda s: Body(f"[{s[1]}]".encode(), f"{s[0]} inside an array")
        ),
    )


@st.composite
def broken_json(draw: st.DrawFn) -> Body:
    """A sample truncated, with trailing garbage, a BOM, in UTF-16, with comments."""
    name, text = draw(st.sampled_from(sample_documents()), label="sample")
    data = text.encode("utf-8")
    how = draw(
        st.sampled_from(("truncated", "trailing", "bom", "utf-16", "comment", "single quotes")),
        label="how",
    )
    if how == "truncated":
        data = data[: draw(st.integers(1, len(data) - 1), label="at")]
    elif how == "trailing":
        data += draw(st.sampled_from((b"}", b",", b" x", b"\x00", b"{}", b"\n]")), label="tail")
    elif how == "bom":
        data = b"\xef\xbb\xbf" + data
    elif how == "utf-16":
        data = text.encode("utf-16")
    elif how == "comment":
        data = b"/* hi */" + data
    else:
        data = data.replace(b'"', b"'")
    return Body(data, f"{name} {how}")


@st.composite
def deeply_nested(draw: st.DrawFn) -> Body:
    """Nesting `depth` levels deep: the whole body, or inside a field of a sample."""
    depth = draw(st.sampled_from(DEEP_LEVELS), label="depth")
    kind = draw(st.sampled_from(("array", "object")), label="kind")
    if draw(st.booleans(), label="whole body"):
        return Body(nested(depth, kind=kind).encode(), f"{kind}s {depth} deep, whole body")
    name, text = draw(st.sampled_from(sample_documents()), label="sample")
    tree = parse_members(text)
    tree.append(("nested", Raw(nested(depth, kind=kind))))
    return Body(to_json(tree).encode("utf-8"), f"{name} with {kind}s {depth} deep in a field")


@st.composite
def hostile_bodies(draw: st.DrawFn) -> Body:
    """Everything above, mostly mutated webhooks; travelling as text or base64."""
    # one_of() merges repeated branches: weigh by hand (hypothesis favours the first kind).
    kinds = ("retyped", "mutated", "not a webhook", "mutated", "sample", "mutated", "not a webhook")
    kind = draw(st.sampled_from(kinds), label="kind")
    strategy = {
        "mutated": mutated_webhooks(),
        "retyped": retyped_webhooks(),
        "sample": samples(),
        "not a webhook": st.one_of(
            invalid_utf8(), arbitrary_bytes(), non_objects(), broken_json(), deeply_nested()
        ),
    }[kind]
    # About one in twenty is sent as broken base64 (answered 400: nothing to keep).
    transport = draw(st.sampled_from((PLAIN, BASE64) * 10 + (BROKEN_BASE64,)), label="transport")
    return _with_transport(draw(strategy, label=kind), transport)


def _with_transport(body: Body, transport: str) -> Body:
    if transport == PLAIN:
        try:
            body.data.decode("utf-8")
        except UnicodeDecodeError:
            transport = BASE64  # API Gateway hands over bytes that are not UTF-8 as base64
    return Body(body.data, body.label, transport)


# -- headers --------------------------------------------------------------------------------

TOKEN = "{TOKEN}"  # replaced by the real token when the request is made

VALID_SCHEMES = ("Bearer ", "bearer ", "BEARER ", "Basic ", "basic ", "bAsIc ", "Bearer\t", "")
VALID_PADDING = ("", " ", "  ", "\t", " \t ")


def valid_authorizations() -> st.SearchStrategy[str]:
    """Authorization values the README says are accepted, with TOKEN for the token."""
    return st.builds(
        lambda lead, scheme, gap, trail: f"{lead}{scheme}{gap}{TOKEN}{trail}",
        st.sampled_from(VALID_PADDING),
        st.sampled_from(VALID_SCHEMES),
        st.sampled_from(("", " ", "   ")),
        st.sampled_from(VALID_PADDING),
    )


TOKEN_FORMS = (
    "{TOKEN_PREFIX}",  # the token less its last character
    "{TOKEN}X",
    "X{TOKEN}",
    "{TOKEN_SWAPCASE}",
    "{TOKEN_REVERSED}",
    "{TOKEN_ZWSP}",  # a zero-width space inside
    "{TOKEN}\x00",
    "{TOKEN}\u200b",
    "{TOKEN}\ud800",
    "{TOKEN} {TOKEN}",
    "{TOKEN},{TOKEN}",
    "{TOKEN_BASE64}",
    "",
)
WRONG_SCHEMES = (
    "Bearer",  # glued to the token
    "Bearer:",
    "Digest ",
    "Token ",
    "Bearer Bearer ",
    "Basic Bearer ",
    "B\u0435arer ",  # a Cyrillic e
    "Bearer\x00",
    "\ud800 ",
    "Bearer\u200b ",
)


def render_authorization(template: str, token: str) -> str:
    """An Authorization template with the real token (and its mangled forms) filled in."""
    replacements = {
        "{TOKEN_PREFIX}": token[:-1],
        "{TOKEN_SWAPCASE}": token.swapcase(),
        "{TOKEN_REVERSED}": token[::-1],
        "{TOKEN_ZWSP}": token[:8] + "\u200b" + token[8:],
        "{TOKEN_BASE64}": base64.b64encode(token.encode()).decode(),
        TOKEN: token,
    }
    for placeholder, value in replacements.items():
        template = template.replace(placeholder, value)
    return template


def invalid_authorizations() -> st.SearchStrategy[str]:
    """Authorization values that must be refused (TOKEN forms filled in when sent).

    A drawn value may happen to be a valid spelling (hostile text that is only whitespace
    around the token): the test checks each against the documented rule.
    """
    return st.one_of(
        st.builds(
            lambda scheme, form: scheme + form,
            st.sampled_from(VALID_SCHEMES + WRONG_SCHEMES),
            st.sampled_from(TOKEN_FORMS),
        ),
        st.builds(lambda scheme: scheme + TOKEN, st.sampled_from(WRONG_SCHEMES)),
        st.sampled_from(("", " ", "\t", "Bearer", "Bearer ", "Basic  ", "null", "undefined")),
        st.text(_HOSTILE_CHARACTERS, max_size=30),
        st.builds(lambda s: "Bearer " + s, st.text(_HOSTILE_CHARACTERS, min_size=1, max_size=30)),
        st.sampled_from(("Bearer " + "A" * 100_000, "Bearer " + "€" * 10_000, TOKEN * 1_000)),
    )


CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin-1",
    "APPLICATION/JSON",
    "text/plain",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "",
    "application/json\x00",
    "\u202eapplication/json",
)


def content_types() -> st.SearchStrategy[str | None]:
    """A Content-Type header value (None: no header)."""
    return st.one_of(st.none(), st.sampled_from(CONTENT_TYPES), st.text(max_size=20))


def forwarding_headers(claimed_ip: str) -> st.SearchStrategy[dict[str, str]]:
    """X-Forwarded-For and friends claiming `claimed_ip` (client-controlled: must not count)."""
    values = st.sampled_from(
        (
            claimed_ip,
            f"{claimed_ip}, 198.51.100.7",
            f"198.51.100.7, {claimed_ip}",
            f"for={claimed_ip}",
            "garbage",
            ", ".join([claimed_ip] * 500),
        )
    )
    names = st.sampled_from(
        ("x-forwarded-for", "X-Forwarded-For", "x-real-ip", "forwarded", "true-client-ip")
    )
    return st.dictionaries(names, values, max_size=3)

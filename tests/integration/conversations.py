"""A generated conversation (messages, replies, statuses, edits, deletions, reactions,
calls) as data, shared by the convergence and event property tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import strategies as st

from greenhook_dev.webhooks import Instance

CHATS = ("79011111111@c.us", "120363000000000001@g.us")
PEOPLE = ("79011111111@c.us", "79022222222@c.us")
EMOJI = ("👍", "❤️", "😂", "")  # "" takes a reaction back


@dataclass(frozen=True)
class Plan:
    """A conversation as data; `webhooks(instance)` renders it for one instance, in order."""

    steps: tuple[tuple, ...]

    def webhooks(self, instance: Instance) -> list[dict]:
        rendered = []
        for kind, *args in self.steps:
            rendered.append(getattr(instance, kind)(*args[:-1], **args[-1]))
        return rendered

    def message_ids(self) -> set[str]:
        return {s[1] for s in self.steps if s[0] in ("text", "image")} | {
            s[2] for s in self.steps if s[0] in ("edit", "deletion", "reaction")
        }


@st.composite
def conversations(draw) -> Plan:
    clock = itertools.count(1_700_000_000, 7)
    steps: list[tuple] = []
    sent: list[tuple[str, str, str]] = []  # (idMessage, chat, direction)
    for n in range(draw(st.integers(1, 5))):
        id_message = f"M{n}"
        chat = draw(st.sampled_from(CHATS))
        direction = draw(st.sampled_from(("incoming", "outgoing", "api")))
        sender = {"sender": draw(st.sampled_from(PEOPLE))} if direction == "incoming" else {}
        if draw(st.booleans()) or not sent:
            text = draw(st.sampled_from(("hi", "ok", "see you", "")))
            quoted = draw(st.sampled_from([None] + [m for m, c, _ in sent if c == chat]))
            steps.append(
                (
                    "text",
                    id_message,
                    chat,
                    next(clock),
                    text or "…",
                    {"direction": direction, "quoted": quoted, **sender},
                )
            )
        else:
            steps.append(
                (
                    "image",
                    id_message,
                    chat,
                    next(clock),
                    "photo",
                    {"direction": direction, "thumbnail": "/9j/AAAA", **sender},
                )
            )
        sent.append((id_message, chat, direction))
        if direction != "incoming":
            for status in draw(
                st.lists(st.sampled_from(("sent", "delivered", "read", "failed")), max_size=3)
            ):
                steps.append(("status", id_message, chat, next(clock), status, {}))
    for n in range(draw(st.integers(0, 6))):
        id_message, chat, direction = draw(st.sampled_from(sent))
        kind = draw(st.sampled_from(("edit", "deletion", "reaction")))
        author = {"direction": direction}
        if kind == "edit":
            steps.append(
                (
                    "edit",
                    f"E{n}",
                    id_message,
                    chat,
                    next(clock),
                    draw(st.sampled_from(("fixed", "again"))),
                    author,
                )
            )
        elif kind == "deletion":
            steps.append(("deletion", f"D{n}", id_message, chat, next(clock), author))
        else:
            who = draw(st.sampled_from(("incoming", "outgoing")))
            reactor = (
                {"direction": who, "sender": draw(st.sampled_from(PEOPLE))}
                if who == "incoming"
                else {"direction": who}
            )
            steps.append(
                (
                    "reaction",
                    f"R{n}",
                    id_message,
                    chat,
                    next(clock),
                    draw(st.sampled_from(EMOJI)),
                    reactor,
                )
            )
    if draw(st.booleans()):
        start = next(clock)
        steps.append(("call", "CALL1", CHATS[0], start, "offer", {}))
        steps.append(
            (
                "call",
                "CALL1",
                CHATS[0],
                start + 5,
                draw(st.sampled_from(("pickUp", "hungUp", "declined"))),
                {},
            )
        )
    return Plan(tuple(steps))

"""Progress lines of long commands: in place on a terminal, a readable trail elsewhere."""

from __future__ import annotations

import io

from greenhook_dev.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_elsewhere_a_line_per_change_at_most_every_interval_and_always_the_end():
    stream = io.StringIO()
    progress = Progress(stream, every=3600)
    progress.show("moved 1 of 3")
    progress.show("moved 2 of 3")  # within the interval: not written
    progress.done("moved 3 of 3")
    assert stream.getvalue() == "moved 1 of 3\nmoved 3 of 3\n"


def test_elsewhere_every_change_is_written_when_the_interval_allows():
    stream = io.StringIO()
    progress = Progress(stream, every=0)
    for text in ("a", "a", "b"):
        progress.show(text)
    assert stream.getvalue() == "a\nb\n"  # the same text twice is one line


def test_on_a_terminal_the_line_is_rewritten_in_place():
    stream = Terminal()
    progress = Progress(stream)
    progress.show("moved 10 of 40")
    progress.show("moved 9")
    progress.done("done")
    assert stream.getvalue() == "\rmoved 10 of 40\rmoved 9       \rdone          \n"


def test_a_wait_counts_down_on_its_step():
    stream = io.StringIO()
    progress = Progress(stream, every=0)
    progress.step("waiting for the token cache")
    progress.sleep(0.05)
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "waiting for the token cache"
    assert lines[1] == "waiting for the token cache (0 s left)"

"""Progress of a long command on one line: rewritten in place on a terminal, plain lines
elsewhere (a log, CI), where a line is written when the text changes, at most every
`every` seconds, so that a long wait leaves a readable trail rather than thousands of lines.
It writes to stderr, so that `--json` output on stdout stays a document."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, every: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = ""
        self._last_at: float | None = None  # not 0: monotonic time starts near 0 at boot
        self._width = 0
        self._step = ""

    def show(self, text: str) -> None:
        """The current state, e.g. `moved 12 of 40`."""
        if self.terminal:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = max(self._width, len(text))
            self.stream.flush()
            return
        now = time.monotonic()
        due = self._last_at is None or now - self._last_at >= self.every
        if text != self._last and due:
            print(text, file=self.stream, flush=True)
            self._last, self._last_at = text, now

    def step(self, text: str) -> None:
        """A step of a longer job: shown, and remembered for `sleep`'s countdown."""
        self._step = text
        self.show(text)

    def sleep(self, seconds: float) -> None:
        """Wait, counting the seconds left down on the current step's line."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.show(f"{self._step} ({left:.0f} s left)" if self._step else f"{left:.0f} s left")
            time.sleep(min(1.0, left))

    def finish(self) -> None:
        """End the line on a terminal (nothing to do elsewhere)."""
        if self.terminal and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def done(self, text: str) -> None:
        """The final state, always written, ending the line."""
        if self.terminal:
            self.stream.write("\r" + text.ljust(self._width) + "\n")
            self.stream.flush()
        elif text != self._last:
            print(text, file=self.stream, flush=True)
        self._last = text

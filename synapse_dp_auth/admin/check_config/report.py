"""``check-config``'s report: its lines, and the count of errors and warnings that decides the
exit code."""

from __future__ import annotations

from typing import TextIO


class ConfigReport:
    """Collects what check-config has to say; errors decide the exit code."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.errors = 0
        self.warnings = 0

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def error(self, text: str) -> None:
        self.errors += 1
        self.line(f"error: {text}")

    def warning(self, text: str) -> None:
        self.warnings += 1
        self.line(f"warning: {text}")

    def finish(self) -> int:
        self.line()
        if self.errors:
            self.line(f"{self.errors} error(s), {self.warnings} warning(s): not valid.")
            return 1
        self.line(f"Valid, with {self.warnings} warning(s).")
        return 0

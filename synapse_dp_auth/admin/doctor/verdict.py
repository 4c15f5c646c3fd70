"""The verdict every ``doctor`` check prints in front of what it found."""

from __future__ import annotations

import enum


@enum.unique
class Verdict(enum.Enum):
    WORKS = "ok"
    UNCONFIRMED = "?"
    FAILS = "FAIL"

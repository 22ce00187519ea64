"""Source locations carried by every operation, printed as ``loc(...)`` on request."""

from __future__ import annotations

import json

from hyc.record import record


class Location:
    """Base class of locations."""

    def primary(self) -> FileLineColLoc | None:
        """The location a diagnostic points at, if any."""
        return None


@record(frozen=True)
class FileLineColLoc(Location):
    filename: str
    line: int
    col: int

    def primary(self) -> FileLineColLoc:
        return self

    def __str__(self) -> str:
        return f"{json.dumps(self.filename)}:{self.line}:{self.col}"


@record(frozen=True)
class UnknownLoc(Location):
    def __str__(self) -> str:
        return "unknown"


@record(frozen=True)
class FusedLoc(Location):
    """Several source locations merged into one op (e.g. by fusion or CSE)."""

    locations: tuple[Location, ...]

    def primary(self) -> FileLineColLoc | None:
        for loc in self.locations:
            found = loc.primary()
            if found is not None:
                return found
        return None

    def __str__(self) -> str:
        return "fused[" + ", ".join(map(str, self.locations)) + "]"


UNKNOWN = UnknownLoc()


def describe(loc: Location) -> str:
    """``file:line:col`` for messages, or ``<unknown>``."""
    p = loc.primary()
    return f"{p.filename}:{p.line}:{p.col}" if p else "<unknown>"

"""Calendar quarters: parse '2026-Q3', the quarter of a date, the next one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter; ordered, printed as '2026-Q3'."""

    year: int
    q: int  # 1..4

    @property
    def start(self) -> date:
        return date(self.year, 3 * self.q - 2, 1)

    @property
    def end(self) -> date:
        return self.next().start - timedelta(days=1)

    def next(self) -> "Quarter":
        return Quarter(self.year + 1, 1) if self.q == 4 else Quarter(self.year, self.q + 1)

    def prev(self) -> "Quarter":
        return Quarter(self.year - 1, 4) if self.q == 1 else Quarter(self.year, self.q - 1)

    def __str__(self) -> str:
        return f"{self.year}-Q{self.q}"


def quarter_of(d: date) -> Quarter:
    """The calendar quarter `d` falls in."""
    return Quarter(d.year, (d.month - 1) // 3 + 1)


_Q = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")


def parse_quarter(text: str) -> Quarter:
    """'2026-Q3' (or '2026Q3', '2026-q3') -> Quarter; ValueError naming the expected form otherwise."""
    m = _Q.match(text or "")
    if not m:
        raise ValueError(f"cannot read quarter {text!r}; expected a form like 2026-Q3")
    return Quarter(int(m.group(1)), int(m.group(2)))


__all__ = ["Quarter", "parse_quarter", "quarter_of"]

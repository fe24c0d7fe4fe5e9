"""Dates written as calendar tick + year/month/day digits, to ISO ``YYYY-MM-DD``.

和暦 years count from 1 (元年) at the era's first day; the year before the start day belongs to
the previous era, so 平成31年4月30日 and 令和元年5月1日 are both valid, 令和1年4月30日 is not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

SEIREKI = "西暦"
# (era, first day), newest first.
ERAS: list[tuple[str, dt.date]] = [
    ("令和", dt.date(2019, 5, 1)),
    ("平成", dt.date(1989, 1, 8)),
    ("昭和", dt.date(1926, 12, 25)),
    ("大正", dt.date(1912, 7, 30)),
    ("明治", dt.date(1868, 10, 23)),
]
_START = dict(ERAS)


@dataclass(frozen=True)
class DateReading:
    iso: str  # "" when no calendar date can be built
    raw: str  # what was written, e.g. 令和6年4月1日 / 2024年4月1日
    problem: str = ""  # "" or a reason code: bad_date, outside_era, unknown_era


def era_year(text: str) -> int | None:
    """The era year written as digits or 元 (= 1)."""
    text = text.strip()
    if text == "元":
        return 1
    return int(text) if text.isdigit() else None


def to_gregorian_year(era: str, year: int) -> int:
    """Gregorian year of ``era`` year ``year`` (西暦 passes through)."""
    if era == SEIREKI:
        return year
    if era not in _START:
        raise KeyError(era)
    return _START[era].year + year - 1


def era_end(era: str) -> dt.date | None:
    """The last day of ``era`` (None for the current one)."""
    names = [e for e, _ in ERAS]
    i = names.index(era)
    return None if i == 0 else ERAS[i - 1][1] - dt.timedelta(days=1)


def assemble_date(era: str, year: str, month: str, day: str) -> DateReading:
    """Build the ISO date from a calendar name and the digit strings that were read."""
    raw = f"{'' if era == SEIREKI else era}{year}年{month}月{day}日"
    y, m, d = era_year(year), era_year(month), era_year(day)
    if not (year or month or day):
        return DateReading("", "")
    if y is None or m is None or d is None or (era != SEIREKI and year == "0"):
        return DateReading("", raw, "bad_date")
    if era != SEIREKI and era not in _START:
        return DateReading("", raw, "unknown_era")
    try:
        value = dt.date(to_gregorian_year(era, y), m, d)
    except ValueError:
        return DateReading("", raw, "bad_date")
    if era != SEIREKI:
        end = era_end(era)
        if value < _START[era] or (end is not None and value > end):
            return DateReading(value.isoformat(), raw, "outside_era")
    return DateReading(value.isoformat(), raw)

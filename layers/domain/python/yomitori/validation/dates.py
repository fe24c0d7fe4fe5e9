"""Dates: 和暦 ↔ 西暦 conversion, the ``date`` validators and cross-field date rules.

Values reach validators as ISO ``YYYY-MM-DD`` (the normalised form); what was written (e.g.
``令和元年5月1日``) is in ``ctx.raws`` and is checked for impossible era years. The parsing
helpers also accept 和暦 strings typed by a reviewer. Runs in Lambda and on one machine.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from yomitori.results import Suggestion
from yomitori.validation.registry import Finding, Severity, ValidationContext, rule, validator

__all__ = ["ERAS", "Era", "ParsedDate", "parse_date", "read_typed_date", "to_iso", "to_wareki", "as_written"]


@dataclass(frozen=True)
class Era:
    name: str
    letter: str  # M, T, S, H, R as in "H31.4.30"
    start: dt.date  # the first day of 元年
    end: dt.date | None  # the last day, None for the current era

    def year_of(self, day: dt.date) -> int:
        return day.year - self.start.year + 1


# Dates of the accession (改元); 明治 counts from its proclamation (1868-10-23, Gregorian).
ERAS: tuple[Era, ...] = (
    Era("令和", "R", dt.date(2019, 5, 1), None),
    Era("平成", "H", dt.date(1989, 1, 8), dt.date(2019, 4, 30)),
    Era("昭和", "S", dt.date(1926, 12, 25), dt.date(1989, 1, 7)),
    Era("大正", "T", dt.date(1912, 7, 30), dt.date(1926, 12, 24)),
    Era("明治", "M", dt.date(1868, 10, 23), dt.date(1912, 7, 29)),
)
_BY_NAME = {e.name: e for e in ERAS} | {e.letter: e for e in ERAS} | {e.letter.lower(): e for e in ERAS}

_ERA_RE = re.compile(
    r"^(?P<era>令和|平成|昭和|大正|明治|[RHSTMrhstm])\s*(?P<y>元|\d{1,2})\s*[年./-]\s*(?P<m>\d{1,2})\s*[月./-]\s*"
    r"(?P<d>\d{1,2})\s*日?$"
)
_WESTERN_RE = re.compile(
    r"^(?:西暦)?\s*(?P<y>\d{4})\s*[年./-]\s*(?P<m>\d{1,2})\s*[月./-]\s*(?P<d>\d{1,2})\s*日?$"
)
_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ParsedDate:
    """A parsed date and, for 和暦, whether the era year was outside the era (平成32年,
    令和元年4月30日): the date is then computed arithmetically from the era's first year."""

    date: dt.date
    era: str | None = None
    era_problem: str | None = None  # "era_year_out_of_range" or None


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).strip()
    text = re.sub(r"\s+", "", text)
    # kanji numerals in dates (令和六年四月一日) → digits
    if re.search(r"[〇一二三四五六七八九十]", text):
        import kanjize

        def conv(m: re.Match) -> str:
            try:
                return str(kanjize.kanji2number(m.group(0)))
            except (ValueError, KeyError, TypeError):
                return m.group(0)

        text = re.sub(r"[〇一二三四五六七八九十]+", conv, text)
    return text


def parse_date(text: str) -> ParsedDate | None:
    """Parse ISO, 西暦 (``2024年4月1日``, ``2024/4/1``) or 和暦 (``令和元年5月1日``, ``R1.5.1``,
    ``平成三十一年四月三十日``). None when the text is not a real calendar date in one of these
    forms. An era year outside its era parses with ``era_problem`` set."""
    s = _clean(text)
    m = _ERA_RE.match(s)
    if m:
        era = _BY_NAME[m.group("era")]
        year = 1 if m.group("y") == "元" else int(m.group("y"))
        if year < 1:
            return None
        try:
            day = dt.date(era.start.year + year - 1, int(m.group("m")), int(m.group("d")))
        except ValueError:
            return None
        inside = day >= era.start and (era.end is None or day <= era.end)
        return ParsedDate(day, era.name, None if inside else "era_year_out_of_range")
    m = _WESTERN_RE.match(s)
    if m:
        try:
            return ParsedDate(dt.date(int(m.group("y")), int(m.group("m")), int(m.group("d"))))
        except ValueError:
            return None
    return None


_SHORT_RE = re.compile(r"^(?P<y>元|\d{1,2})[年./-](?P<m>\d{1,2})[月./-](?P<d>\d{1,2})日?$")
SEIREKI = "西暦"


def read_typed_date(text: str, era: str | None = None) -> ParsedDate | None:
    """A date a reviewer typed: everything :func:`parse_date` reads (``令和8年9月8日``,
    ``R8.9.8``, ``2026/9/8``, ISO) and, with ``era`` chosen (令和, R, 平成 ...), the era year
    without its era: ``8/9/8``, ``8.9.8``, ``8年9月8日``. None when it is none of these."""
    parsed = parse_date(text)
    if parsed is not None or not era or era == SEIREKI or era not in _BY_NAME:
        return parsed
    m = _SHORT_RE.match(_clean(text))
    if m is None:
        return None
    return parse_date(f"{_BY_NAME[era].name}{m.group('y')}年{m.group('m')}月{m.group('d')}日")


def as_written(value: str, raw: str = "") -> tuple[str, str]:
    """How an ISO date was written, and its era: the 和暦 as read when the raw text is one
    (``令和8年9月8日``, ``令和``), else the value's 和暦 with ``西暦`` as the era when the raw was
    西暦 (or nothing was read). ``("", "")`` when the value is not an ISO date."""
    if _iso_date(value) is None:
        return "", ""
    parsed = parse_date(raw) if raw else None
    try:
        wareki = to_wareki(value)
    except ValueError:
        return "", ""
    if parsed is not None and parsed.era and parsed.date.isoformat() == value:
        return wareki, parsed.era
    return wareki, SEIREKI if parsed is not None else wareki[:2]


def to_iso(text: str, *, strict: bool = True) -> str:
    """``to_iso("令和元年5月1日") == "2019-05-01"``. Raises ValueError (without echoing the text)
    when the text is not a real date; with ``strict`` also for an era year outside its era
    (平成32年…), otherwise such a date is converted arithmetically (平成32年 = 2020)."""
    parsed = parse_date(text)
    if parsed is None:
        raise ValueError("not a real date in a known form (e.g. 2024-04-01, 2024年4月1日, 令和元年5月1日)")
    if strict and parsed.era_problem:
        raise ValueError("the era year lies outside that era (e.g. 平成32年; use 令和2年)")
    return parsed.date.isoformat()


def to_wareki(day: dt.date | str, *, gannen: bool = True) -> str:
    """``to_wareki(date(2019, 5, 1)) == "令和元年5月1日"`` (``gannen=False`` gives 令和1年).
    Accepts a date or an ISO string; dates before 明治 raise ValueError."""
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    for era in ERAS:
        if day >= era.start:
            y = era.year_of(day)
            year = "元" if (y == 1 and gannen) else str(y)
            return f"{era.name}{year}年{day.month}月{day.day}日"
    raise ValueError("dates before 明治 have no 和暦 form here")


# --- field validators --------------------------------------------------------------------------

MIN_DATE = dt.date(1868, 1, 1)
MAX_DATE = dt.date(2200, 12, 31)


def _iso_date(value: str) -> dt.date | None:
    if not _ISO_RE.match(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


@validator("date")
def date(value: str, ctx: ValidationContext) -> list[Finding]:
    """A real calendar date. The ISO value must exist (2023-02-29 does not); a written 和暦 year
    outside its era (平成32年) goes to review with the same day as a suggestion; a non-ISO value
    typed by a reviewer is accepted for review with its ISO form suggested."""
    day = _iso_date(value)
    if day is None:
        parsed = parse_date(value)
        if parsed is None:
            return [Finding("date_not_real" if _ISO_RE.match(value) else "date_invalid")]
        return [
            Finding(
                "date_not_normalised",
                Severity.REVIEW,
                Suggestion(value=parsed.date.isoformat(), reason="date_iso"),
            )
        ]
    if not (MIN_DATE <= day <= MAX_DATE):
        return [Finding("date_out_of_range")]
    name = ctx.field.name if ctx.field else None
    raw = ctx.raws.get(name, "") if name else ""
    if raw:
        parsed = parse_date(raw)
        if parsed is not None and parsed.era_problem:
            return [
                Finding(
                    "era_year_out_of_range",
                    Severity.REVIEW,
                    Suggestion(value=parsed.date.isoformat(), reason="era_corrected"),
                )
            ]
    return []


@validator("past_date")
def past_date(value: str, ctx: ValidationContext, max_age_years: int = 125) -> list[Finding]:
    """A date that has already happened (生年月日): a future date is invalid; one more than
    ``max_age_years`` ago goes to review."""
    day = _iso_date(value)
    if day is None:
        return []  # the `date` validator reports the format
    if day > ctx.today:
        return [Finding("date_in_future")]
    if (ctx.today - day).days > max_age_years * 366:
        return [Finding("date_implausibly_old", Severity.REVIEW)]
    return []


@validator("recent_date")
def recent_date(
    value: str, ctx: ValidationContext, past_days: int = 365, future_days: int = 0
) -> list[Finding]:
    """A date near the processing day (申込日, 寄附年月日): more than ``future_days`` after today
    or ``past_days`` before it goes to review."""
    day = _iso_date(value)
    if day is None:
        return []
    if day > ctx.today + dt.timedelta(days=future_days):
        return [Finding("date_in_future", Severity.REVIEW)]
    if day < ctx.today - dt.timedelta(days=past_days):
        return [Finding("date_too_old", Severity.REVIEW)]
    return []


# --- rules ---------------------------------------------------------------------------------------


def _option(ctx: ValidationContext, key: str, default: Any) -> Any:
    return ctx.options.get(key, default)


@rule("date_window")
def date_window(
    ctx: ValidationContext, field: str, reference: str, before_days: int = 30, after_days: int = 90
) -> list[Finding]:
    """``field`` lies no more than ``before_days`` before and ``after_days`` after ``reference``
    (使用開始日 against 申込日). Deployment options ``<field>_before_days`` and
    ``<field>_after_days`` override the form's arguments. Both fields go to review: either
    may have been misread."""
    day, ref = _iso_date(ctx.values.get(field, "")), _iso_date(ctx.values.get(reference, ""))
    if day is None or ref is None:
        return []
    before = int(_option(ctx, f"{field}_before_days", before_days))
    after = int(_option(ctx, f"{field}_after_days", after_days))
    if day < ref - dt.timedelta(days=before):
        code = "date_before_window"
    elif day > ref + dt.timedelta(days=after):
        code = "date_after_window"
    else:
        return []
    return [Finding(code, Severity.REVIEW, field=field), Finding(code, Severity.REVIEW, field=reference)]


@rule("after_date_on_record")
def after_date_on_record(
    ctx: ValidationContext, field: str, option: str = "start_on_record"
) -> list[Finding]:
    """``field`` (使用中止日) is after the date on record (the service start known to the core
    system), given as deployment option ``option``: an ISO date, or a callable taking the
    document's values and returning an ISO date or None. Nothing to check when unknown."""
    known = ctx.options.get(option)
    if callable(known):
        known = known(ctx.values)
    ref = _iso_date(known) if isinstance(known, str) else known if isinstance(known, dt.date) else None
    day = _iso_date(ctx.values.get(field, ""))
    if ref is None or day is None or day > ref:
        return []
    return [Finding("date_not_after_record", Severity.REVIEW, field=field)]

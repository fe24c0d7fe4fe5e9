"""Error injection: how many realistic OCR misreads do the validators catch?

Takes correct values (the truth fields of documents), changes one field at a time the way OCR
gets things wrong (0↔6↔8, 1↔7, 3↔8, 5↔6, ソ↔ン, シ↔ツ, 日↔目, 口↔ロ, a dropped or doubled
character, swapped adjacent digits), runs that form's field validators and rules with the
other fields true, and counts the misread as caught when the field would not be accepted
(any finding, ignoring confidence). A misread that happens to be another valid value (a real
postal code of the same town, a date one day off) still counts: that is the honest figure.
Runs on one machine (``yomitori eval --inject-errors``). Reports counts only, never values.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Mapping
from typing import Any

from yomitori.forms.schema import FieldDef, FieldType, FormDefinition
from yomitori.validation.confusions import CHAR_NEIGHBOURS, DIGIT_NEIGHBOURS
from yomitori.validation.registry import Finding, ValidationContext, get_rule
from yomitori.validation.routing import field_findings

INJECTABLE = (FieldType.TEXT, FieldType.KANA, FieldType.DIGITS, FieldType.DATE)
# How often each kind of misread is drawn (substitutions dominate real OCR errors).
OPERATIONS = (("substitute", 0.55), ("swap", 0.15), ("drop", 0.15), ("double", 0.15))

# Groups the targets are stated for (docs/validators.md), by the validators a field carries.
GROUPS = {
    "my_number": {"my_number"},
    "postal_address": {"postal_code_exists", "address_jp"},
    "bank_branch": {"bank_code_exists", "branch_code_exists"},
    "phone": {"phone_jp"},
}


def _positions(value: str, chars: Mapping[str, str]) -> list[int]:
    return [i for i, ch in enumerate(value) if ch in chars]


def misread(value: str, field_type: str, rng: random.Random) -> str | None:
    """One OCR-like misread of ``value`` (a normalised value of ``field_type``), or None when
    no misread applies. Dates are misread in their digits (as the cells are read)."""
    if field_type == FieldType.DATE:
        digits = value.replace("-", "")
        if len(digits) != 8 or not digits.isdigit():
            return None
        wrong = misread(digits, FieldType.DIGITS, rng)
        if wrong is None or len(wrong) != 8:
            # a dropped or doubled date digit shifts the cells: read as one digit off instead
            wrong = _substitute(digits, DIGIT_NEIGHBOURS, rng)
        return None if wrong is None else f"{wrong[:4]}-{wrong[4:6]}-{wrong[6:]}"
    neighbours = DIGIT_NEIGHBOURS if field_type == FieldType.DIGITS else CHAR_NEIGHBOURS
    ops = [name for name, _ in OPERATIONS]
    weights = [w for _, w in OPERATIONS]
    for _ in range(8):
        op = rng.choices(ops, weights)[0]
        out = {
            "substitute": lambda: _substitute(value, neighbours, rng),
            "swap": lambda: _swap(value, rng),
            "drop": lambda: _drop(value, rng),
            "double": lambda: _double(value, rng),
        }[op]()
        if out is not None and out != value:
            return out
    return None


def _substitute(value: str, neighbours: Mapping[str, str], rng: random.Random) -> str | None:
    spots = _positions(value, neighbours)
    if not spots:
        return None
    i = rng.choice(spots)
    return value[:i] + rng.choice(neighbours[value[i]]) + value[i + 1 :]


def _swap(value: str, rng: random.Random) -> str | None:
    spots = [
        i
        for i in range(len(value) - 1)
        if value[i].isdigit() and value[i + 1].isdigit() and value[i] != value[i + 1]
    ]
    if not spots:
        return None
    i = rng.choice(spots)
    return value[:i] + value[i + 1] + value[i] + value[i + 2 :]


def _drop(value: str, rng: random.Random) -> str | None:
    spots = [i for i, ch in enumerate(value) if ch not in " \u3000-"]
    if len(spots) < 2:
        return None
    i = rng.choice(spots)
    return value[:i] + value[i + 1 :]


def _double(value: str, rng: random.Random) -> str | None:
    spots = [i for i, ch in enumerate(value) if ch not in " \u3000-"]
    if not spots:
        return None
    i = rng.choice(spots)
    return value[:i] + value[i] + value[i:]


def findings_for(
    form: FormDefinition, f: FieldDef, values: Mapping[str, str], ctx_args: Mapping[str, Any]
) -> list[Finding]:
    """Every finding the field validators and the form's rules give field ``f`` for ``values``."""
    ctx = ValidationContext(form=form, values=values, **ctx_args)
    out = field_findings(f, values.get(f.name, ""), ctx)
    ctx.field = None
    for spec in form.rules:
        out.extend(x for x in get_rule(spec.name)(ctx, **spec.args) if x.field == f.name)
    return out


def _group_of(f: FieldDef) -> str:
    names = {v.name for v in f.validators}
    for group, validators in GROUPS.items():
        if names & validators:
            return group
    if f.type == FieldType.DATE:
        return "date"
    return "other"


def _tally(counts: dict[str, dict[str, int]], key: str, caught: bool | None) -> None:
    c = counts.setdefault(key, {"injected": 0, "caught": 0, "true_value_flagged": 0})
    if caught is None:
        c["true_value_flagged"] += 1
        return
    c["injected"] += 1
    c["caught"] += int(caught)


def _rates(counts: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    return {
        k: {**c, "caught_share": round(c["caught"] / c["injected"], 4) if c["injected"] else None}
        for k, c in sorted(counts.items())
    }


def injection_report(
    form: FormDefinition,
    truth_fields_list: Iterable[Mapping[str, str]],
    *,
    seed: int = 0,
    today: dt.date | None = None,
    options: Mapping[str, Any] | None = None,
    per_value: int = 1,
) -> dict:
    """Inject ``per_value`` misreads into every non-empty text/kana/digits/date value of every
    document and report the share caught per field, per field type and per group
    (my_number, postal_address, bank_branch, date, phone). A true value that the validators
    already flag is not injected (counted as ``true_value_flagged``: a false review to look
    into). Deterministic for a given ``seed``. Counts only, no values."""
    rng = random.Random(seed)
    ctx_args = {"today": today or dt.date.today(), "options": dict(options or {})}
    per_field: dict[str, dict[str, int]] = {}
    per_type: dict[str, dict[str, int]] = {}
    per_group: dict[str, dict[str, int]] = {}
    documents = 0
    for truth in truth_fields_list:
        documents += 1
        values = {f.name: str(truth.get(f.name, "")) for f in form.fields}
        for f in form.fields:
            value = values[f.name]
            if f.type not in INJECTABLE or not value:
                continue
            group = _group_of(f)
            if findings_for(form, f, values, ctx_args):
                for counts, key in ((per_field, f.name), (per_type, str(f.type)), (per_group, group)):
                    _tally(counts, key, None)
                continue
            for _ in range(per_value):
                wrong = misread(value, f.type, rng)
                if wrong is None:
                    continue
                caught = bool(findings_for(form, f, {**values, f.name: wrong}, ctx_args))
                for counts, key in ((per_field, f.name), (per_type, str(f.type)), (per_group, group)):
                    _tally(counts, key, caught)
    total = {
        "injected": sum(c["injected"] for c in per_field.values()),
        "caught": sum(c["caught"] for c in per_field.values()),
    }
    total["caught_share"] = round(total["caught"] / total["injected"], 4) if total["injected"] else None
    return {
        "form_id": form.id,
        "seed": seed,
        "documents": documents,
        "per_value": per_value,
        "fields": _rates(per_field),
        "types": _rates(per_type),
        "groups": _rates(per_group),
        "total": total,
    }

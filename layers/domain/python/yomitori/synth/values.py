"""Realistic values for synthetic forms: real places, banks, phones and My Numbers
(:mod:`yomitori.synth.sources`), names with readings, valid dates in 和暦 or 西暦.

A field's generator is looked up by the field's name (exact, then by suffix), then by the names
of its validators, then by its type, so a new form definition works without code changes.
Everything draws from the document's own ``numpy`` Generator: same seed, same values.
Runs on one machine (synth, demo, tests).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from yomitori.forms.schema import FieldDef, FieldType, FormDefinition
from yomitori.normalise import normalise_value
from yomitori.synth.names import FAMILY_NAMES, GIVEN_NAMES
from yomitori.synth.sources import Place, sample_bank, sample_my_number, sample_phone, sample_place

# Era start dates (the first day of year 1 of each era).
ERAS: tuple[tuple[str, dt.date], ...] = (
    ("令和", dt.date(2019, 5, 1)),
    ("平成", dt.date(1989, 1, 8)),
    ("昭和", dt.date(1926, 12, 25)),
    ("大正", dt.date(1912, 7, 30)),
)
WESTERN = "西暦"
OPTIONAL_EMPTY_SHARE = 0.2
HOUSEHOLD_SIZES = np.array([1, 2, 3, 4, 5, 6, 7, 8])
HOUSEHOLD_WEIGHTS = np.array([0.28, 0.3, 0.18, 0.14, 0.05, 0.03, 0.015, 0.005])
DONATION_AMOUNTS = (5000, 10000, 10000, 20000, 30000, 30000, 50000, 100000)
TEXT_PHRASES = ("特になし", "転居のため", "二世帯住宅", "午前中希望", "管理会社経由")
COMPANY_NAMES = ("株式会社山田商事", "有限会社みどり工業", "株式会社さくら食品", "合同会社青葉企画",
                 "株式会社東西物流", "医療法人松井会", "株式会社北斗電機", "社会福祉法人ひまわり会")
# People of a form other than the main one (field name prefixes): they share the family name.
FAMILY_PREFIX = re.compile(r"^(guardian_2|spouse|child|sibling_\d+|dependant_\d+)_")
PERSON_GROUP = re.compile(r"^((?:guardian|sibling|dependant)_\d+)_")


@dataclass(frozen=True)
class WrittenDate:
    """A date as written on a form: the calendar ticked (西暦 or an era) and the date."""

    date: dt.date
    calendar: str

    @property
    def year_written(self) -> int:
        """The year as written in the cells: western year, or the era year (元年 is 1)."""
        if self.calendar == WESTERN:
            return self.date.year
        start = dict(ERAS)[self.calendar]
        return self.date.year - start.year + 1


Value = str | WrittenDate


def era_of(day: dt.date) -> str:
    for name, start in ERAS:
        if day >= start:
            return name
    return WESTERN


def truth_value(field: FieldDef, value: Value) -> str:
    """The normalised value (what results and truth files carry) of a written value."""
    if isinstance(value, WrittenDate):
        return value.date.isoformat()
    return normalise_value(field.type, value, field.charset)


@dataclass(frozen=True)
class Person:
    family: str
    family_kana: str
    given: str
    given_kana: str
    gender: str

    @property
    def name(self) -> str:
        return f"{self.family}\u3000{self.given}"

    @property
    def kana(self) -> str:
        return f"{self.family_kana}\u3000{self.given_kana}"


def written_date(field: FieldDef, day: dt.date, rng: np.random.Generator,
                 western_share: float) -> WrittenDate:
    """Tick the era of ``day`` (or 西暦) among the calendars the field offers."""
    era = era_of(day)
    can_era = era in field.eras
    if WESTERN in field.eras and (not can_era or rng.random() < western_share):
        return WrittenDate(day, WESTERN)
    return WrittenDate(day, era if can_era else field.eras[0])


class DocumentValues:
    """One synthetic document's person, places and bank account, drawn lazily so that fields
    that belong together (postal code and address, bank and branch) agree."""

    def __init__(self, rng: np.random.Generator, today: dt.date):
        self.rng = rng
        self.today = today
        self._person: Person | None = None
        self._places: dict[str, Place] = {}
        self._bank: tuple[str, str] | None = None
        self._empty: dict[str, bool] = {}
        self._people: dict[str, Person] = {}
        self._salary: dict[str, int] | None = None
        self._chosen: dict[str, set[str]] = {}

    def person_for(self, field_name: str) -> Person:
        """The person a field is about, by its name's prefix: the main person, or a family
        member (``guardian_2_``, ``child_``, ``sibling_1_``, ``dependant_1_``) with the same
        family name."""
        m = FAMILY_PREFIX.match(field_name)
        if not m:
            return self.person
        key = m.group(1)
        if key not in self._people:
            main = self.person
            given, given_kana, gender = GIVEN_NAMES[int(self.rng.integers(len(GIVEN_NAMES)))]
            self._people[key] = Person(main.family, main.family_kana, given, given_kana, gender)
        return self._people[key]

    def family_birth_date(self, field: FieldDef) -> WrittenDate:
        """A birth date by who the field is about: a child under 6, a sibling under 12, a
        guardian aged 20-55, anyone else as :meth:`birth_date`."""
        ages = {"child": (0, 5), "sibling": (0, 11), "guardian": (20, 55)}
        kind = field.name.split("_")[0]
        if kind not in ages:
            return self.birth_date(field)
        young, old = ages[kind]
        days = int(self.rng.integers(young * 365 + 30, (old + 1) * 365 - 30))
        day = self.today - dt.timedelta(days=days)
        return written_date(field, day, self.rng, western_share=0.3)

    @property
    def salary(self) -> dict[str, int]:
        """A year's pay and what 給与支払報告書 derives from it (給与所得控除 of 令和2年分 on)."""
        if self._salary is None:
            pay = int(self.rng.integers(120, 900)) * 10_000 + int(self.rng.integers(0, 10)) * 1_000
            if pay <= 1_625_000:
                deduction = 550_000
            elif pay <= 1_800_000:
                deduction = pay * 40 // 100 - 100_000
            elif pay <= 3_600_000:
                deduction = pay * 30 // 100 + 80_000
            elif pay <= 6_600_000:
                deduction = pay * 20 // 100 + 440_000
            elif pay <= 8_500_000:
                deduction = pay * 10 // 100 + 1_100_000
            else:
                deduction = 1_950_000
            after = max(0, pay - deduction)
            deductions = min(after, 480_000 + int(self.rng.integers(0, 120)) * 5_000)
            tax = max(0, (after - deductions) // 1000 * 1000) * 5 // 100 // 100 * 100
            self._salary = {"pay": pay, "after": after, "deductions": deductions, "tax": tax}
        return self._salary

    def distinct_option(self, field: FieldDef, group: str) -> str:
        """An option not yet chosen by another field of ``group`` (第1〜第3希望)."""
        used = self._chosen.setdefault(group, set())
        values = [o.value for o in field.options if o.value not in used] or [o.value for o in field.options]
        value = values[int(self.rng.integers(len(values)))]
        used.add(value)
        return value

    @property
    def person(self) -> Person:
        if self._person is None:
            fam, fam_kana = FAMILY_NAMES[int(self.rng.integers(len(FAMILY_NAMES)))]
            given, given_kana, gender = GIVEN_NAMES[int(self.rng.integers(len(GIVEN_NAMES)))]
            self._person = Person(fam, fam_kana, given, given_kana, gender)
        return self._person

    def place(self, prefix: str) -> Place:
        if prefix not in self._places:
            self._places[prefix] = sample_place(self.rng)
        return self._places[prefix]

    @property
    def bank(self) -> tuple[str, str]:
        if self._bank is None:
            self._bank = sample_bank(self.rng)
        return self._bank

    def leave_empty(self, group: str) -> bool:
        """Whether the optional fields of ``group`` stay empty (decided once per group)."""
        if group not in self._empty:
            self._empty[group] = bool(self.rng.random() < OPTIONAL_EMPTY_SHARE)
        return self._empty[group]

    def recent_date(self, field: FieldDef) -> WrittenDate:
        if "application" in field.name or "donation" in field.name:  # these lie in the past
            offset = -int(self.rng.integers(0, 90))
        else:
            offset = int(self.rng.integers(-60, 31))
        day = self.today + dt.timedelta(days=offset)
        return written_date(field, day, self.rng, western_share=0.35)

    def birth_date(self, field: FieldDef) -> WrittenDate:
        first, last = dt.date(1935, 1, 1).toordinal(), dt.date(2005, 12, 31).toordinal()
        day = dt.date.fromordinal(int(self.rng.integers(first, last + 1)))
        return written_date(field, day, self.rng, western_share=0.25)

    def digits(self, field: FieldDef) -> str:
        length = field.cells or 6
        for spec in field.validators:
            length = int(spec.args.get("length", length))
        return "".join(str(d) for d in self.rng.integers(0, 10, length))

    def option(self, field: FieldDef, preferred: str | None = None, share: float = 0.0) -> str:
        values = [o.value for o in field.options]
        if preferred in values and self.rng.random() < share:
            return preferred
        return values[int(self.rng.integers(len(values)))]


Generator = Callable[[FieldDef, DocumentValues], Value]


def _prefix(field: FieldDef, suffix: str) -> str:
    return field.name[: -len(suffix)] if field.name.endswith(suffix) else ""


def _household(f: FieldDef, d: DocumentValues) -> str:
    return str(int(d.rng.choice(HOUSEHOLD_SIZES, p=HOUSEHOLD_WEIGHTS)))


def _amount(f: FieldDef, d: DocumentValues) -> str:
    if d.rng.random() < 0.2:
        return str(int(d.rng.integers(2, 300)) * 1000)
    return str(DONATION_AMOUNTS[int(d.rng.integers(len(DONATION_AMOUNTS)))])


def _postal(f: FieldDef, d: DocumentValues) -> str:
    return d.place(_prefix(f, "postal_code")).postal_code


def _phone(f: FieldDef, d: DocumentValues) -> str:
    return sample_phone(d.rng)


def _checkbox(f: FieldDef, d: DocumentValues) -> str:
    return "true" if f.required or d.rng.random() < 0.7 else "false"


def _corporate_number(rng: np.random.Generator) -> str:
    from yomitori.validation.corporate_number import check_digit

    base = "".join(str(x) for x in rng.integers(0, 10, 12))
    return str(check_digit(base)) + base


def _payer_number(f: FieldDef, d: DocumentValues) -> str:
    return sample_my_number(d.rng) if d.rng.random() < 0.15 else _corporate_number(d.rng)


def _text(f: FieldDef, d: DocumentValues) -> str:
    return TEXT_PHRASES[int(d.rng.integers(len(TEXT_PHRASES)))]


# Exact field names first, then name suffixes (longest first), then validators, then types.
BY_NAME: dict[str, Generator] = {
    "name": lambda f, d: d.person.name,
    "account_holder": lambda f, d: d.person.kana,
    "account_type": lambda f, d: d.option(f, preferred="普通", share=0.85),
    "account_number": lambda f, d: d.digits(f),
    "bank_code": lambda f, d: d.bank[0],
    "branch_code": lambda f, d: d.bank[1],
    "household_size": _household,
    "my_number": lambda f, d: sample_my_number(d.rng),
    "gender": lambda f, d: d.option(f, preferred=d.person.gender, share=1.0),
    "payer_number": _payer_number,
    "payer_name": lambda f, d: COMPANY_NAMES[int(d.rng.integers(len(COMPANY_NAMES)))],
    "salary_payment": lambda f, d: str(d.salary["pay"]),
    "salary_after_deduction": lambda f, d: str(d.salary["after"]),
    "deductions_total": lambda f, d: str(d.salary["deductions"]),
    "withholding_tax": lambda f, d: str(d.salary["tax"]),
    "facility_1": lambda f, d: d.distinct_option(f, "facility"),
    "facility_2": lambda f, d: d.distinct_option(f, "facility"),
    "facility_3": lambda f, d: d.distinct_option(f, "facility"),
}
BY_SUFFIX: tuple[tuple[str, Generator], ...] = (
    ("_name_kana", lambda f, d: d.person_for(f.name).kana),
    ("_name", lambda f, d: d.person_for(f.name).name),
    ("_my_number", lambda f, d: sample_my_number(d.rng)),
    ("_birth_date", lambda f, d: d.family_birth_date(f)),
    ("postal_code", _postal),
    ("birth_date", lambda f, d: d.birth_date(f)),
    ("name_kana", lambda f, d: d.person.kana),
    ("address", lambda f, d: d.place(_prefix(f, "address")).address),
    ("amount", _amount),
    ("phone", _phone),
    ("_date", lambda f, d: d.recent_date(f)),
    ("_kana", lambda f, d: d.person.kana),
)
BY_VALIDATOR: dict[str, Generator] = {
    "postal_code_exists": _postal,
    "phone_jp": _phone,
    "bank_code_exists": BY_NAME["bank_code"],
    "branch_code_exists": BY_NAME["branch_code"],
    "katakana": lambda f, d: d.person.kana,
    "household_size": _household,
    "my_number": BY_NAME["my_number"],
    "date": lambda f, d: d.recent_date(f),
}
BY_TYPE: dict[FieldType, Generator] = {
    FieldType.TEXT: _text,
    FieldType.KANA: lambda f, d: d.person.kana,
    FieldType.DIGITS: lambda f, d: d.digits(f),
    FieldType.DATE: lambda f, d: d.recent_date(f),
    FieldType.CHECKBOX: _checkbox,
    FieldType.CHOICE: lambda f, d: d.option(f),
}


def generator_for(field: FieldDef) -> Generator:
    """The value generator of ``field``: by name, name suffix, validator, then type."""
    if field.name in BY_NAME:
        return BY_NAME[field.name]
    for suffix, gen in BY_SUFFIX:
        if field.name.endswith(suffix):
            return gen
    for spec in field.validators:
        if spec.name in BY_VALIDATOR:
            return BY_VALIDATOR[spec.name]
    return BY_TYPE[field.type]


def _empty_group(field: FieldDef) -> str:
    # a second guardian, a sibling or a dependant is there with all their fields, or not at all
    m = PERSON_GROUP.match(field.name)
    if m:
        return "person:" + m.group(1)
    # optional postal code and address of the same place are empty together
    for suffix in ("postal_code", "address"):
        if field.name.endswith(suffix):
            return "place:" + _prefix(field, suffix)
    return field.name


def _required_by_rules(form: FormDefinition, values: dict[str, Value], today: dt.date) -> list[FieldDef]:
    """Empty fields that the form's rules require given the other values (``required_when``:
    the new address when the final bill is posted), found by running the rules themselves."""
    from yomitori.validation.registry import ValidationContext, get_rule
    from yomitori.validation.routing import REQUIRED

    truth = {f.name: truth_value(f, values[f.name]) for f in form.fields}
    ctx = ValidationContext(form=form, values=truth, today=today)
    findings = [x for spec in form.rules for x in get_rule(spec.name)(ctx, **spec.args)]
    names = {x.field for x in findings if x.code == REQUIRED}
    return [f for f in form.fields if f.name in names and values[f.name] == ""]


def generate_values(form: FormDefinition, rng: np.random.Generator, today: dt.date) -> dict[str, Value]:
    """A written value for every field of ``form`` ("" for an optional field left empty;
    checkboxes "true"/"false", choices the option value, dates a :class:`WrittenDate`).
    Optional fields that the form's rules require in this document are filled in."""
    doc = DocumentValues(rng, today)
    values: dict[str, Value] = {}
    for field in form.fields:
        optional = not field.required and field.type is not FieldType.CHECKBOX
        if optional and doc.leave_empty(_empty_group(field)):
            values[field.name] = ""
            continue
        values[field.name] = generator_for(field)(field, doc)
    for _ in range(3):  # a filled field can make another one required (address -> postal code)
        missing = _required_by_rules(form, values, today) if form.rules else []
        for field in missing:
            values[field.name] = generator_for(field)(field, doc)
        if not missing:
            break
    return values

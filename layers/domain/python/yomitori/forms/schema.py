"""Form definition schema (``forms/<form_id>.yaml``) and loading.

Runs everywhere (Lambda, agent, one machine). A definition is data: users add a form by
writing a YAML file, with no code change. Loading validates the file and fails with a
:class:`FormDefinitionError` that names the file, the field and the problem.
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from yomitori.errors import FormDefinitionError, UnknownFormError

FORMS_DIR_ENV = "YOMITORI_FORMS_DIR"

PAPER_SIZES_MM = {"A4": (210.0, 297.0), "A3": (297.0, 420.0), "B5": (182.0, 257.0)}


class FieldType(StrEnum):
    TEXT = "text"
    KANA = "kana"
    DIGITS = "digits"
    DATE = "date"
    CHECKBOX = "checkbox"
    CHOICE = "choice"


class Sensitivity(StrEnum):
    NORMAL = "normal"
    PERSONAL = "personal"
    MY_NUMBER = "my_number"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Box(_Strict):
    """A rectangle in millimetres from the top-left corner of the page."""

    x: float = Field(ge=0)
    y: float = Field(ge=0)
    w: float = Field(gt=0)
    h: float = Field(gt=0)

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h


class ValidatorSpec(_Strict):
    """A validator named in the registry, with its keyword arguments."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        # `validators: [required, {name: digits, args: {length: 7}}]` both work.
        if isinstance(data, str):
            return {"name": data}
        return data


class Option(_Strict):
    """One tick box of a ``choice`` field."""

    value: str
    label: str
    box: Box


class DateParts(_Strict):
    """Where the numbers of a date printed as 「令和　年　月　日」 go on an existing form: the
    gaps left for year, month and day, and (for 「　年　月　日」) the gap for a handwritten era."""

    year: Box
    month: Box
    day: Box
    era: Box | None = None
    # 「　　年」 with one gap for both: the era is written by hand before the year (令和7, R7)
    era_in_year: bool = False


VERIFY_HELP = (
    "write 'verify: double' (always typed a second time) or 'verify: below 0.99' (only when the "
    "reader's confidence is below that number, between 0 and 1)"
)


class Verify(_Strict):
    """Double entry (ベリファイ) of a field: ``verify: double`` (every time) or
    ``verify: below 0.99`` (only when the reader's confidence was below the number)."""

    mode: Literal["double", "below"]
    below: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return data
        text = str(data).strip() if isinstance(data, str) else None
        if text == "double":
            return {"mode": "double"}
        parts = text.split() if text else []
        if len(parts) == 2 and parts[0] == "below":
            try:
                t = float(parts[1])
            except ValueError:
                t = -1.0
            if 0.0 < t <= 1.0:
                return {"mode": "below", "below": t}
        raise ValueError(f"verify: {data!r} is not understood; {VERIFY_HELP}")

    @model_serializer
    def _as_written(self) -> str:  # dumped as written in the YAML (the template editor saves it)
        return "double" if self.mode == "double" else f"below {self.below:g}"

    def applies(self, confidence: float) -> bool:
        """Whether a field read with ``confidence`` must be typed a second time."""
        return self.mode == "double" or confidence < (self.below or 0.0)


class OfficeArea(_Strict):
    """A part of an existing form kept for the office (受付印, 整理番号, お届け印, a table):
    never read, and left out of alignment so a stamp there cannot disturb it."""

    name: str
    box: Box


class FieldDef(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    type: FieldType
    box: Box
    cells: int | None = Field(default=None, ge=1, le=40)
    required: bool = False
    sensitivity: Sensitivity = Sensitivity.NORMAL
    validators: list[ValidatorSpec] = Field(default_factory=list)
    options: list[Option] = Field(default_factory=list)
    # Characters the writer may use (narrows the OCR alphabet), e.g. "0123456789-" for phones.
    charset: str | None = None
    # Per-field override of the confidence threshold of its type (0..1).
    threshold: float | None = Field(default=None, ge=0, le=1)
    # Printed hint under the box, e.g. "(例) 03-1234-5678"; not read.
    hint: str | None = None
    # Date fields: the calendars the writer can tick (西暦 and eras).
    eras: list[str] = Field(default_factory=lambda: ["西暦", "令和", "平成", "昭和"])
    # Existing forms. ``marking: circle``: the options' boxes are printed words a person circles
    # (（自宅・携帯・勤務先）) instead of tick boxes.
    marking: Literal["tick", "circle"] = "tick"
    # A date printed as 「令和　年　月　日」: the gaps for the numbers. The era is then printed
    # (one entry in ``eras``), circled among printed eras (``options``, ``marking: circle``) or
    # handwritten in ``parts.era``.
    parts: DateParts | None = None
    # A unit printed after the box (円, 人): part of the form, not of the value.
    unit: str | None = None
    # Which page of a several-page form (``pages: N``) the field is on.
    page: int = Field(default=1, ge=1)
    # Double entry (ベリファイ): ``double`` or ``below 0.99`` (see :class:`Verify`).
    verify: Verify | None = None

    @model_validator(mode="after")
    def _type_rules(self) -> FieldDef:
        if self.type is FieldType.CHOICE and len(self.options) < 2:
            raise ValueError("a 'choice' field needs at least two 'options'")
        if self.parts is not None and self.type is not FieldType.DATE:
            raise ValueError("only 'date' fields take 'parts'")
        if self.type is FieldType.DATE and self.parts is not None:
            eras = sum([len(self.options) >= 2, self.parts.era is not None, self.parts.era_in_year,
                        len(self.eras) == 1])
            if eras != 1:
                raise ValueError("a date with 'parts' needs exactly one of: one printed era in 'eras', "
                                 "printed eras to circle in 'options', a handwritten era box 'parts.era', "
                                 "or 'parts.era_in_year'")
        elif self.type is not FieldType.CHOICE and self.options:
            raise ValueError("only 'choice' fields (and dates with 'parts') take 'options'")
        if self.cells is not None and self.type not in (FieldType.DIGITS, FieldType.KANA, FieldType.TEXT):
            raise ValueError("'cells' is for text, kana and digits fields")
        if self.verify is not None and self.type in (FieldType.CHECKBOX, FieldType.CHOICE):
            raise ValueError("'verify' is for fields a person types (text, kana, digits, date), "
                             "not for ticks and choices")
        return self

    @property
    def is_sensitive(self) -> bool:
        return self.sensitivity is not Sensitivity.NORMAL


class ExportColumn(_Strict):
    header: str
    field: str
    # A code looked up from a name written on the form (existing forms: 大阪信用金庫 → 1630):
    # ``bank_code`` from a bank name field, ``branch_code`` from a branch name field and the
    # bank name field ``bank_field``. Empty unless the name names exactly one bank or branch.
    lookup: Literal["bank_code", "branch_code"] | None = None
    bank_field: str | None = None

    @model_validator(mode="after")
    def _lookup(self) -> ExportColumn:
        if self.lookup == "branch_code" and not self.bank_field:
            raise ValueError("a 'branch_code' lookup needs the bank name field in 'bank_field'")
        return self

    @property
    def name(self) -> str:
        """The column's name in a database table: the field, or ``<field>_code`` for a lookup."""
        return f"{self.field}_code" if self.lookup else self.field


class ExportMapping(_Strict):
    """How the core system imports this form (column order, headers, encoding)."""

    columns: list[ExportColumn]
    encoding: Literal["cp932", "utf-8", "utf-8-sig"] = "cp932"
    newline: Literal["crlf", "lf"] = "crlf"


class FormDefinition(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    version: int = 1
    paper: Literal["A4", "A3", "B5"] = "A4"
    # Pages per document: a scanned file's pages are grouped in order, N to a document.
    pages: int = Field(default=1, ge=1, le=20)
    description: str | None = None
    fields: list[FieldDef]
    # Rules over several fields (cross-field validators), run after the field validators.
    rules: list[ValidatorSpec] = Field(default_factory=list)
    export: ExportMapping | None = None
    # ``yomitori``: printed by ``yomitori forms render`` (corner marks, form-code strip, drop-out
    # boxes). ``existing``: the office's own form, registered from a blank scan (``reference``,
    # a PNG beside this file) and aligned to it by its printed content.
    layout: Literal["yomitori", "existing"] = "yomitori"
    reference: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+\.png$")
    office_use: list[OfficeArea] = Field(default_factory=list)

    @field_validator("fields")
    @classmethod
    def _unique_names(cls, fields: list[FieldDef]) -> list[FieldDef]:
        seen: set[str] = set()
        for f in fields:
            if f.name in seen:
                raise ValueError(f"field name '{f.name}' is used twice")
            seen.add(f.name)
        return fields

    @model_validator(mode="after")
    def _inside_page(self) -> FormDefinition:
        width, height = self.page_size_mm
        for f in self.fields:
            if f.page > self.pages:
                raise ValueError(f"field '{f.name}': page {f.page} but the form has {self.pages} page(s)")
            boxes = [f.box, *(o.box for o in f.options)]
            if f.parts:
                boxes += [b for b in (f.parts.year, f.parts.month, f.parts.day, f.parts.era) if b]
            for b in boxes:
                if b.right > width or b.bottom > height:
                    raise ValueError(f"field '{f.name}': box lies outside the {self.paper} page")
        if self.export:
            names = {f.name for f in self.fields} | {"document_id", "batch_id", "source"}
            for col in self.export.columns:
                for name in (col.field, *([col.bank_field] if col.bank_field else [])):
                    if name not in names:
                        raise ValueError(f"export column '{col.header}' names unknown field '{name}'")
        return self

    @model_validator(mode="after")
    def _existing(self) -> FormDefinition:
        if self.layout == "existing" and not self.reference:
            raise ValueError("an 'existing' layout needs its 'reference' image (the blank scan)")
        if self.layout == "existing" and self.pages != 1:
            raise ValueError("an 'existing' layout is one page (one reference image) for now")
        if self.layout == "yomitori" and (self.reference or self.office_use):
            raise ValueError("'reference' and 'office_use' are for 'layout: existing'")
        return self

    @property
    def is_existing(self) -> bool:
        return self.layout == "existing"

    @property
    def page_size_mm(self) -> tuple[float, float]:
        return PAPER_SIZES_MM[self.paper]

    def field(self, name: str) -> FieldDef:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


def forms_dir() -> Path:
    """Where form definitions are read from: ``$YOMITORI_FORMS_DIR`` if set (the Lambda layer
    sets it to the copy it ships), else the repository's ``forms/``."""
    env = os.environ.get(FORMS_DIR_ENV)
    if env:
        return Path(env)
    # schema.py sits at <repo>/layers/domain/python/yomitori/forms/schema.py
    return Path(__file__).resolve().parents[5] / "forms"


def _field_path(data: Any, loc: tuple) -> str:
    """Turn ``('fields', 3, 'box', 'w')`` into ``fields[postal_code].box.w`` so users find it."""
    out: list[str] = []
    node = data
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            item = node[part]
            label = item.get("name") if isinstance(item, dict) else None
            out[-1] = f"{out[-1]}[{label if label else part}]"
            node = item
        else:
            out.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return ".".join(out)


def load_form_file(path: Path) -> FormDefinition:
    """Load and validate one form definition file."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise FormDefinitionError(f"{path}: file not found.") from e
    except yaml.YAMLError as e:
        raise FormDefinitionError(f"{path}: not valid YAML ({e}).") from e
    if not isinstance(data, dict):
        raise FormDefinitionError(f"{path}: expected a mapping with id, title and fields.")
    try:
        return FormDefinition.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            where = _field_path(data, tuple(p for p in err["loc"] if not str(p).startswith("function-")))
            problems.append(f"{where or '(top level)'}: {err['msg']}")
        raise FormDefinitionError(f"{path}: " + "; ".join(problems)) from None


@lru_cache(maxsize=64)
def _load_cached(path: str, mtime: float) -> FormDefinition:
    return load_form_file(Path(path))


def available_forms(directory: Path | None = None) -> list[str]:
    d = directory or forms_dir()
    return sorted(p.stem for p in d.glob("*.yaml"))


def reference_path(form: FormDefinition, directory: Path | None = None) -> Path:
    """The reference image (blank scan) of an existing form, beside its definition."""
    if not form.reference:
        raise FormDefinitionError(f"Form '{form.id}' has no reference image (it is not an existing form).")
    return (directory or forms_dir()) / form.reference


def load_form(form_id: str, directory: Path | None = None) -> FormDefinition:
    """Load the form ``form_id`` from the forms directory (cached by file and mtime)."""
    d = directory or forms_dir()
    path = d / f"{form_id}.yaml"
    if not path.is_file():
        known = ", ".join(available_forms(d)) or "none"
        raise UnknownFormError(f"No form definition '{form_id}' in {d} (installed: {known}).")
    form = _load_cached(str(path), path.stat().st_mtime)
    if form.id != form_id:
        raise FormDefinitionError(f"{path}: id '{form.id}' does not match the file name '{form_id}'.")
    return form

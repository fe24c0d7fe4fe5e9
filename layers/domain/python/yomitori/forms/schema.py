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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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
    # Which page of a several-page form (``pages: N``) the field is on.
    page: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _type_rules(self) -> FieldDef:
        if self.type is FieldType.CHOICE and len(self.options) < 2:
            raise ValueError("a 'choice' field needs at least two 'options'")
        if self.type is not FieldType.CHOICE and self.options:
            raise ValueError("only 'choice' fields take 'options'")
        if self.cells is not None and self.type not in (FieldType.DIGITS, FieldType.KANA, FieldType.TEXT):
            raise ValueError("'cells' is for text, kana and digits fields")
        return self

    @property
    def is_sensitive(self) -> bool:
        return self.sensitivity is not Sensitivity.NORMAL


class ExportColumn(_Strict):
    header: str
    field: str


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
            for b in boxes:
                if b.right > width or b.bottom > height:
                    raise ValueError(f"field '{f.name}': box lies outside the {self.paper} page")
        if self.export:
            names = {f.name for f in self.fields} | {"document_id", "batch_id", "source"}
            for col in self.export.columns:
                if col.field not in names:
                    raise ValueError(f"export column '{col.header}' names unknown field '{col.field}'")
        return self

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

"""Registering an office's existing paper form: ``yomitori forms new ID --from-scan BLANK``.

The blank (PNG, JPEG, TIFF or the first page of a PDF) is stored as the form's reference image
``ID.png`` beside its definition, and ``ID.yaml`` is written as a skeleton (``layout:
existing``, the paper size read from the scan, no fields yet). Fields are then drawn with
``yomitori forms edit ID`` or written in the YAML in millimetres on the reference page.
Runs on one machine.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from yomitori.errors import ExitCode, YomitoriError
from yomitori.extract.images import doc_error, load_grey
from yomitori.forms.schema import PAPER_SIZES_MM, FormDefinition, forms_dir, load_form_file

PDF_DPI = 300
# A scan is of a paper size when its sides' ratio is within this of the paper's.
ASPECT_TOLERANCE = 0.04


class FormRegistrationError(YomitoriError):
    code = "form_registration"
    exit_code = ExitCode.USAGE
    action = "Check the form id and the blank scan (see `yomitori forms new --help`)."


@dataclass(frozen=True)
class NewForm:
    definition: Path
    reference: Path
    paper: str
    dpi: float


def load_blank(path: Path) -> tuple[np.ndarray, float | None]:
    """The blank's first page as a grey array and its resolution when the file says it: images
    through Pillow, PDFs rasterised at 300 dpi with pypdfium2."""
    path = Path(path)
    data = path.read_bytes() if path.is_file() else b""
    if data[:5] == b"%PDF-":
        try:
            import pypdfium2 as pdfium
        except ModuleNotFoundError as e:  # pragma: no cover - a requirement
            raise FormRegistrationError("Reading PDF needs pypdfium2.", action="Run `make setup`.") from e
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError:
            raise doc_error("corrupt_image", f"{path.name} is not a PDF that can be read.") from None
        try:
            if len(pdf) == 0:
                raise doc_error("empty_file", f"{path.name} has no pages.")
            img = pdf[0].render(scale=PDF_DPI / 72, grayscale=True).to_pil()
        finally:
            pdf.close()
        buf = io.BytesIO()
        img.save(buf, "PNG", dpi=(PDF_DPI, PDF_DPI))
        return load_grey(buf.getvalue(), name=path.name), float(PDF_DPI)
    grey = load_grey(path, name=path.name)
    try:
        with Image.open(path) as img:
            dpi = img.info.get("dpi")
    except Exception:  # noqa: BLE001 - load_grey already read it; the resolution is optional
        dpi = None
    return grey, (float(dpi[0]) if dpi and 50 <= float(dpi[0]) <= 1200 else None)


COMMON_DPI = (150, 200, 240, 300, 400, 600)


def paper_of(shape: tuple[int, int], dpi: float | None = None) -> tuple[str, float]:
    """(paper name, dpi) of a portrait scan of ``shape`` (rows, columns): by its width in mm when
    the resolution is known, else by its sides' ratio and the most usual scan resolution (A4 and
    A3 share a ratio)."""
    h, w = shape
    if w > h:
        raise FormRegistrationError("The blank scan is landscape; scan the blank form upright (portrait).")
    ratio = h / w
    fits = [(n, size) for n, size in PAPER_SIZES_MM.items()
            if abs(size[1] / size[0] - ratio) <= ASPECT_TOLERANCE * ratio]
    if not fits:
        raise FormRegistrationError(
            f"The blank scan is {w}x{h} pixels, which is not a whole A4, A3 or B5 page.",
            action="Scan the whole blank page (no cropping) at 200-300 dpi and try again.")

    def miss(item: tuple[str, tuple[float, float]]) -> float:
        implied = w / item[1][0] * 25.4
        if dpi:
            return abs(implied - dpi)
        return min(abs(implied - c) / c for c in COMMON_DPI)

    name, (pw, _) = min(fits, key=miss)
    return name, w / pw * 25.4


def new_existing_form(form_id: str, blank: Path, *, title: str | None = None, directory: Path | None = None,
                      force: bool = False) -> NewForm:
    """Store ``blank`` as ``ID.png`` and write the skeleton ``ID.yaml`` into ``directory``
    (default: the forms folder). Refuses to overwrite an existing form unless ``force``."""
    d = Path(directory or forms_dir())
    yaml_path, png_path = d / f"{form_id}.yaml", d / f"{form_id}.png"
    if not force and (yaml_path.exists() or png_path.exists()):
        raise FormRegistrationError(f"Form '{form_id}' already exists in {d}.",
                                    action="Choose another id, or pass --force to replace its blank and "
                                           "definition.")
    grey, known_dpi = load_blank(Path(blank))
    paper, dpi = paper_of(grey.shape, known_dpi)
    skeleton = {
        "id": form_id,
        "title": title or form_id,
        "version": 1,
        "paper": paper,
        "layout": "existing",
        "reference": png_path.name,
        "description": f"Registered from {Path(blank).name}; draw the fields with "
                       f"`yomitori forms edit {form_id}`.",
        "office_use": [],
        "fields": [],
    }
    FormDefinition.model_validate(skeleton)  # the id and title must make a valid form
    d.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grey).save(png_path, dpi=(round(dpi), round(dpi)), optimize=True)
    yaml_path.write_text(dump_definition(skeleton), encoding="utf-8")
    load_form_file(yaml_path)
    return NewForm(definition=yaml_path, reference=png_path, paper=paper, dpi=round(dpi, 1))


def dump_definition(data: dict) -> str:
    """A definition as YAML, in the field order people read (id, title, ... fields last)."""
    head = "# Existing form: boxes are millimetres from the top-left of the reference page.\n"
    return head + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=110)

"""Which form is this page? One classifier for ``--form auto`` on one machine and ``auto``
batches in the cloud.

Classifiers are pluggable: each is a function ``(grey page, candidate forms) -> form id or
None``, tried in order until one names a form. Built in: the form-code strip of the forms
yomitori prints (corner marks, then the 16-bit code). Registered existing forms (matched
against their reference scans) add theirs with :func:`register_classifier`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from yomitori.errors import DocumentError
from yomitori.extract.align import FORM_CODE_TOLERANCE, align_page, read_form_code
from yomitori.extract.images import doc_error
from yomitori.extract.scanner import normalise_levels
from yomitori.forms.layout import form_code_bits
from yomitori.forms.schema import FormDefinition

AUTO = "auto"
FORM_NOT_RECOGNISED = "form_not_recognised"

PageClassifier = Callable[[np.ndarray, Sequence[FormDefinition]], str | None]


def form_code_classifier(grey: np.ndarray, forms: Sequence[FormDefinition]) -> str | None:
    """The form whose printed form code the page carries (fewest differing bits, within the
    tolerance), or None when no form's marks or code fit. One alignment per paper size."""
    best: tuple[int, str] | None = None
    pages: dict[str, np.ndarray | None] = {}
    for form in forms:
        if form.paper not in pages:
            try:
                pages[form.paper] = align_page(normalise_levels(grey), form)[0]
            except DocumentError as e:
                if e.code == "blank_page":
                    raise
                pages[form.paper] = None
        page = pages[form.paper]
        if page is None:
            continue
        got = read_form_code(page, form)
        wrong = sum(1 for a, b in zip(got, form_code_bits(form.id), strict=True) if a != b)
        if wrong <= FORM_CODE_TOLERANCE and (best is None or wrong < best[0]):
            best = (wrong, form.id)
    return best[1] if best else None


_CLASSIFIERS: list[PageClassifier] = [form_code_classifier]


def register_classifier(classifier: PageClassifier) -> None:
    """Add a classifier, tried after the ones before it (idempotent)."""
    if classifier not in _CLASSIFIERS:
        _CLASSIFIERS.append(classifier)


def classify_page(grey: np.ndarray, form_ids: Sequence[str] | None = None) -> str:
    """The id of the installed form (or one of ``form_ids``) this page is.

    Raises DocumentError ``blank_page`` or ``form_not_recognised``."""
    from yomitori.forms import available_forms, load_form

    forms = [load_form(f) for f in (form_ids or available_forms())]
    for classifier in _CLASSIFIERS:
        found = classifier(grey, forms)
        if found:
            return found
    raise doc_error(
        FORM_NOT_RECOGNISED,
        "The page matches none of the installed forms (no form code strip or reference of "
        f"{', '.join(f.id for f in forms)} was found on it).",
        "Check the page is one of the forms in `yomitori forms list` and is scanned whole and "
        "straight; or process it with the right --form.",
    )

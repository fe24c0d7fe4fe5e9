"""Files to documents: every page of every input file ends in a document (read, or with an
error). Shared by ``yomitori process`` and the cloud OCR step.

A one-page file is one document with the file's id. A file of several pages (multi-page TIFF,
PDF) gives a document per page, ``<id>-p01``, ``<id>-p02`` ... unless its form declares
``pages: N``: then pages are grouped in order, N to a document (``<id>-p01``, ``<id>-p03`` ...
named by their first page), and pages left over at the end are an ``incomplete_document``.
With ``auto`` each page is classified on its own (:mod:`yomitori.extract.classify`).
"""

from __future__ import annotations

from dataclasses import dataclass

from yomitori.errors import DocumentError
from yomitori.extract.classify import AUTO, classify_page
from yomitori.extract.images import ScanFile, doc_error
from yomitori.forms.schema import FormDefinition
from yomitori.ocr.engine import OcrEngine
from yomitori.results import DocumentResult

INCOMPLETE_DOCUMENT = "incomplete_document"
MULTI_PAGE_FORM_IN_AUTO = "multi_page_form_needs_form"


@dataclass(frozen=True)
class PageGroup:
    """One document's pages of a file (0-based indices) and its id; ``short`` when the file
    ended before the form's last page."""

    document_id: str
    pages: tuple[int, ...]
    short: bool = False

    @property
    def source_pages(self) -> list[int]:
        return [i + 1 for i in self.pages]


def plan_documents(count: int, base_id: str, pages_per_document: int = 1) -> list[PageGroup]:
    """How the ``count`` pages of a file become documents (see the module doc)."""
    n = max(1, pages_per_document)
    if count == n:
        return [PageGroup(base_id, tuple(range(count)))]
    width = max(2, len(str(count)))
    return [
        PageGroup(f"{base_id}-p{start + 1:0{width}d}", tuple(range(start, min(start + n, count))),
                  short=start + n > count)
        for start in range(0, count, n)
    ]


def pages_per_document(form_id: str) -> int:
    if form_id == AUTO:
        return 1
    from yomitori.forms import load_form

    return load_form(form_id).pages


def read_group(scan: ScanFile, group: PageGroup, form_id: str, engine: OcrEngine, *,
               batch_id: str, source: str) -> DocumentResult:
    """Read one document of ``scan``. Raises DocumentError (the page's problem: not an image,
    blank, no marks, wrong form, form not recognised, incomplete document)."""
    from yomitori.extract import extract_pages
    from yomitori.forms import load_form

    if group.short:
        first, last = group.source_pages[0], group.source_pages[-1]
        raise doc_error(
            INCOMPLETE_DOCUMENT,
            f"{source} ends after page {last}: the document starting on page {first} misses "
            f"page(s) of form '{form_id}' ({pages_per_document(form_id)} pages per document).",
            "Scan the missing page(s) with the rest of the document into one file and add it to "
            "a new batch.")
    greys = [scan.grey(i) for i in group.pages]
    if form_id == AUTO:
        form_id = classify_page(greys[0])
        form: FormDefinition = load_form(form_id)
        if form.pages != len(greys):
            raise doc_error(
                MULTI_PAGE_FORM_IN_AUTO,
                f"The page is form '{form.id}', which has {form.pages} pages per document; "
                "such forms are not sorted automatically.",
                f"Put these documents in a folder of their own and process it with --form {form.id}.")
    else:
        form = load_form(form_id)
    return extract_pages(greys, form, engine, batch_id=batch_id, document_id=group.document_id,
                         source=source, source_pages=group.source_pages)


def failed(group_or_id: PageGroup | str, error: DocumentError | Exception, *, batch_id: str,
           source: str, form_id: str | None) -> DocumentResult:
    """The result of a document that could not be read (an unexpected exception becomes
    ``internal_error`` without its text: it might hold a value)."""
    from yomitori.results import DocumentError as ErrorInfo

    if isinstance(error, DocumentError):
        info = ErrorInfo(code=error.code, message=error.message, action=error.action)
    else:
        info = ErrorInfo(code="internal_error",
                         message=f"Reading this page failed unexpectedly ({type(error).__name__}).",
                         action="Rescan the page; if it fails again, report the document id to the "
                                "maintainers.")
    group = group_or_id if isinstance(group_or_id, PageGroup) else None
    return DocumentResult(
        batch_id=batch_id,
        document_id=group.document_id if group else str(group_or_id),
        source=source,
        form_id=None if form_id == AUTO else form_id,
        source_page=group.source_pages[0] if group else 1,
        source_pages=group.source_pages if group and len(group.pages) > 1 else [],
        error=info,
    )

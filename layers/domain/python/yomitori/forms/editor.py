"""The template editor: ``yomitori forms edit ID`` (one machine, 127.0.0.1).

Shows an existing form's reference scan; a person draws each field's box (and, for dates, the
gaps for year, month, day and a handwritten era; for choices, the printed words to circle;
office-use areas), chooses type, label, cells, validators, sensitivity and threshold, and
saves. The definition is validated exactly as loading validates it (and its validators must
exist) before ``ID.yaml`` is written. Local security: :mod:`yomitori.localweb`.
"""

from __future__ import annotations

import io
import sys
import webbrowser
from http import HTTPStatus
from pathlib import Path

from PIL import Image
from pydantic import ValidationError

from yomitori.errors import ExitCode, FormDefinitionError, YomitoriError
from yomitori.forms.existing import dump_definition
from yomitori.forms.schema import (
    FieldType,
    FormDefinition,
    Sensitivity,
    forms_dir,
    load_form_file,
    reference_path,
)
from yomitori.localweb import LocalHandler, LocalServer

STATIC = Path(__file__).with_name("editor_static")
_ASSETS = {"editor.js": "text/javascript; charset=utf-8", "editor.css": "text/css; charset=utf-8"}
PREVIEW_DPI = 150  # the reference is shown at this resolution (boxes are in mm anyway)


class EditorError(YomitoriError):
    code = "form_definition"
    exit_code = ExitCode.USAGE
    action = "Correct the field named in the message and save again."


class EditorSession:
    """One form being edited: where its files are, what the page shows, how it is saved."""

    def __init__(self, form_id: str, directory: Path | None = None):
        self.directory = Path(directory or forms_dir())
        self.path = self.directory / f"{form_id}.yaml"
        form = load_form_file(self.path)
        if not form.is_existing:
            raise EditorError(f"Form '{form_id}' is printed by yomitori; only existing forms (registered "
                              "with `yomitori forms new`) are drawn on their blank.",
                              action="Edit its YAML, or register the office's blank with "
                                     "`yomitori forms new`.")
        self.form_id = form_id
        self._preview: bytes | None = None

    def form(self) -> dict:
        form = load_form_file(self.path)
        from yomitori.validation.registry import registered

        return {"form": form.model_dump(mode="json", exclude_none=True), "page_mm": list(form.page_size_mm),
                "types": [t.value for t in FieldType], "sensitivities": [s.value for s in Sensitivity],
                "validators": registered()["validators"]}

    def reference(self) -> bytes:
        if self._preview is None:
            form = load_form_file(self.path)
            with Image.open(reference_path(form, self.directory)) as img:
                w_mm, h_mm = form.page_size_mm
                size = (round(w_mm / 25.4 * PREVIEW_DPI), round(h_mm / 25.4 * PREVIEW_DPI))
                buf = io.BytesIO()
                img.convert("L").resize(size, Image.LANCZOS).save(buf, "PNG")
            self._preview = buf.getvalue()
        return self._preview

    def save(self, data: dict) -> dict:
        """Validate ``data`` as a form definition of this form and write it."""
        from yomitori.validation.registry import check_form_validators

        if data.get("id") != self.form_id:
            raise EditorError("The form id cannot change in the editor.")
        try:
            form = FormDefinition.model_validate(data)
        except ValidationError as e:
            problems = ["{}: {}".format(".".join(str(p) for p in err["loc"]) or "(form)", err["msg"])
                        for err in e.errors()]
            raise EditorError("; ".join(problems[:5])) from None
        try:
            check_form_validators(form)
        except FormDefinitionError as e:
            raise EditorError(e.message) from None
        text = dump_definition(form.model_dump(mode="json", exclude_defaults=True) | {"id": form.id,
                                                                                      "layout": "existing"})
        tmp = self.path.with_suffix(".yaml.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.path)
        load_form_file(self.path)
        return {"ok": True, "fields": len(form.fields)}


class EditorServer(LocalServer):
    cookie_name = "yomitori_editor"

    def __init__(self, session: EditorSession, *, port: int = 0):
        super().__init__(_Handler, port=port)
        self.session = session


class _Handler(LocalHandler):
    server: EditorServer
    log_name = "editor"

    def get(self, path: str, q: dict[str, str]) -> None:
        s = self.server.session
        if path == "/":
            html = (STATIC / "index.html").read_text(encoding="utf-8").replace("{{csrf}}", self.server.csrf)
            return self.send(HTTPStatus.OK, html.encode(), "text/html; charset=utf-8")
        if path.startswith("/static/") and path[8:] in _ASSETS:
            return self.send(HTTPStatus.OK, (STATIC / path[8:]).read_bytes(), _ASSETS[path[8:]])
        if path == "/favicon.ico":
            return self.send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        if path == "/api/form":
            return self.send_json(HTTPStatus.OK, s.form())
        if path == "/api/reference":
            return self.send(HTTPStatus.OK, s.reference(), "image/png")
        return self.deny(HTTPStatus.NOT_FOUND, "not found")

    def post(self, path: str, body: dict) -> None:
        if path == "/api/save":
            form = body.get("form")
            if not isinstance(form, dict):
                raise EditorError("form must be an object.")
            return self.send_json(HTTPStatus.OK, self.server.session.save(form))
        return self.deny(HTTPStatus.NOT_FOUND, "not found")


def run_editor(form_id: str, *, port: int = 0, open_browser: bool = True,
               directory: Path | None = None) -> int:
    """Serve the editor of ``form_id`` until interrupted (Ctrl+C)."""
    server = EditorServer(EditorSession(form_id, directory), port=port)
    print(f"template editor of '{form_id}': {server.url}\n(Ctrl+C to stop; the link works once)", flush=True)
    if open_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("editor stopped", file=sys.stderr)
    finally:
        server.server_close()
    return ExitCode.OK

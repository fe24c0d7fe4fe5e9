"""Registering existing forms (`yomitori forms new`), what their definitions can say, bank and
branch names looked up in the Zengin list, and the editor's local security."""

from __future__ import annotations

import http.client
import threading

import pytest
import yaml
from PIL import Image
from yomitori.cli import main
from yomitori.errors import FormDefinitionError
from yomitori.extract.fields import era_from_text
from yomitori.forms import load_form, load_form_file
from yomitori.forms.existing import FormRegistrationError, new_existing_form, paper_of
from yomitori.synth.city_form import draw_water_city_blank
from yomitori.validation.bank import bank_name_known, branch_name_known
from yomitori.validation.registry import ValidationContext


@pytest.fixture(scope="module")
def blank_150():
    return draw_water_city_blank(150).convert("L")


@pytest.mark.parametrize("suffix", ["png", "jpg", "tif", "pdf"])
def test_forms_new_stores_the_blank_and_writes_a_skeleton(tmp_path, blank_150, suffix, capsys):
    # Given a blank scanned as PNG, JPEG, TIFF or PDF
    blank = tmp_path / f"blank.{suffix}"
    if suffix == "pdf":
        blank_150.save(blank, "PDF", resolution=150.0)
    else:
        blank_150.save(blank, dpi=(150, 150))
    # When registered through the command
    code = main(["forms", "new", "city", "--from-scan", str(blank), "--title", "申込書",
                 "--dir", str(tmp_path / "forms")])
    # Then the reference image lies beside a skeleton definition that loads
    assert code == 0
    form = load_form_file(tmp_path / "forms" / "city.yaml")
    assert form.is_existing and form.reference == "city.png" and form.paper == "A4"
    assert form.title == "申込書" and form.fields == []
    with Image.open(tmp_path / "forms" / "city.png") as ref:
        assert ref.mode == "L" and abs(ref.width / ref.height - 210 / 297) < 0.01
    assert "forms edit city" in capsys.readouterr().out


def test_forms_new_refuses_to_replace_a_form_without_force(tmp_path, blank_150):
    blank = tmp_path / "blank.png"
    blank_150.save(blank)
    new_existing_form("city", blank, directory=tmp_path)
    with pytest.raises(FormRegistrationError):
        new_existing_form("city", blank, directory=tmp_path)
    assert new_existing_form("city", blank, directory=tmp_path, force=True).paper == "A4"


def test_paper_size_comes_from_the_scan():
    # A4 and A3 share their sides' ratio: the resolution decides
    assert paper_of((3508, 2480))[0] == "A4"
    assert paper_of((4961, 3508), 300.0)[0] == "A3"
    assert paper_of((3035, 2150))[0] == "B5"
    with pytest.raises(FormRegistrationError):
        paper_of((2000, 2000))  # a cropped page
    with pytest.raises(FormRegistrationError):
        paper_of((2480, 3508))  # landscape


def _form(**field):
    base = {"id": "f", "title": "t", "layout": "existing", "reference": "f.png",
            "fields": [{"name": "d", "label": "日付", "type": "date",
                        "box": {"x": 10, "y": 10, "w": 60, "h": 10}, **field}]}
    return base


def _write(tmp_path, data):
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


GAPS = {"year": {"x": 20, "y": 10, "w": 10, "h": 10}, "month": {"x": 35, "y": 10, "w": 8, "h": 10},
        "day": {"x": 48, "y": 10, "w": 8, "h": 10}}


def test_a_date_with_gaps_says_where_its_era_comes_from(tmp_path):
    # printed era, circled eras or a handwritten era: exactly one
    assert load_form_file(_write(tmp_path, _form(parts=GAPS, eras=["令和"]))).fields[0].parts
    era_box = {**GAPS, "era": {"x": 10, "y": 10, "w": 9, "h": 10}}
    assert load_form_file(_write(tmp_path, _form(parts=era_box)))
    one_gap = load_form_file(_write(tmp_path, _form(parts={**GAPS, "era_in_year": True})))
    assert one_gap.fields[0].parts.era_in_year
    with pytest.raises(FormDefinitionError, match="exactly one"):
        load_form_file(_write(tmp_path, _form(parts={**era_box, "era_in_year": True})))
    with pytest.raises(FormDefinitionError, match="exactly one"):
        load_form_file(_write(tmp_path, _form(parts=GAPS)))  # four eras, none printed or written


def test_an_existing_layout_needs_its_reference_and_office_areas_need_one(tmp_path):
    data = _form(parts=GAPS, eras=["令和"])
    del data["reference"]
    with pytest.raises(FormDefinitionError, match="reference"):
        load_form_file(_write(tmp_path, data))
    printed = {"id": "f", "title": "t", "fields": [], "office_use": [{"name": "受付印", "box": GAPS["year"]}]}
    with pytest.raises(FormDefinitionError, match="office_use"):
        load_form_file(_write(tmp_path, printed))


def test_the_example_existing_form_loads_with_its_kinds_of_fields():
    form = load_form("water_city")
    assert form.is_existing and len(form.office_use) == 4
    assert form.field("application_date").eras == ["令和"] and form.field("start_date").parts.era_in_year
    assert form.field("phone_type").marking == "circle"
    assert form.field("household_size").unit == "人" and form.field("deposit_amount").unit == "円"


@pytest.mark.parametrize("written,era", [("令和", "令和"), ("令", "令和"), ("Ｒ", "令和"), ("h", "平成"),
                                          ("昭和", "昭和"), ("", ""), ("年", "")])
def test_a_handwritten_era_is_recognised_by_its_kanji_or_letter(written, era):
    assert era_from_text(written) == era


def _ctx(values):
    return ValidationContext(form=load_form("water_city"), values=values)


def test_bank_and_branch_names_are_looked_up_in_the_zengin_list():
    ctx = _ctx({"bank_name": "大阪信用金庫"})
    assert bank_name_known("大阪信用金庫", ctx) == []
    assert branch_name_known("住之江支店", ctx) == []
    # a misread bank name gets the nearest listed name when one is near
    miss = bank_name_known("越前たけ不農業協同組合", ctx)
    assert miss[0].code == "bank_name_unknown" and miss[0].suggestion.value == "越前たけふ農協"
    # a branch the bank does not have
    assert branch_name_known("存在しない支店", ctx)[0].code == "branch_name_unknown"
    # a branch is not checked against a bank that is itself unknown
    assert branch_name_known("住之江支店", _ctx({"bank_name": "ない銀行"})) == []


# -- the editor's local security ---------------------------------------------------------------
@pytest.fixture()
def editor_server(tmp_path, blank_150):
    from yomitori.forms.editor import EditorServer, EditorSession

    blank = tmp_path / "blank.png"
    blank_150.save(blank)
    new_existing_form("city", blank, directory=tmp_path)
    server = EditorServer(EditorSession("city", tmp_path))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _request(server, method, path, headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    res = conn.getresponse()
    out = res.status, dict(res.getheaders()), res.read()
    conn.close()
    return out


def test_the_editor_checks_host_session_and_csrf(editor_server):
    s = editor_server
    host = {"Host": f"127.0.0.1:{s.port}"}
    # a page of another name (DNS rebinding) and a request without the session are refused
    assert _request(s, "GET", "/api/form", {"Host": f"evil.example:{s.port}"})[0] == 421
    assert _request(s, "GET", "/api/form", host)[0] == 403
    # the login link works once and gives the session cookie
    status, headers, _ = _request(s, "GET", f"/?t={s.login_token}", host)
    assert status == 303 and "HttpOnly; SameSite=Strict" in headers["Set-Cookie"]
    cookie = {"Cookie": headers["Set-Cookie"].split(";")[0], **host}
    assert _request(s, "GET", f"/?t={s.login_token}", host)[0] == 403
    status, headers, body = _request(s, "GET", "/", cookie)
    assert status == 200 and "script-src 'self'" in headers["Content-Security-Policy"]
    # a save without the CSRF header, or from another site, is refused
    json_body = b'{"form": {}}'
    post = {**cookie, "Content-Type": "application/json"}
    assert _request(s, "POST", "/api/save", post, json_body)[0] == 403
    csrf = {**post, "X-Yomitori-CSRF": s.csrf}
    assert _request(s, "POST", "/api/save", {**csrf, "Origin": "http://evil.example"}, json_body)[0] == 403
    # and a proper save of a bad definition says why, without writing it
    status, _, body = _request(s, "POST", "/api/save", csrf, json_body)
    assert status == 400 and b"form id" in body


def test_bank_and_branch_codes_are_exported_from_the_names_written():
    # Given a read document of the existing form with a bank and branch written by name
    from yomitori.export import export_value
    from yomitori.results import DocumentResult, FieldResult

    form = load_form("water_city")
    doc = DocumentResult(batch_id="b", document_id="d1", source="d1.png", form_id=form.id,
                         fields={"bank_name": FieldResult(value="大阪信用金庫"),
                                 "branch_name": FieldResult(value="住之江支店")})
    columns = {c.header: c for c in form.export.columns}
    # When its export columns are computed, the codes come from the Zengin list
    assert export_value(doc, columns["金融機関コード"]) == "1630"
    assert export_value(doc, columns["支店コード"]) == "039"
    assert export_value(doc, columns["受付番号"]) == "d1"
    assert columns["支店コード"].name == "branch_name_code"
    # and a name that names no bank gives no code rather than a guess
    doc.fields["bank_name"].value = "ない銀行"
    assert export_value(doc, columns["金融機関コード"]) == "" == export_value(doc, columns["支店コード"])


def test_rendering_an_existing_form_prints_its_registered_blank(tmp_path):
    import numpy as np
    from yomitori.forms import reference_path
    from yomitori.render import save_blank

    # Given the registered existing form, when its blank is rendered
    form = load_form("water_city")
    png, pdf = save_blank(form, tmp_path, dpi=100)
    # Then it is the registered blank (no corner marks drawn over it), at the asked resolution
    with Image.open(png) as img, Image.open(reference_path(form)) as ref:
        assert img.size == (827, 1169)
        mine = np.asarray(img.convert("L"), dtype=float)
        theirs = np.asarray(ref.convert("L").resize(img.size), dtype=float)
        assert np.abs(mine - theirs).mean() < 3
    assert pdf.read_bytes()[:5] == b"%PDF-"

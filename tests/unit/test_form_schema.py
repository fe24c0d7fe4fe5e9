"""Form definitions load, and bad ones fail with the file, field and problem named."""

from pathlib import Path

import pytest
from yomitori.errors import FormDefinitionError, UnknownFormError
from yomitori.forms import FieldType, available_forms, load_form, load_form_file
from yomitori.forms.layout import date_layout, date_min_width_mm, form_code_bits


def test_shipped_forms_load():
    # Given the forms in forms/ / When loaded / Then each has fields and a unique form code
    ids = available_forms()
    assert {"water_start", "water_stop"} <= set(ids)
    codes = {tuple(form_code_bits(i)) for i in ids}
    assert len(codes) == len(ids)
    start = load_form("water_start")
    assert start.field("postal_code").cells == 7
    assert start.field("account_type").type is FieldType.CHOICE


def test_date_fields_are_wide_enough_for_their_layout():
    for form_id in available_forms():
        for f in load_form(form_id).fields:
            if f.type is FieldType.DATE and f.parts is None:  # dates with gaps are the form's own
                assert f.box.w >= date_min_width_mm(f), (form_id, f.name)
                assert len(date_layout(f).year) == 4


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bad.yaml"
    p.write_text(text, encoding="utf-8")
    return p


BASE = """
id: bad
title: テスト
fields:
  - name: postal_code
    label: 郵便番号
    type: digits
    box: {x: 10, y: 10, w: 50, h: 10}
"""


def test_missing_box_names_file_field_and_problem(tmp_path):
    p = write(tmp_path, BASE.replace("    box: {x: 10, y: 10, w: 50, h: 10}\n", ""))
    with pytest.raises(FormDefinitionError) as e:
        load_form_file(p)
    assert str(p) in e.value.message
    assert "fields[postal_code].box" in e.value.message
    assert "Field required" in e.value.message


def test_unknown_type_and_unknown_key_are_refused(tmp_path):
    with pytest.raises(FormDefinitionError, match=r"fields\[postal_code\]\.type"):
        load_form_file(write(tmp_path, BASE.replace("type: digits", "type: number")))
    with pytest.raises(FormDefinitionError, match=r"fields\[postal_code\]\.colour"):
        load_form_file(write(tmp_path, BASE + "    colour: red\n"))


def test_box_outside_page_is_refused(tmp_path):
    with pytest.raises(FormDefinitionError, match="outside the A4 page"):
        load_form_file(write(tmp_path, BASE.replace("x: 10,", "x: 190,")))


def test_choice_needs_options_and_duplicate_names_fail(tmp_path):
    with pytest.raises(FormDefinitionError, match="at least two 'options'"):
        load_form_file(write(tmp_path, BASE.replace("type: digits", "type: choice")))
    dup = BASE + BASE.split("fields:\n")[1]
    with pytest.raises(FormDefinitionError, match="used twice"):
        load_form_file(write(tmp_path, dup))


def test_not_yaml_and_unknown_form(tmp_path):
    with pytest.raises(FormDefinitionError, match="not valid YAML"):
        load_form_file(write(tmp_path, "id: [unclosed"))
    with pytest.raises(UnknownFormError, match="water_start"):
        load_form("no_such_form")

"""``verify`` in form definitions (double entry, ベリファイ): ``double`` or ``below T``; the
shipped forms mark My Numbers, amounts and account numbers; a bad value says what to write."""

from __future__ import annotations

import pytest
from yomitori.errors import FormDefinitionError
from yomitori.forms import load_form
from yomitori.forms.schema import load_form_file

FIELD = "- {name: a, label: A, type: %s, box: {x: 1, y: 1, w: 10, h: 5}%s, verify: %s}\n"


def _form(tmp_path, verify: str, type_: str = "digits") -> object:
    extra = ""
    if type_ == "choice":
        extra = (
            ", options: [{value: x, label: x, box: {x: 1, y: 1, w: 2, h: 2}},"
            " {value: y, label: y, box: {x: 4, y: 1, w: 2, h: 2}}]"
        )
    path = tmp_path / "f.yaml"
    path.write_text("id: f\ntitle: t\nfields:\n" + FIELD % (type_, extra, verify), encoding="utf-8")
    return load_form_file(path)


def test_the_shipped_forms_mark_my_numbers_amounts_and_account_numbers():
    marked = {
        f: sorted(x.name for x in load_form(f).fields if x.verify and x.verify.mode == "double")
        for f in ("furusato_onestop", "salary_report", "childcare_application", "water_start", "water_city")
    }
    assert marked == {
        "furusato_onestop": ["donation_amount", "my_number"],
        "salary_report": sorted(
            [
                "my_number",
                "dependant_1_my_number",
                "dependant_2_my_number",
                "salary_payment",
                "salary_after_deduction",
                "deductions_total",
                "withholding_tax",
            ]
        ),
        "childcare_application": ["child_my_number", "guardian_2_my_number", "my_number"],
        "water_start": ["account_number"],
        "water_city": ["account_number", "deposit_amount"],
    }
    # and every My Number field of every shipped form is among them
    for f in marked:
        for x in load_form(f).fields:
            if x.sensitivity.value == "my_number":
                assert x.name in marked[f], (f, x.name)


def test_double_always_and_below_only_when_the_reader_was_less_sure(tmp_path):
    assert _form(tmp_path, "double").field("a").verify.applies(1.0)
    below = _form(tmp_path, "below 0.99").field("a").verify
    assert below.applies(0.98) and not below.applies(0.99) and not below.applies(1.0)


@pytest.mark.parametrize("bad", ["twice", "'below 2'", "'below x'", "'below'", "true", "0.99"])
def test_a_bad_value_says_what_to_write(tmp_path, bad):
    with pytest.raises(FormDefinitionError) as e:
        _form(tmp_path, bad)
    assert "fields[a].verify" in e.value.message
    assert "verify: double" in e.value.message and "verify: below 0.99" in e.value.message


def test_ticks_and_choices_take_no_verify(tmp_path):
    with pytest.raises(FormDefinitionError, match="not for ticks and choices"):
        _form(tmp_path, "double", type_="choice")


def test_verify_is_saved_as_written(tmp_path):
    # Given a form loaded with both kinds of marks, When it is dumped (as the template editor
    # saves it), Then the marks read as written and load again the same
    import yaml
    from yomitori.forms.schema import FormDefinition

    form = _form(tmp_path, "below 0.95")
    data = form.model_dump(mode="json", exclude_defaults=True)
    assert data["fields"][0]["verify"] == "below 0.95"
    again = FormDefinition.model_validate(yaml.safe_load(yaml.safe_dump(data)))
    assert again.field("a").verify == form.field("a").verify
    assert _form(tmp_path, "double").model_dump(mode="json")["fields"][0]["verify"] == "double"


def test_which_fields_of_a_document_are_typed_twice():
    # Given furusato with its amount marked "below 0.99" instead of "double"
    from yomitori.forms.schema import Verify
    from yomitori.results import DocumentResult, FieldResult, FieldStatus
    from yomitori.steps.verification import fields_to_verify

    base = load_form("furusato_onestop")
    fields = [
        f.model_copy(update={"verify": Verify.model_validate("below 0.99")})
        if f.name == "donation_amount"
        else f
        for f in base.fields
    ]
    form = base.model_copy(update={"fields": fields})

    def doc(amount_confidence: float, my_number_status=FieldStatus.ACCEPTED) -> DocumentResult:
        return DocumentResult(
            batch_id="b1",
            document_id="d1",
            source="d1.png",
            form_id=form.id,
            fields={
                "my_number": FieldResult(value="123456789018", confidence=1.0, status=my_number_status),
                "donation_amount": FieldResult(value="20000", confidence=amount_confidence),
                "name": FieldResult(value="山田 太郎", confidence=0.5),
            },
        )

    # Then the My Number always, the amount only when the reader was less sure than 0.99
    assert fields_to_verify(form, doc(0.995)) == ["my_number"]
    assert fields_to_verify(form, doc(0.9)) == ["my_number", "donation_amount"]
    # and a field the reviewer held (判読不能) has nothing to verify
    assert fields_to_verify(form, doc(0.995, FieldStatus.ILLEGIBLE)) == []

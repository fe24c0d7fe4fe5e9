"""Validators and rules of the salary report and childcare application: Corporate Number check
digit, amounts that cannot exceed another, different choices; and their synthetic values."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from yomitori.forms import load_form
from yomitori.results import DocumentResult, FieldResult, FieldStatus
from yomitori.synth import values as v
from yomitori.validation import route_document
from yomitori.validation.corporate_number import check_digit, is_valid
from yomitori.validation.registry import ValidationContext, get_rule, get_validator

TODAY = dt.date(2026, 1, 20)


@pytest.mark.parametrize("number", ["7000012050002", "1180301018771", "4000012090001"])
def test_published_corporate_numbers_are_valid_and_one_wrong_digit_is_caught(number):
    # Given Corporate Numbers as the National Tax Agency publishes them
    assert is_valid(number)
    validate = get_validator("corporate_number")
    ctx = ValidationContext(form=load_form("salary_report"), values={})
    assert validate(number, ctx) == []
    # When any one digit is misread, Then the check digit catches it
    for i in range(13):
        wrong = number[:i] + str((int(number[i]) + 3) % 10) + number[i + 1:]
        assert not is_valid(wrong)
        assert [f.code for f in validate(wrong, ctx)] == ["corporate_number_check_digit"]
    assert [f.code for f in validate(number[1:], ctx)] == ["corporate_number_format"]


def test_a_payer_number_is_a_corporate_number_or_a_my_number():
    ctx = ValidationContext(form=load_form("salary_report"), values={})
    validate = get_validator("my_or_corporate_number")
    assert validate("7000012050002", ctx) == [] and validate("123456789018", ctx) == []
    assert [f.code for f in validate("123456789019", ctx)] == ["my_number_check_digit"]
    assert [f.code for f in validate("12345", ctx)] == ["corporate_number_format"]
    with pytest.raises(ValueError):
        check_digit("12")


def _rule(name, values, **args):
    return get_rule(name)(ValidationContext(form=load_form("salary_report"), values=values), **args)


def test_an_amount_above_its_limit_sends_both_fields_to_a_person():
    ok = {"salary_after_deduction": "3560000", "salary_payment": "5000000"}
    assert _rule("at_most", ok, field="salary_after_deduction", limit="salary_payment") == []
    # Given 控除後 read with a digit too many (a 1 in a cell line), When checked
    bad = {"salary_after_deduction": "35600000", "salary_payment": "5000000"}
    found = _rule("at_most", bad, field="salary_after_deduction", limit="salary_payment")
    # Then both amounts are flagged: either may be the misread one
    assert {(f.code, f.field) for f in found} == {("amount_exceeds_limit", "salary_after_deduction"),
                                                  ("amount_exceeds_limit", "salary_payment")}
    # an empty or unreadable amount is its own validator's business
    only_pay = {"salary_payment": "5000000"}
    assert _rule("at_most", only_pay, field="withholding_tax", limit="salary_payment") == []
    assert _rule("at_most", {"a": "10", "b": "4", "c": "6"}, field="a", limit=["b", "c"]) == []


def test_the_same_facility_twice_is_flagged():
    assert _rule("all_different", {"f1": "あ", "f2": "い", "f3": ""}, fields=["f1", "f2", "f3"]) == []
    found = _rule("all_different", {"f1": "あ", "f2": "い", "f3": "あ"}, fields=["f1", "f2", "f3"])
    assert {(f.code, f.field) for f in found} == {("same_choice_twice", "f1"), ("same_choice_twice", "f3")}


def test_salary_values_are_consistent_and_dependants_come_whole():
    form = load_form("salary_report")
    for k in range(40):
        values = v.generate_values(form, np.random.default_rng([5, k]), TODAY)
        pay, after = int(values["salary_payment"]), int(values["salary_after_deduction"])
        assert 0 <= after < pay and int(values["withholding_tax"]) < pay
        assert int(values["deductions_total"]) <= after
        assert (values["dependant_1_name"] == "") == (values["dependant_1_my_number"] == "")
        if values["dependant_1_name"]:  # a dependant is family: the recipient's family name
            assert values["dependant_1_name"].split("\u3000")[0] == values["name"].split("\u3000")[0]
        number = values["payer_number"]
        assert len(number) in (12, 13)


def test_childcare_values_name_a_family_with_a_young_child_and_different_facilities():
    form = load_form("childcare_application")
    for k in range(40):
        values = v.generate_values(form, np.random.default_rng([6, k]), TODAY)
        family = values["name"].split("\u3000")[0]
        assert values["child_name"].split("\u3000")[0] == family
        assert values["child_name_kana"].split("\u3000")[0] == values["name_kana"].split("\u3000")[0]
        assert (TODAY - values["child_birth_date"].date).days < 6 * 366
        chosen = [values[f] for f in ("facility_1", "facility_2", "facility_3") if values[f]]
        assert len(chosen) == len(set(chosen)) and values["facility_1"]
        gone = values["guardian_2_name"] == ""
        assert gone == (values["guardian_2_name_kana"] == "") == (values["guardian_2_my_number"] == "")


def test_a_misread_amount_is_not_accepted():
    # Given a salary report read right except 支払金額, which lost its first digit
    form = load_form("salary_report")
    values = v.generate_values(form, np.random.default_rng([5, 1]), TODAY)
    truth = {f.name: v.truth_value(f, values[f.name]) for f in form.fields}
    truth["salary_payment"] = truth["salary_payment"][1:]
    doc = DocumentResult(batch_id="b", document_id="d", source="s", form_id=form.id, fields={
        n: FieldResult(value=val, confidence=1.0) for n, val in truth.items()})
    # When routed, Then the amount goes to a person
    route_document(form, doc, today=TODAY)
    assert doc.fields["salary_payment"].status is FieldStatus.INVALID
    assert "amount_exceeds_limit" in doc.fields["salary_payment"].reasons

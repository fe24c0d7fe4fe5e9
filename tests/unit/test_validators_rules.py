"""Cross-field rules, 和暦 helpers and routing of findings into field statuses."""

from __future__ import annotations

import datetime as dt

import pytest
from yomitori.forms.schema import load_form
from yomitori.results import DocumentResult, FieldResult, FieldStatus
from yomitori.validation import route_document
from yomitori.validation.dates import parse_date, to_iso, to_wareki
from yomitori.validation.registry import Severity, ValidationContext, get_rule

TODAY = dt.date(2026, 11, 23)


def apply(rule: str, values: dict, form: str = "water_start", options: dict | None = None, **args):
    ctx = ValidationContext(form=load_form(form), values=values, today=TODAY, options=options or {})
    return get_rule(rule)(ctx, **args)


def by_field(findings) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in findings:
        out.setdefault(f.field, []).append(f.code)
    return out


# --- postal code ↔ address -------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "東京都千代田区千代田1-1",
        "千代田区千代田1番1号",
        "東京都千代田区千代田一丁目１－１",
        "東京都 千代田区 千代田 1-1",
    ],
)
def test_postal_code_and_matching_address_agree(address):
    assert apply("postal_address", {"postal_code": "1000001", "address": address}) == []


def test_kanji_numerals_and_county_are_normalised():
    # 北十条西 is written 北10条西 by most people; 八重山郡 is often left out
    assert apply("postal_address", {"postal_code": "0010010", "address": "札幌市北区北10条西3丁目"}) == []
    assert apply("postal_address", {"postal_code": "9071801", "address": "沖縄県与那国町与那国100"}) == []


def test_mismatch_reviews_both_fields_and_suggests_the_derived_prefix():
    # Given 丸の内's address with 千代田's postal code (a 1↔5 misread of 1000005)
    found = apply("postal_address", {"postal_code": "1000001", "address": "東京都千代田区丸の内1-2-3"})
    # Then both fields go to review; the address gets 千代田's area with the block numbers as
    # read, the code 丸の内's code
    assert by_field(found) == {
        "postal_code": ["postal_code_address_mismatch"],
        "address": ["postal_code_address_mismatch"],
    }
    assert all(f.severity is Severity.REVIEW for f in found)
    suggestions = {f.field: f.suggestion.value for f in found}
    assert suggestions == {"postal_code": "1000005", "address": "東京都千代田区千代田1-2-3"}


def test_a_misread_town_gets_the_whole_address_as_suggestion():
    # Given the town of a real address read with one wrong kanji (代 read as伐)
    found = apply("postal_address", {"postal_code": "1000001", "address": "東京都千代田区千伐田1-1"})
    # Then the suggestion is the whole true address: the code's area plus the block numbers
    (address,) = [f for f in found if f.field == "address"]
    assert address.suggestion.value == "東京都千代田区千代田1-1"


def test_address_without_postal_code_gets_a_candidate():
    found = apply(
        "postal_address",
        {"new_postal_code": "", "new_address": "東京都千代田区丸の内1-2-3"},
        form="water_stop",
        postal_field="new_postal_code",
        address_field="new_address",
    )
    assert [(f.field, f.code, f.suggestion.value) for f in found] == [
        ("new_postal_code", "postal_code_suggested", "1000005")
    ]


def test_unknown_postal_code_gets_the_code_the_address_names():
    found = apply("postal_address", {"postal_code": "1000009", "address": "東京都千代田区丸の内1-2-3"})
    assert [(f.field, f.code, f.severity, f.suggestion.value) for f in found] == [
        ("postal_code", "postal_code_unknown", Severity.INVALID, "1000005")
    ]


# --- banks -----------------------------------------------------------------------------------


def test_branch_missing_in_bank_reviews_the_bank_code():
    # Given みずほ (0001) with a branch code it does not have but its confusion neighbour has
    assert apply("bank_branch", {"bank_code": "0001", "branch_code": "001"}) == []
    found = apply("bank_branch", {"bank_code": "0001", "branch_code": "000"})
    assert by_field(found) == {"bank_code": ["bank_branch_mismatch"]}


def test_bank_names_both_directions():
    ok = {"bank_code": "0005", "bank_name": "三菱UFJ銀行", "branch_code": "001", "branch_name": "本店"}
    assert apply("bank_names", ok) == []
    assert apply("bank_names", {**ok, "bank_name": "ミツビシユーエフジエイ"}) == []
    wrong = apply("bank_names", {**ok, "bank_name": "みずほ銀行"})
    assert by_field(wrong) == {"bank_code": ["bank_name_mismatch"], "bank_name": ["bank_name_mismatch"]}
    assert {f.field: f.suggestion.value for f in wrong} == {"bank_code": "0001", "bank_name": "三菱ＵＦＪ"}
    # a name without its code: the code is suggested
    name_only = apply(
        "bank_names",
        {"bank_code": "", "bank_name": "みずほ銀行", "branch_code": "", "branch_name": "東京営業部"},
    )
    assert {f.field: f.suggestion.value for f in name_only} == {"bank_code": "0001", "branch_code": "001"}
    # a branch name that is another branch of the bank: both to review, each with the other's hint
    branch = apply("bank_names", {**ok, "branch_name": "丸の内支店"})
    mismatch = ["branch_name_mismatch"]
    assert by_field(branch) == {"branch_code": mismatch, "branch_name": mismatch}
    assert {f.field: f.suggestion.value for f in branch} == {"branch_code": "002", "branch_name": "本店"}
    # a bank code whose name field was left empty: the name is suggested
    code_only = apply("bank_names", {**ok, "bank_name": ""})
    assert [(f.code, f.field, f.suggestion.value) for f in code_only] == [
        ("bank_name_suggested", "bank_name", "三菱ＵＦＪ")
    ]
    # 信用金庫 written out matches the Zengin abbreviation 信金
    assert apply("bank_names", {"bank_code": "1610", "bank_name": "京都信用金庫"}) == []


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,kana",
    [
        ("佐藤 太郎", "サトウ\u3000タロウ"),
        ("中島 美咲", "ナカシマ\u3000ミサキ"),
        ("中島 美咲", "ナカジマ\u3000ミサキ"),
        ("山田 陽菜", "ヤマダ\u3000ヒナ"),
        ("佐々木 浩", "ササキ\u3000コウ"),
        ("鈴木 さくら", "スズキ\u3000サクラ"),
    ],
)
def test_plausible_readings_pass(name, kana):
    assert apply("name_reading", {"name": name, "name_kana": kana}) == []


@pytest.mark.parametrize(
    "name,kana",
    [
        ("佐藤 太郎", "サトン\u3000タロウ"),
        ("小林 健太", "コバヤツ\u3000ケンタ"),
        ("佐藤 太郎", "スズキ\u3000タロウ"),
    ],
)
def test_implausible_readings_go_to_review_never_invalid(name, kana):
    found = apply("name_reading", {"name": name, "name_kana": kana})
    assert by_field(found) == {"name_kana": ["name_reading_mismatch"], "name": ["name_reading_mismatch"]}
    assert all(f.severity is Severity.REVIEW for f in found)


def test_account_holder_against_reading():
    # banks register small kana as large (キョウコ → キヨウコ) and without spaces
    assert (
        apply(
            "account_holder_reading",
            {"account_holder": "ヤマダ\u3000キヨウコ", "name_kana": "ヤマダ\u3000キョウコ"},
        )
        == []
    )
    found = apply(
        "account_holder_reading",
        {"account_holder": "ヤマダ\u3000タロウ", "name_kana": "ヤマダ\u3000キョウコ"},
    )
    assert by_field(found) == {
        "account_holder": ["account_holder_mismatch"],
        "name_kana": ["account_holder_mismatch"],
    }


# --- dates -----------------------------------------------------------------------------------


def test_wareki_helpers_at_era_boundaries():
    assert to_iso("令和元年5月1日") == "2019-05-01"
    assert to_iso("平成31年4月30日") == "2019-04-30"
    assert to_iso("昭和64年1月7日") == "1989-01-07" and to_iso("平成元年1月8日") == "1989-01-08"
    assert to_iso("R6.4.1") == "2024-04-01" and to_iso("令和六年四月一日") == "2024-04-01"
    assert to_wareki(dt.date(2019, 5, 1)) == "令和元年5月1日"
    assert to_wareki("2019-04-30") == "平成31年4月30日"
    assert to_wareki("1989-01-07") == "昭和64年1月7日"
    assert to_wareki(dt.date(2024, 4, 1), gannen=False) == "令和6年4月1日"
    assert to_wareki("2019-05-01", gannen=False) == "令和1年5月1日"


@pytest.mark.parametrize("text", ["平成32年1月1日", "平成31年5月1日", "令和元年4月30日", "昭和64年1月8日"])
def test_era_year_outside_the_era(text):
    with pytest.raises(ValueError) as e:
        to_iso(text)
    assert text not in str(e.value)
    assert parse_date(text).era_problem == "era_year_out_of_range"
    assert to_iso("平成32年1月1日", strict=False) == "2020-01-01"


@pytest.mark.parametrize(
    "text", ["2023年2月29日", "令和5年2月29日", "令和0年1月1日", "平成元年13月1日", "いつか"]
)
def test_not_real_dates(text):
    assert parse_date(text) is None


def test_date_window_with_form_args_and_options():
    values = {"start_date": "2026-06-01", "application_date": "2026-08-15"}  # 75 days before
    found = apply(
        "date_window",
        values,
        field="start_date",
        reference="application_date",
        before_days=60,
        after_days=120,
    )
    assert by_field(found) == {
        "start_date": ["date_before_window"],
        "application_date": ["date_before_window"],
    }
    # the deployment widens the window
    assert (
        apply(
            "date_window",
            values,
            options={"start_date_before_days": 90},
            field="start_date",
            reference="application_date",
            before_days=60,
        )
        == []
    )
    later = {"start_date": "2027-01-01", "application_date": "2026-08-15"}
    assert by_field(apply("date_window", later, field="start_date", reference="application_date"))[
        "start_date"
    ] == ["date_after_window"]


def test_stop_date_after_the_start_on_record():
    values = {"stop_date": "2026-01-10"}
    args = {"field": "stop_date", "option": "start_on_record"}
    assert apply("after_date_on_record", values, form="water_stop", **args) == []  # unknown: nothing to check
    assert (
        apply(
            "after_date_on_record",
            values,
            form="water_stop",
            options={"start_on_record": "2025-04-01"},
            **args,
        )
        == []
    )
    late = apply(
        "after_date_on_record", values, form="water_stop", options={"start_on_record": "2026-02-01"}, **args
    )
    assert by_field(late) == {"stop_date": ["date_not_after_record"]}
    lookup = apply(
        "after_date_on_record",
        values,
        form="water_stop",
        options={"start_on_record": lambda v: "2026-03-01"},
        **args,
    )
    assert by_field(lookup) == {"stop_date": ["date_not_after_record"]}


# --- checkboxes and required-when ------------------------------------------------------------


def test_checkbox_groups():
    fields = ["futsu", "toza"]
    assert apply("exactly_one", {"futsu": "true", "toza": "false"}, fields=fields) == []
    assert {f.code for f in apply("exactly_one", {"futsu": "true", "toza": "true"}, fields=fields)} == {
        "several_ticked"
    }
    assert {f.code for f in apply("exactly_one", {"futsu": "false", "toza": ""}, fields=fields)} == {
        "none_ticked"
    }
    assert apply("at_least_one", {"futsu": "false", "toza": "true"}, fields=fields) == []
    decl = ["declaration_income", "declaration_limit"]
    found = apply(
        "all_ticked",
        {"declaration_income": "true", "declaration_limit": "false"},
        form="furusato_onestop",
        fields=decl,
    )
    assert by_field(found) == {"declaration_limit": ["declaration_not_ticked"]}


def test_required_when():
    args = {"field": "new_address", "when": {"field": "settlement", "equals": "納付書"}}
    assert by_field(
        apply("required_when", {"settlement": "納付書", "new_address": ""}, form="water_stop", **args)
    ) == {"new_address": ["required"]}
    assert (
        apply("required_when", {"settlement": "口座振替", "new_address": ""}, form="water_stop", **args) == []
    )
    filled = {"field": "new_postal_code", "when": {"field": "new_address", "filled": True}}
    assert by_field(
        apply(
            "required_when",
            {"new_address": "東京都千代田区千代田1-1", "new_postal_code": ""},
            form="water_stop",
            **filled,
        )
    ) == {"new_postal_code": ["required"]}


# --- routing end to end ----------------------------------------------------------------------


def _doc(values: dict[str, str]) -> DocumentResult:
    return DocumentResult(
        batch_id="b",
        document_id="water_start-0001",
        source="x.png",
        form_id="water_start",
        fields={k: FieldResult(value=v, raw=v, confidence=0.99) for k, v in values.items()},
    )


TRUE_WATER_START = {
    "postal_code": "1000005",
    "address": "東京都千代田区丸の内1丁目2-3",
    "name_kana": "サトウ\u3000タロウ",
    "name": "佐藤 太郎",
    "phone": "03-1234-5678",
    "start_date": "2026-11-01",
    "household_size": "2",
    "bank_code": "0001",
    "branch_code": "001",
    "account_type": "普通",
    "account_number": "1234567",
    "account_holder": "サトウ\u3000タロウ",
    "application_date": "2026-11-20",
}


def test_a_true_document_is_accepted_throughout():
    doc = route_document(load_form("water_start"), _doc(TRUE_WATER_START), today=TODAY)
    assert {k: f.status for k, f in doc.fields.items() if f.status is not FieldStatus.ACCEPTED} == {}


def test_misreads_are_routed_and_suggestions_never_change_the_value():
    # Given a 5→1 misread postal code (read unsure) and a wrongly hyphenated phone
    values = {**TRUE_WATER_START, "postal_code": "1000001", "phone": "031-234-5678", "branch_code": "000"}
    doc = _doc(values)
    doc.fields["postal_code"].confidence = 0.5
    doc = route_document(load_form("water_start"), doc, today=TODAY)
    pc, phone, branch = doc.fields["postal_code"], doc.fields["phone"], doc.fields["branch_code"]
    # Then review with suggestions, the values untouched; the missing branch is invalid
    assert pc.status is FieldStatus.NEEDS_REVIEW
    assert pc.reasons == ["postal_code_address_mismatch", "low_confidence"]
    assert pc.value == "1000001" and pc.suggestion.value == "1000005"
    assert doc.fields["address"].status is FieldStatus.NEEDS_REVIEW
    assert phone.status is FieldStatus.NEEDS_REVIEW and phone.value == "031-234-5678"
    assert phone.suggestion.value == "03-1234-5678" and phone.suggestion.reason == "phone_format"
    assert branch.status is FieldStatus.INVALID and "branch_code_unknown" in branch.reasons
    assert doc.fields["bank_code"].status is FieldStatus.NEEDS_REVIEW

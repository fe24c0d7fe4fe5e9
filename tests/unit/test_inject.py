"""Error injection: realistic misreads, deterministic, honest counting."""

from __future__ import annotations

import datetime as dt
import random

from yomitori.forms.schema import load_form
from yomitori.validation.inject import injection_report, misread
from yomitori.validation.my_number import check_digit

TODAY = dt.date(2026, 11, 23)


def _my_number(i: int) -> str:
    first = f"{(i * 7919 + 12345) % 10**11:011d}"
    return first + str(check_digit(first))


def _truths(n: int) -> list[dict[str, str]]:
    places = [
        ("1000001", "東京都千代田区千代田1-1"),
        ("1000005", "東京都千代田区丸の内1丁目2-3"),
        ("0600000", "北海道札幌市中央区北1条西2丁目"),
        ("9071801", "沖縄県八重山郡与那国町与那国100"),
    ]
    out = []
    for i in range(n):
        code, address = places[i % len(places)]
        out.append(
            {
                "address": address,
                "name_kana": "サトウ\u3000タロウ",
                "name": "佐藤 太郎",
                "my_number": _my_number(i),
                "gender": "男",
                "birth_date": "1980-04-01",
                "phone": "03-1234-5678",
                "donation_date": "2026-10-01",
                "donation_amount": "30000",
                "declaration_income": "true",
                "declaration_limit": "true",
            }
        )
    return out


def test_misreads_are_one_realistic_change():
    rng = random.Random(3)
    for _ in range(200):
        wrong = misread("123456789018", "digits", rng)
        # Then the value changed, by at most one character of length
        assert wrong is not None and wrong != "123456789018" and abs(len(wrong) - 12) <= 1
        day = misread("2024-04-01", "date", rng)
        assert day is not None and day != "2024-04-01" and len(day) == 10 and day[4] == day[7] == "-"
    assert misread("サトウ", "kana", random.Random(1)) != "サトウ"


def test_report_counts_catches_per_field_type_and_group():
    # Given 60 true documents of the furusato form
    report = injection_report(load_form("furusato_onestop"), _truths(60), seed=1, today=TODAY)
    # Then every injectable field was injected once per document, with nothing falsely flagged
    assert report["documents"] == 60
    mn = report["fields"]["my_number"]
    assert mn["injected"] == 60 and mn["true_value_flagged"] == 0
    # and the My Number check digit catches (nearly) all misreads; the ordinance's 0/1 blind spot
    assert mn["caught"] >= 58
    assert report["groups"]["my_number"]["caught"] == mn["caught"]
    assert report["types"]["date"]["injected"] == 120
    assert 0 < report["total"]["caught_share"] <= 1


def test_report_is_deterministic_and_value_free():
    form = load_form("furusato_onestop")
    a = injection_report(form, _truths(20), seed=5, today=TODAY)
    b = injection_report(form, _truths(20), seed=5, today=TODAY)
    assert a == b
    text = repr(a)
    assert "佐藤" not in text and "千代田" not in text and _my_number(0) not in text


def test_flagged_true_values_are_not_counted_as_catches():
    # Given a document whose true phone is already badly hyphenated (a validator flags it)
    truths = _truths(4)
    truths[0]["phone"] = "031-234-5678"
    report = injection_report(load_form("furusato_onestop"), truths, seed=0, today=TODAY)
    # Then that value is reported as flagged and left out of the caught share
    assert report["fields"]["phone"]["true_value_flagged"] == 1
    assert report["fields"]["phone"]["injected"] == 3

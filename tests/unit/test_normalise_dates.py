"""Normalised value forms and 和暦 -> 西暦 date assembly."""

from __future__ import annotations

import pytest
from yomitori.extract.dates import assemble_date, era_year, to_gregorian_year
from yomitori.normalise import normalise_value


@pytest.mark.parametrize(("kind", "text", "charset", "want"), [
    ("digits", "０３－１２３４－５６７８", "0123456789-", "03-1234-5678"),
    ("digits", "１２３ ４５６７", None, "1234567"),
    ("kana", "ﾔﾏﾀﾞ ﾀﾛｳ", None, "ヤマダ\u3000タロウ"),
    ("kana", "やまだ　たろう", None, "ヤマダ\u3000タロウ"),
    ("text", "  東京都　千代田区  １－２ ", None, "東京都 千代田区 1-2"),
])
def test_normalise_value(kind, text, charset, want):
    assert normalise_value(kind, text, charset) == want


@pytest.mark.parametrize(("era", "y", "m", "d", "iso", "raw"), [
    ("令和", "6", "4", "1", "2024-04-01", "令和6年4月1日"),
    ("令和", "元", "5", "1", "2019-05-01", "令和元年5月1日"),
    ("令和", "1", "5", "1", "2019-05-01", "令和1年5月1日"),
    ("平成", "31", "4", "30", "2019-04-30", "平成31年4月30日"),
    ("平成", "1", "1", "8", "1989-01-08", "平成1年1月8日"),
    ("昭和", "64", "1", "7", "1989-01-07", "昭和64年1月7日"),
    ("昭和", "元", "12", "25", "1926-12-25", "昭和元年12月25日"),
    ("大正", "1", "7", "30", "1912-07-30", "大正1年7月30日"),
    ("明治", "45", "7", "29", "1912-07-29", "明治45年7月29日"),
    ("西暦", "2024", "04", "01", "2024-04-01", "2024年04月01日"),
])
def test_wareki_to_iso(era, y, m, d, iso, raw):
    r = assemble_date(era, y, m, d)
    assert (r.iso, r.raw, r.problem) == (iso, raw, "")


@pytest.mark.parametrize(("era", "y", "m", "d", "problem"), [
    ("令和", "1", "4", "30", "outside_era"),  # still 平成 on that day
    ("平成", "31", "5", "1", "outside_era"),  # already 令和
    ("昭和", "64", "1", "8", "outside_era"),
    ("令和", "6", "2", "30", "bad_date"),
    ("令和", "6", "13", "1", "bad_date"),
    ("令和", "", "4", "1", "bad_date"),
])
def test_impossible_dates_are_flagged(era, y, m, d, problem):
    assert assemble_date(era, y, m, d).problem == problem


def test_era_year_and_nothing_written():
    assert era_year("元") == 1 and era_year("12") == 12 and era_year("x") is None
    assert to_gregorian_year("令和", 1) == 2019 and to_gregorian_year("平成", 1) == 1989
    assert assemble_date("令和", "", "", "").iso == ""

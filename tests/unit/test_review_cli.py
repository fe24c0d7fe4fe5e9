"""``yomitori review OUT`` as a user runs it: a real process, the printed one-time link, the
page's own requests, and the reviewed results written back when the last document is done."""

from __future__ import annotations

import http.client
import io
import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.unit.test_review_server import _doc


def _batch_folder(tmp_path: Path) -> Path:
    scans, out = tmp_path / "scans", tmp_path / "out"
    scans.mkdir()
    out.mkdir()
    buf = io.BytesIO()
    Image.new("L", (2480, 3508), 255).save(buf, "PNG")
    for d in ("doc-0001", "doc-0002"):
        (scans / f"{d}.png").write_bytes(buf.getvalue())
        doc = _doc(d, "b-cli-1")
        doc.page_keys = []  # as `yomitori process` writes them
        (out / f"{d}.json").write_text(doc.model_dump_json(), encoding="utf-8")
    (out / "batch.json").write_text(json.dumps({"batch_id": "b-cli-1", "form_id": "furusato_onestop",
                                                "scans_dir": str(scans), "csv_encoding": "utf-8-sig"}))
    return out


class Page:
    """What the browser does, with http.client: log in, then the page's JSON requests."""

    def __init__(self, url: str):
        self.port = int(url.split(":")[2].split("/")[0])
        r = self._req("GET", "/?" + url.split("?", 1)[1])
        self.cookie = r[1]["Set-Cookie"].split(";")[0]
        html = self._req("GET", "/")[2].decode()
        self.csrf = html.split('name="yomitori-csrf" content="')[1].split('"')[0]

    def _req(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if getattr(self, "cookie", None):
            headers["Cookie"] = self.cookie
        if body is not None:
            headers.update({"Content-Type": "application/json", "X-Yomitori-CSRF": self.csrf})
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = conn.getresponse()
        out = (r.status, dict(r.getheaders()), r.read())
        conn.close()
        return out

    def post(self, path, body):
        status, _, data = self._req("POST", path, body)
        assert status == 200, data
        return json.loads(data)


def test_review_command_serves_until_done_and_writes_results_back(tmp_path):
    # Given the output folder of `yomitori process` with two documents needing a person
    out = _batch_folder(tmp_path)
    # When `yomitori review OUT` runs and a reviewer settles both documents on its page
    proc = subprocess.Popen([sys.executable, "-m", "yomitori.cli", "review", str(out), "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and "?t=" in url
        page = Page(url)
        done = [{"remaining": -1}]
        while done[-1]["remaining"] != 0:  # the server stops by itself after the last one
            doc = page.post("/api/next", {})["document"]
            done.append(page.post("/api/submit", {
                "batch_id": doc["batch_id"], "document_id": doc["document_id"], "corrections": [
                    {"field": "my_number", "action": "confirm"},
                    {"field": "phone", "action": "correct", "value": "０３－９８７６－５４３２"}]}))
        summary = json.loads(proc.stdout.read().strip().splitlines()[-1])
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        proc.wait()
    # Then the command stopped by itself after the last document, the gate was released,
    assert [d["released"] for d in done[1:]] == [False, True] and summary["waiting_now"] == 0
    # and the reviewed results replaced the pre-review ones (normalised), CSV included
    for d in ("doc-0001", "doc-0002"):
        fields = json.loads((out / f"{d}.json").read_text(encoding="utf-8"))["fields"]
        assert fields["phone"]["value"] == "03-9876-5432" and fields["phone"]["status"] == "corrected"
        assert fields["my_number"]["status"] == "corrected"
    assert "03-9876-5432" in (out / "results.csv").read_text(encoding="utf-8-sig")
    # and the store's copies of the scans are gone (the audit trail stays)
    assert not list((out / ".review" / "store").rglob("*.png"))
    assert (out / ".review" / "review.sqlite3").exists()
    # and the session sealed its audit trail: the head in batch.json, a copy beside the store,
    # and `yomitori audit verify` finds the chain intact against both
    head = json.loads((out / "batch.json").read_text(encoding="utf-8"))["audit_head"]
    assert head["seq"] >= 6 and len(head["hash"]) == 64
    assert (out / ".review" / "trail" / "b-cli-1.jsonl").is_file()
    r = subprocess.run([sys.executable, "-m", "yomitori.cli", "audit", "verify", "--out", str(out)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "b-cli-1: intact" in r.stdout and "matches 2 anchor(s)" in r.stdout


def test_review_command_explains_a_wrong_folder(tmp_path):
    # When the folder is not a `yomitori process` output, Then one line says what to do (exit 4)
    r = subprocess.run([sys.executable, "-m", "yomitori.cli", "review", str(tmp_path), "--no-browser"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 4
    assert "batch.json" in r.stderr and "Traceback" not in r.stderr

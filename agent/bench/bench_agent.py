"""Benchmarks of yomitori-agent against the reference tools (not collected by pytest).

    .venv/bin/python agent/bench/bench_agent.py pack-import --mb 1000 --runs 5
    .venv/bin/python agent/bench/bench_agent.py upload --files 1000 --size 300000 --runs 3

pack-import: the same scans (300 KB files) through
  * `tar -cf - | age -r R -o pkg`        vs `yomitori-agent pack`  (hash, encrypt, fsync, read back)
  * `age -d -i K pkg | tar -x`           vs `yomitori-agent import` (decrypt, verify, rename, wipe)
upload: 1,000 scans to a local moto server, `aws s3 cp --recursive` vs `yomitori-agent upload`
(one pass for a new batch: decryption with parallel PUTs carrying SHA-256 checksums, then the
manifest and the wipe of the package).
with, for scale, the reference tools with `sync` (the package on the stick, as pack leaves it)
and with a read-back, and `dd` writing and reading back 1 GB past the cache (no encryption: the
least any verified write takes on this disk).
The machine is shared, so every run takes all steps of a kind in turn, starting one step later
each run (no step always follows the same other), and the median is reported; every timed step
starts after a `sync`, so none pays for the writes an earlier step left in the cache, and with
the scans (pack) or the package (import) in the cache.
Peak memory is GNU time's maximum resident set size of the agent process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
AGENT = [sys.executable, "-m", "yomitori_agent.cli"]
TIME = shutil.which("time") or "/usr/bin/time"
# The Debian package awscli (v2) as the brief names it; `aws` on PATH may be another install.
AWS = "/usr/bin/aws" if Path("/usr/bin/aws").exists() else (shutil.which("aws") or "aws")


def sh(cmd: str, env=None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True, env=env, executable="/bin/bash")
    return time.perf_counter() - t


def timed(argv: list[str], env=None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KB) and stdout of one command under GNU time."""
    t = time.perf_counter()
    r = subprocess.run([TIME, "-f", "%M", *argv], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed:\n{r.stderr[-2000:]}")
    return wall, int(r.stderr.strip().splitlines()[-1]), r.stdout


def make_scans(folder: Path, count: int, size: int) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    block = os.urandom(size + 4096)
    for i in range(count):
        (folder / f"water_start-{i + 1:05d}.png").write_bytes(i.to_bytes(4, "big") + block[: size - 4])
    return count * size


def keys(root: Path) -> dict[str, tuple[Path, str]]:
    out = {}
    for role in ("external", "contract"):
        p = root / f"{role}.key"
        if not p.exists():
            subprocess.run(["age-keygen", "-o", str(p)], check=True, capture_output=True)
            os.chmod(p, 0o600)
        out[role] = (
            p,
            subprocess.run(
                ["age-keygen", "-y", str(p)], check=True, capture_output=True, text=True
            ).stdout.strip(),
        )
    return out


def write_config(root: Path, k: dict, *, identity: str, endpoint: str = "", bucket: str = "") -> Path:
    from yomitori_agent.config import render_config

    cfg = root / f"agent-{identity}.toml"
    cfg.write_text(
        render_config({
            "client_id": "bench",
            "identity_file": k[identity][0],
            "state_dir": f"state-{identity}",
            "recipients": {"external_pc": [k["external"][1]], "contract_server": [k["contract"][1]]},
            "aws": {
                "endpoint_url": endpoint or "http://127.0.0.1:1",
                "intake_bucket": bucket or "none",
                "upload_concurrency": 10,
            },
            "pack": {"settle_seconds": 0},
        }),
        encoding="utf-8",
    )
    return cfg


def settle() -> None:
    """Flush what earlier steps left dirty, so no step pays for another's writes."""
    os.sync()


_TRASH = "trash"


def _clean(d: Path) -> None:
    """An empty ``d``. What it held is moved aside and deleted only at the end of the run:
    on ext4 without a journal (this machine's disk) every new inode is checked against those
    deleted in the last 60-300 s, so deleting thousands of files between timed steps would
    slow down whichever step creates files next, the reference tool's and the agent's alike."""
    if d.exists():
        trash = d.parent / _TRASH
        trash.mkdir(exist_ok=True)
        d.rename(trash / f"{d.name}-{time.monotonic_ns()}")
    d.mkdir(parents=True)


def _empty_stick(usb: Path) -> None:
    """Delete the packages on the stick right away (a few large files, unlike the folders of
    scans), so every step writes to blocks the disk has held before, as a reused stick has."""
    usb.mkdir(parents=True, exist_ok=True)
    for p in usb.iterdir():
        p.unlink()


def _warm(files: list[Path]) -> None:
    """Read ``files`` into the OS cache. This machine's cache is emptied of whatever is not in
    use (about 15 MB/s, measured), so the scans would otherwise come from the disk for one step
    and from the cache for the next; every step starts with them in the cache."""
    buf = bytearray(1 << 20)
    for path in files:
        with open(path, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass


def _empty_trash(root: Path) -> None:
    shutil.rmtree(root / _TRASH, ignore_errors=True)


def bench_pack_import(args) -> dict:
    root = Path(args.workdir)
    root.mkdir(parents=True, exist_ok=True)
    k = keys(root)
    scans = root / "scans"
    count = max(1, args.mb * 1_000_000 // 300_000)
    if not scans.is_dir() or len(list(scans.iterdir())) != count:
        _clean(scans)
        make_scans(scans, count, 300_000)
    total = sum(p.stat().st_size for p in scans.iterdir())
    cfg_ext = write_config(root, k, identity="external")
    cfg_con = write_config(root, k, identity="contract")
    cfg_key = root / "agent-contract-keywipe.toml"
    cfg_key.write_text(
        cfg_con.read_text().replace(
            'state_dir = "state-contract"', 'state_dir = "state-contract"\npackage_wipe = "key"'
        )
    )
    usb = root / "usb"
    # a results package of the same files for import (what download writes)
    import pyrage
    from yomitori_agent.manifests import FileEntry, ResultsManifest, dump
    from yomitori_agent.package import SourceFile, write_package

    files, entries = [], []
    for p in sorted(scans.iterdir()):
        st = p.stat()
        files.append(SourceFile(p.name, p, st.st_size, st.st_mtime_ns))
        entries.append(
            FileEntry(name=p.name, size=st.st_size, sha256=hashlib.sha256(p.read_bytes()).hexdigest())
        )
    results_pkg = root / "results-master.age"
    if not results_pkg.exists():
        m = ResultsManifest(
            batch_id="bench-20260101-000000-000000",
            client_id="bench",
            created_at=dt.datetime.now(dt.UTC),
            files=entries,
        )
        write_package(
            results_pkg, files, lambda _d: dump(m), [pyrage.x25519.Recipient.from_str(k["contract"][1])]
        )

    recipient, identity = k["external"][1], k["contract"][0]
    tarball = root / "scans.tar"
    sh(f"tar -cf {tarball} -C {scans} .")
    out, inbox = root / "out", root / "inbox"

    def ready_to_pack() -> None:
        _empty_stick(usb)
        _warm([*scans.iterdir(), tarball])
        settle()

    def on_clean_stick(cmd: str) -> float:
        ready_to_pack()
        return sh(cmd)

    def agent(cfg: Path, *argv: str, rss: str | None = None) -> float:
        wall, kb, _ = timed([*AGENT, "--config", str(cfg), "--no-progress", *argv])
        if rss:
            res[rss].append(kb)
        return wall

    def agent_pack() -> float:
        ready_to_pack()
        return agent(cfg_ext, "pack", str(scans), "--to", str(usb), "--again", rss="rss_pack_kb")

    def with_results_package(fn):
        def step() -> float:
            _clean(out)
            _clean(inbox)
            _empty_stick(usb)
            shutil.copy(results_pkg, usb / "results.age")  # which also puts it in the cache
            settle()
            return fn()
        return step

    pack_steps = {
        "age_pack": lambda: on_clean_stick(f"tar -cf - -C {scans} . | age -r {recipient} -o {usb}/ref.age"),
        "agent_pack": agent_pack,
        # the same end state as pack: the package is on the stick, not only in the cache
        "age_pack_sync": lambda: on_clean_stick(
            f"tar -cf - -C {scans} . | age -r {recipient} -o {usb}/ref.age && sync"),
        # the same guarantees as pack: synced, then read back from the disk (O_DIRECT)
        "age_pack_sync_readback": lambda: on_clean_stick(
            f"tar -cf - -C {scans} . | age -r {recipient} -o {usb}/ref.age && sync "
            f"&& dd if={usb}/ref.age iflag=direct bs=4M of=/dev/null status=none"),
        "age_encrypt_only": lambda: on_clean_stick(f"age -r {recipient} -o {usb}/ref.age {tarball}"),
        # no encryption at all: the least time any write that is read back from this disk takes
        "disk_write_readback": lambda: on_clean_stick(
            f"dd if={tarball} of={usb}/floor.bin bs=4M oflag=direct status=none && sync "
            f"&& dd if={usb}/floor.bin iflag=direct bs=4M of=/dev/null status=none"),
    }
    import_steps = {
        "age_import": with_results_package(
            lambda: sh(f"age -d -i {identity} {usb}/results.age | tar -x -C {out}")),
        "agent_import": with_results_package(
            lambda: agent(cfg_con, "import", str(usb), "--to", str(inbox), rss="rss_import_kb")),
        "age_import_sync": with_results_package(
            lambda: sh(f"age -d -i {identity} {usb}/results.age | tar -x -C {out} && sync")),
        "agent_import_keywipe": with_results_package(
            lambda: agent(cfg_key, "import", str(usb), "--to", str(inbox))),
    }
    res: dict = {"bytes": total, "files": count, "rss_pack_kb": [], "rss_import_kb": []}
    for steps in (pack_steps, import_steps):
        res.update({name: [] for name in steps})
    for run in range(args.runs):
        for steps in (pack_steps, import_steps):
            names = list(steps)
            shift = run % len(names)  # each step comes at another place in every run
            for name in names[shift:] + names[:shift]:
                res[name].append(steps[name]())
    tarball.unlink()
    _empty_trash(root)
    return res


def _pack_then_upload(cfg: Path, scans: Path, usb: Path, env: dict) -> tuple[float, int, dict]:
    """Pack ``scans`` onto an empty ``usb`` (untimed), then time the upload: wall seconds,
    peak RSS (KB) and the batch's result."""
    _clean(usb)
    base = [*AGENT, "--config", str(cfg), "--no-progress"]
    subprocess.run([*base, "pack", str(scans), "--to", str(usb), "--again"], check=True,
                   capture_output=True, env=env)
    settle()
    wall, rss, out = timed([*base, "upload", str(usb)], env=env)
    return wall, rss, json.loads(out)["batches"][0]


def bench_upload(args) -> dict:
    sys.path.insert(0, str(REPO / "tests"))  # the test helper that runs a real moto server
    from support.moto_server import MotoServer

    root = Path(args.workdir) / "upload"
    root.mkdir(parents=True, exist_ok=True)
    k = keys(root)
    scans = root / "scans"
    _clean(scans)
    make_scans(scans, args.files, args.size)
    res: dict = {
        "files": args.files,
        "bytes": args.files * args.size,
        "aws_cli": [],
        "agent_upload": [],
        "agent_passes": [],  # 1 for a new batch named by pack (pages go up as they are decrypted)
        "agent_upload_ramdisk_work": [],
        "rss_upload_kb": [],
    }
    res["aws_version"] = subprocess.run([AWS, "--version"], capture_output=True, text=True).stdout.strip()
    with MotoServer(log_path=root / "moto.log") as server:
        env = {**os.environ, **server.env()}
        s3 = server.client("s3")
        for run in range(args.runs):
            bucket = f"bench-{run}-{os.getpid()}"
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
            )
            settle()
            res["aws_cli"].append(
                sh(
                    f"{AWS} s3 cp --recursive --only-show-errors {scans} s3://{bucket}/awscli/ "
                    f"--endpoint-url {server.url}",
                    env=env,
                )
            )
            cfg = write_config(root, k, identity="external", endpoint=server.url, bucket=bucket)
            usb = root / "usb"
            wall, rss, batch = _pack_then_upload(cfg, scans, usb, env)
            assert batch["uploaded"] == args.files, batch
            res["agent_upload"].append(wall)
            res["agent_passes"].append(batch["passes"])
            res["rss_upload_kb"].append(rss)
            if Path("/dev/shm").is_dir():  # the same with work_dir on a RAM disk
                bucket2 = bucket + "-ram"
                s3.create_bucket(
                    Bucket=bucket2, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
                )
                cfg2 = write_config(root, k, identity="external", endpoint=server.url, bucket=bucket2)
                cfg2.write_text(
                    cfg2.read_text().replace(
                        'state_dir = "state-external"',
                        'state_dir = "state-external"\nwork_dir = "/dev/shm/yomitori-bench"',
                    )
                )
                wall, _, batch = _pack_then_upload(cfg2, scans, usb, env)
                assert batch["uploaded"] == args.files, batch
                res["agent_upload_ramdisk_work"].append(wall)
    _empty_trash(root)
    return res


def summarise(res: dict) -> dict:
    med = {k: round(statistics.median(v), 3) for k, v in res.items() if isinstance(v, list) and v}
    out = {"raw": res, "median": med}
    mb = res["bytes"] / 1e6
    if "agent_pack" in med:
        out["pack_MBps"] = round(mb / med["agent_pack"], 1)
        out["age_pack_MBps"] = round(mb / med["age_pack"], 1)
        out["pack_vs_age"] = round(med["age_pack"] / med["agent_pack"], 3)
        out["pack_vs_age_with_sync"] = round(med["age_pack_sync"] / med["agent_pack"], 3)
        out["pack_vs_age_encrypt_only"] = round(med["age_encrypt_only"] / med["agent_pack"], 3)
        out["pack_vs_age_sync_readback"] = round(med["age_pack_sync_readback"] / med["agent_pack"], 3)
        out["pack_vs_disk_write_readback"] = round(med["disk_write_readback"] / med["agent_pack"], 3)
        out["import_vs_age_sync"] = round(med["age_import_sync"] / med["agent_import"], 3)
        out["import_keywipe_vs_age"] = round(med["age_import"] / med["agent_import_keywipe"], 3)
        out["import_keywipe_vs_age_sync"] = round(med["age_import_sync"] / med["agent_import_keywipe"], 3)
        out["import_MBps"] = round(mb / med["agent_import"], 1)
        out["age_import_MBps"] = round(mb / med["age_import"], 1)
        out["import_vs_age"] = round(med["age_import"] / med["agent_import"], 3)
        out["peak_rss_MB"] = {
            "pack": round(max(res["rss_pack_kb"]) / 1024, 1),
            "import": round(max(res["rss_import_kb"]) / 1024, 1),
        }
    if "agent_upload" in med:
        out["upload_vs_aws_cli"] = round(med["aws_cli"] / med["agent_upload"], 3)
        if "agent_upload_ramdisk_work" in med:
            out["upload_ramdisk_work_vs_aws_cli"] = round(
                med["aws_cli"] / med["agent_upload_ramdisk_work"], 3
            )
        out["peak_rss_MB"] = {"upload": round(max(res["rss_upload_kb"]) / 1024, 1)}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("pack-import", "upload"))
    p.add_argument("--mb", type=int, default=1000, help="pack-import: megabytes of scans")
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("--size", type=int, default=300_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--workdir", default="/tmp/yomitori-agent-bench")
    p.add_argument("--out", help="write the JSON result here too")
    args = p.parse_args()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    res = bench_pack_import(args) if args.what == "pack-import" else bench_upload(args)
    summary = summarise(res)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""The agent's test site: real age keys, scans, a config file and buckets on a moto server.
Shared by the agent's integration tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from yomitori_agent.config import render_config

from support.moto_server import MotoServer

AGE = shutil.which("age")
AGE_KEYGEN = shutil.which("age-keygen")


def make_key(path: Path) -> str:
    """A real identity made by age-keygen (mode 600); returns its recipient."""
    subprocess.run([AGE_KEYGEN, "-o", str(path)], check=True, capture_output=True)
    os.chmod(path, 0o600)
    return subprocess.run(
        [AGE_KEYGEN, "-y", str(path)], check=True, capture_output=True, text=True
    ).stdout.strip()


@contextlib.contextmanager
def _ctrl_c_reaches_children():
    """While a child starts: SIGINT as an operator's terminal gives its foreground command
    (default disposition, not blocked), whatever this test process inherited.

    A process started with SIGINT ignored, as a shell does for ``cmd &`` when it has no job
    control (``bash -c '... &'``, scripts, some CI launchers), passes that on through exec, and
    Python then installs no KeyboardInterrupt handler: the agent would never see the test's
    Ctrl-C. A *caught* signal is reset to its default across exec, so catching SIGINT here (the
    usual Python handler) for the moment of the start gives the child the default, and Python in
    the child its handler. A blocked SIGINT would be inherited the same way: unblocked too."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal.signal only works in the main thread; pytest runs tests there
        return
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_scans(
    folder: Path, count: int, size: int = 4000, *, seed: int = 1, prefix: str = "water_start"
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        p = folder / f"{prefix}-{i + 1:04d}.png"
        p.write_bytes(rnd.randbytes(size + rnd.randrange(200)))
        out.append(p)
    return out


@dataclass
class Site:
    root: Path
    config: Path
    scans: Path
    usb: Path
    inbox: Path
    watch: Path
    state: Path
    intake: str
    results: str
    server: MotoServer

    def env(self) -> dict[str, str]:
        env = {**os.environ, **self.server.env(), "PYTHONIOENCODING": "utf-8"}
        env.pop("AWS_PROFILE", None)
        if "AWS_SESSION_TOKEN" not in self.server.env():
            env.pop("AWS_SESSION_TOKEN", None)
        return env

    def run(
        self, *args: str, config: Path | None = None, identity: Path | None = None
    ) -> subprocess.CompletedProcess:
        """Run the real command line (``python -m yomitori_agent.cli``)."""
        cmd = [
            sys.executable,
            "-m",
            "yomitori_agent.cli",
            "--config",
            str(config or self.config),
            "--no-progress",
            *args,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env(), timeout=300)

    def popen(self, *args: str) -> subprocess.Popen:
        """Start the real command line in the background, as an operator starts it at a
        terminal: Ctrl-C (SIGINT) reaches it even if this test run was started with SIGINT
        ignored (see _ctrl_c_reaches_children)."""
        cmd = [
            sys.executable,
            "-m",
            "yomitori_agent.cli",
            "--config",
            str(self.config),
            "--no-progress",
            *args,
        ]
        with _ctrl_c_reaches_children():
            return subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env()
            )

    @property
    def batches_table(self) -> str:
        """The name a test gives the batches table when it makes one for this site."""
        return f"batches-{self.intake[-8:]}"

    def s3(self):
        return self.server.client("s3")

    def create_buckets(self, *, versioned: bool = False) -> None:
        s3 = self.s3()
        for b in (self.intake, self.results):
            s3.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
            if versioned:
                s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})


def write_config(path: Path, *, server_url: str, keys: dict, intake: str, results: str) -> None:
    path.write_text(
        render_config({
            "client_id": "city-test",
            "identity_file": keys["external"][0],
            "state_dir": "state",
            "inbox": "inbox",
            "recipients": {"external_pc": [keys["external"][1]], "contract_server": [keys["contract"][1]]},
            "aws": {
                "endpoint_url": server_url,
                "region": "ap-northeast-1",
                "intake_bucket": intake,
                "results_bucket": results,
                "upload_concurrency": 4,
                "max_attempts": 2,
                "connect_timeout": 2,
                "read_timeout": 10,
            },
            "pack": {"settle_seconds": 0, "done_dir": "done"},
            "register": {"watch_dir": "watch"},
        }),
        encoding="utf-8",
    )


def make_site(root: Path, server: MotoServer, keys: dict) -> Site:
    tag = secrets.token_hex(4)
    site = Site(
        root,
        root / "agent.toml",
        root / "scans",
        root / "usb",
        root / "inbox",
        root / "watch",
        root / "state",
        f"intake-{tag}",
        f"results-{tag}",
        server,
    )
    for d in (site.scans, site.usb):
        d.mkdir(parents=True, exist_ok=True)
    write_config(site.config, server_url=server.url, keys=keys, intake=site.intake, results=site.results)
    return site


def make_guarded_site(root: Path, server: MotoServer, guard, template: dict, keys: dict) -> Site:
    """A site (buckets created) whose agent reaches ``server`` through ``guard`` as the
    synthesized agent policy (tests/support/policy_guard.py); ``site.s3()`` stays unchecked."""
    from support.policy_guard import Deployment, GuardedServer, guard_agent

    site = make_site(root, GuardedServer(server, guard), keys)
    site.create_buckets()
    guard_agent(guard, template, Deployment(intake=site.intake, results=site.results,
                                            tables={"batches": site.batches_table}))
    guard.reset()
    return site

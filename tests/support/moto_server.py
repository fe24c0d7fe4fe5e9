"""A real moto server process on 127.0.0.1 for integration tests (S3, DynamoDB, KMS, STS,
Step Functions, ... all from one server), with stop/restart on the same port for fault tests.

Usage::

    with MotoServer() as server:            # or the ``moto_server`` fixture of a conftest
        s3 = server.client("s3")
        ...
        server.kill()                       # SIGKILL, like a crash or a cut line
        server.restart()                    # same port, empty state (moto keeps state in memory)

``server.env()`` gives the environment a subprocess (e.g. the agent CLI) needs to reach it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "ap-northeast-1",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _moto_executable() -> list[str]:
    venv_bin = Path(sys.executable).parent
    exe = venv_bin / ("moto_server.exe" if os.name == "nt" else "moto_server")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("moto_server")
    if found:
        return [found]
    return [sys.executable, "-m", "moto.server"]


class MotoServer:
    """One ``moto_server`` subprocess bound to 127.0.0.1:``port``."""

    def __init__(self, port: int | None = None, *, start_timeout: float = 30.0, log_path: Path | None = None):
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        if self.proc is not None and self.proc.poll() is None:
            return self
        out = subprocess.DEVNULL
        if self.log_path is not None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            out = self._log
        env = {**os.environ, **CREDENTIALS}
        self.proc = subprocess.Popen([*_moto_executable(), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=out, stderr=subprocess.STDOUT, env=env)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Poll until the server answers HTTP (bounded by ``start_timeout``)."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"moto_server exited with {code} (port {self.port} in use?)")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not answer on {self.url}") from None
                time.sleep(0.05)

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): requests hang, as on a stalled line. POSIX only."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        """Kill the server abruptly (no clean shutdown); its in-memory state is lost."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if os.name == "posix":
                os.kill(self.proc.pid, signal.SIGCONT)  # a paused server cannot terminate
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> MotoServer:
        """Kill and start again on the same port (empty state)."""
        self.kill()
        self.proc = None
        return self.start()

    def reset(self) -> None:
        """Forget all state without restarting (moto's reset API)."""
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=10).close()

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that talks to this server."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.url}

    def client(self, service: str, region: str = "ap-northeast-1"):
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name=region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

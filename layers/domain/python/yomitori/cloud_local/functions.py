"""The local cloud's function runner: what Lambda does with an invocation, for the functions
deployed into the moto server (runs inside the moto server process, see
:mod:`yomitori.cloud_local.moto_host`; one machine only).

A function's code and its domain layer are the zips deployed to moto's Lambda (the
synthesized assets); a third-party layer (group ``base``, ``imaging``, ...) is its host build
(:func:`yomitori.cloud_local.layers.host_layer`), since the deployed one is built for the
Lambda platform. Each invocation runs in a warm worker process whose import path holds only
the function's code, its layers and the runtime's packages (``lambda_worker.py``); workers
are kept per function and configuration, as Lambda keeps execution environments.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from yomitori.cloud_local.evidence import INVOCATIONS_LOG
from yomitori.cloud_local.layers import RUNTIME, host_layer
from yomitori.cloud_local.server import state_dir

LAYER_GROUP_TAG = "yomitori-layer-group.json"  # in a third-party layer's zip: {"group": ...}
# Variables the worker takes from this machine (not from the function's configuration).
HOST_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "OMP_THREAD_LIMIT", "TESSDATA_PREFIX")


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    arn: str
    handler: str
    code: Path  # the unpacked code
    layers: tuple[Path, ...]  # layer roots (each with python/), in the function's order
    environment: tuple[tuple[str, str], ...]
    timeout: int
    memory: int


def _unzip(data: bytes, root: Path) -> Path:
    if not data.startswith(b"PK"):
        data = base64.b64decode(data)
    dest = root / hashlib.sha256(data).hexdigest()[:16]
    if not dest.is_dir():
        tmp = dest.with_name(f".{dest.name}-{os.getpid()}-{threading.get_ident()}")
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            z.extractall(tmp)
        with contextlib.suppress(OSError):  # another thread unpacked it first
            tmp.rename(dest)
    return dest


_layers_lock = threading.Lock()
_layer_roots: dict[str, Path] = {}


def layer_root(data: bytes) -> Path:
    """The folder a deployed layer stands for on this machine (worked out once per layer)."""
    digest = hashlib.sha256(data).hexdigest()
    with _layers_lock:
        if digest not in _layer_roots:
            root = _unzip(data, state_dir() / "code")
            tag = root / LAYER_GROUP_TAG
            if tag.is_file():
                root = host_layer(json.loads(tag.read_text())["group"])
            _layer_roots[digest] = root
        return _layer_roots[digest]


def spec_for(fn) -> FunctionSpec:
    """A moto ``LambdaFunction`` as this runner runs it."""
    from moto.awslambda.models import lambda_backends

    backend = lambda_backends[fn.account_id][fn.region]
    layers = []
    for layer in fn.layers:
        version = backend.layers_versions_by_arn(layer["Arn"])
        layers.append(layer_root(version.code_bytes))
    env = dict(fn.environment_vars)
    # /opt is where Lambda merges the layers: point such settings at the layer that has the path
    for key, value in env.items():
        if isinstance(value, str) and value.startswith("/opt/"):
            rel = value.removeprefix("/opt/")
            env[key] = next((str(r / rel) for r in layers if (r / rel).exists()), value)
    return FunctionSpec(
        name=fn.function_name,
        arn=fn.function_arn,
        handler=fn.handler,
        code=_unzip(fn.code_bytes, state_dir() / "code"),
        layers=tuple(layers),
        environment=tuple(sorted(env.items())),
        timeout=int(fn.timeout or 3),
        memory=int(fn.memory_size or 128),
    )


class _Worker:
    def __init__(self, spec: FunctionSpec, endpoint: str):
        with _layers_lock:  # built once per process; concurrent first invocations wait here
            if RUNTIME not in _layer_roots:
                _layer_roots[RUNTIME] = host_layer(RUNTIME)
            runtime = _layer_roots[RUNTIME]
        path = [str(spec.code), *(str(r / "python") for r in spec.layers), str(runtime / "python")]
        env = {k: os.environ[k] for k in HOST_VARIABLES if k in os.environ}
        env.update(dict(spec.environment))
        env.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_REGION": env.get("AWS_REGION", "ap-northeast-1"),
                "AWS_DEFAULT_REGION": env.get("AWS_REGION", "ap-northeast-1"),
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "YOMITORI_LOCAL_FUNCTION_ARN": spec.arn,
                "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        logs = state_dir() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.log = open(logs / f"{spec.name}.log", "ab")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(Path(__file__).with_name("lambda_worker.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            cwd=str(spec.code),
        )
        config = {
            "path": path,
            "handler": spec.handler,
            "function_name": spec.name,
            "timeout": spec.timeout,
            "memory": spec.memory,
        }
        self._send(config)

    def _send(self, obj: dict) -> None:
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()

    def call(self, event, request_id: str) -> dict:
        self._send({"event": event, "request_id": request_id})
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the function's process ended")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


class FunctionRunner:
    """Warm workers per function configuration; any number of concurrent invocations."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self._idle: dict[FunctionSpec, list[_Worker]] = {}
        self._all: list[_Worker] = []
        self._lock = threading.Lock()

    def invoke(
        self, spec: FunctionSpec, event, *, from_states: bool = False
    ) -> tuple[dict | None, dict | None, str]:
        """(payload, error, logs) of one invocation; ``error`` is Lambda's error object.
        ``from_states``: a Step Functions task (recorded as its history would record it)."""
        with self._lock:
            idle = self._idle.setdefault(spec, [])
            worker = idle.pop() if idle else None
        if worker is None:
            worker = _Worker(spec, self.endpoint)
            with self._lock:
                self._all.append(worker)
        try:
            reply = worker.call(event, str(uuid.uuid4()))
        except Exception as e:
            worker.close()
            return None, {"errorType": "Runtime.ExitError", "errorMessage": str(e)}, ""
        with self._lock:
            self._idle[spec].append(worker)
        if from_states:  # what Step Functions records of a Lambda task (its payload and its result)
            with self._lock, open(state_dir() / INVOCATIONS_LOG, "a", encoding="utf-8") as fh:
                record = {
                    "function": spec.name,
                    "event": event,
                    "result": reply["payload"],
                    "error": reply["error"],
                }
                fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        return reply["payload"], reply["error"], reply["logs"]

    def close(self) -> None:
        with self._lock:
            for w in self._all:
                w.close()
            self._all.clear()
            self._idle.clear()

"""What every handler shares: the error boundary (typed errors -> a typed failure result,
once), idempotency (Powertools, DynamoDB; built on first use), and a context for local runs.
Runs in Lambda and in the local cloud runner."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from yomitori.errors import YomitoriError
from yomitori.steps.events import BadEvent

Handler = Callable[[dict, Any], dict]
_built: dict[Callable, tuple[Any, Callable]] = {}


def failure(e: YomitoriError, **ids: Any) -> dict:
    """The typed failure result: ok=false, a stable code, what to do; ids only."""
    out = {"ok": False, "error": e.code, "message": e.message, "action": e.action, **ids}
    if isinstance(e, BadEvent):
        out["fields"] = e.fields
    if hasattr(e, "refused"):
        out["refused"] = e.refused
    return out


def _safe_ids(event: Any) -> dict:
    """The event's batch and document ids, only when they are well-formed ids (a broken
    caller may have put anything there; a refusal must not echo it)."""
    import re

    from yomitori.batch import BATCH_ID_PATTERN
    from yomitori.steps.events import DOCUMENT_ID_PATTERN

    if not isinstance(event, dict):
        return {}
    patterns = {"batch_id": BATCH_ID_PATTERN, "document_id": DOCUMENT_ID_PATTERN}
    return {
        k: event[k] for k, p in patterns.items() if isinstance(event.get(k), str) and re.match(p, event[k])
    }


def boundary(*translate: type[YomitoriError]) -> Callable[[Handler], Handler]:
    """Turn a bad event and the given typed errors into a failure result (logged as a code);
    anything else is raised, so Step Functions retries it or records the failure."""

    def deco(fn: Handler) -> Handler:
        @functools.wraps(fn)
        def inner(event: dict, context: Any) -> dict:
            from yomitori.observability import add_metric, logger

            try:
                return fn(event, context)
            except (BadEvent, *translate) as e:
                logger().warning(
                    "request refused", extra={"error": e.code, "fields": getattr(e, "fields", None)}
                )
                add_metric("BadEvents" if isinstance(e, BadEvent) else "RefusedRequests", 1)
                ids = _safe_ids(event)
                return failure(e, **ids)
            except Exception as e:
                # Step Functions records the error's type and message in the execution history
                # (90 days, cannot be deleted): raise it again under its own type name (retries
                # and catches match on it) with a message that holds no value and no file name.
                raise scrubbed(e) from None

        return inner

    return deco


_scrubbed_types: dict[str, type] = {}


def scrubbed(e: Exception) -> Exception:
    """An exception of the same type name as ``e`` whose message is only a code and where it
    was raised (file and line); the original is logged the same way, never its message."""
    import traceback

    from yomitori.observability import logger

    name = type(e).__name__
    frames = traceback.extract_tb(e.__traceback__)
    where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"
    code = getattr(e, "code", None) or name
    if isinstance(e, ImportError) and e.name:  # a module name is no personal data, and says what is missing
        code = f"{name}({e.name})"
    logger().error("step failed", extra={"error": name, "code": code, "where": where})
    # a subclass of the original type (callers and tests still catch it as such), same name
    key = f"{type(e).__module__}.{type(e).__qualname__}"
    if key not in _scrubbed_types:
        try:
            _scrubbed_types[key] = type(name, (type(e),), {"__module__": "yomitori.scrubbed"})
        except TypeError:  # a type that cannot be subclassed
            _scrubbed_types[key] = type(name, (Exception,), {"__module__": "yomitori.scrubbed"})
    cls = _scrubbed_types[key]
    out = cls.__new__(cls)
    message = f"{code} at {where} (details withheld: they may hold personal data)"
    Exception.__init__(out, message)
    if isinstance(e, YomitoriError):
        out.code, out.action, out.message = e.code, e.action, message
    return out


def idempotent(key_jmespath: str, *, expires_after_seconds: int = 86400) -> Callable[[Callable], Callable]:
    """Make ``fn(event) -> dict`` idempotent on the event fields ``key_jmespath`` selects
    (Powertools idempotency, the DynamoDB table named in the settings; the table stores the
    returned dict, which holds ids and keys only). Without a table configured, a plain call."""

    def deco(fn: Callable[..., dict]) -> Callable[[dict, Any], dict]:
        @functools.wraps(fn)
        def call(event: dict, context: Any = None) -> dict:
            from yomitori.steps.config import get_settings

            table = get_settings().idempotency_table
            if not table:
                return fn(event=event)
            if fn not in _built:
                from aws_lambda_powertools.utilities.idempotency import (
                    DynamoDBPersistenceLayer,
                    IdempotencyConfig,
                    idempotent_function,
                )

                from yomitori.store.clients import client

                config = IdempotencyConfig(
                    event_key_jmespath=key_jmespath,
                    raise_on_no_idempotency_key=True,
                    expires_after_seconds=expires_after_seconds,
                )
                layer = DynamoDBPersistenceLayer(table_name=table, boto3_client=client("dynamodb"))
                _built[fn] = (
                    config,
                    idempotent_function(
                        data_keyword_argument="event", config=config, persistence_store=layer
                    )(fn),
                )
            config, wrapped = _built[fn]
            if hasattr(context, "get_remaining_time_in_millis"):
                config.register_lambda_context(context)
            return wrapped(event=event)

        return call

    return deco


def reset() -> None:
    _built.clear()


@dataclass
class LocalContext:
    """The Lambda context the local runner passes (what Powertools reads from it)."""

    function_name: str
    aws_request_id: str = "local"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:ap-northeast-1:123456789012:function:local"
    log_group_name: str = "/local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000

"""Logger, Tracer and Metrics from one place, built lazily (first use, not import), so
importing a handler stays cheap and tests can set the environment first.

Runs in Lambda (handlers) and in the local cloud runner. What goes into logs and metrics is
ids, counts and reason codes only; never a value read from a form.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from yomitori.settings import METRIC_NAMESPACE, SERVICE_NAME

_generation = 0  # bumped by reset(), so wrapped handlers pick up the new objects


@functools.cache
def logger() -> Any:
    """The Powertools Logger (JSON to stdout; Lambda ships it to CloudWatch Logs)."""
    from aws_lambda_powertools import Logger

    return Logger(service=SERVICE_NAME)


@functools.cache
def tracer() -> Any:
    """The Powertools Tracer (X-Ray; disabled by Powertools outside Lambda)."""
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE_NAME)


@functools.cache
def metrics() -> Any:
    """The Powertools Metrics (CloudWatch embedded metric format, flushed per invocation)."""
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=METRIC_NAMESPACE, service=SERVICE_NAME)


def add_metric(name: str, value: float, unit: str = "Count") -> None:
    """Record one metric (``unit``: a CloudWatch unit name such as Count or Milliseconds)."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics().add_metric(name=name, unit=getattr(MetricUnit, unit), value=value)


def bind(**ids: str | None) -> None:
    """Add ids (batch_id, document_id, ...) as keys of every following log line."""
    logger().append_keys(**{k: v for k, v in ids.items() if v is not None})


def lambda_entry(fn: Callable[[dict, Any], dict]) -> Callable[[dict, Any], dict]:
    """Wrap a handler with the Logger context (no event logging), the Tracer
    (``capture_response=False``: responses never go to X-Ray) and the Metrics flush.
    The Powertools objects are built on the first invocation, not at import."""
    built: dict[int, Callable[[dict, Any], dict]] = {}

    @functools.wraps(fn)
    def handler(event: dict, context: Any) -> dict:
        wrapped = built.get(_generation)
        if wrapped is None:  # first call, or after reset(): wrap with the current objects
            w = metrics().log_metrics(fn)
            w = tracer().capture_lambda_handler(w, capture_response=False, capture_error=False)
            wrapped = logger().inject_lambda_context(w, log_event=False, clear_state=True)
            built.clear()
            built[_generation] = wrapped
        return wrapped(event, context)

    return handler


def reset() -> None:
    """Forget the Powertools objects (tests and the local runner that change the environment
    or the output streams): the next use builds a Logger whose handler writes to the stdout
    of that moment, instead of reusing the handler Powertools keeps on the Python logger."""
    import logging

    if logger.cache_info().currsize:
        py_logger = logging.getLogger(SERVICE_NAME)
        for h in list(py_logger.handlers):
            py_logger.removeHandler(h)
        for attr in ("init", "powertools_handler", "logger_handler"):  # Powertools' markers
            if hasattr(py_logger, attr):
                delattr(py_logger, attr)
    for f in (logger, tracer, metrics):
        f.cache_clear()
    global _generation
    _generation += 1

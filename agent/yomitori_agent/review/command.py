"""Entry points the two command lines call: ``yomitori review OUT`` (one machine) runs
:func:`run_one_machine`; ``yomitori-agent review`` (its own door in ``yomitori_agent.cli``)
calls :func:`yomitori_agent.review.cloud_backend` and :func:`yomitori_agent.review.serve`,
optionally after :func:`apply_agent_config`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def apply_agent_config(cfg) -> None:
    """Default the AWS region, profile, S3 endpoint and bucket variables from the agent's
    configuration (variables already set win). Tables and the KMS key come from the same
    ``YOMITORI_*`` variables the Lambdas read (docs/review.md)."""
    from yomitori import settings

    aws = cfg.aws
    defaults = {
        "AWS_DEFAULT_REGION": aws.region,
        "AWS_PROFILE": aws.profile,
        "AWS_ENDPOINT_URL_S3": aws.endpoint_url,
        settings.ENV_INTAKE_BUCKET: aws.intake_bucket,
        settings.ENV_RESULTS_BUCKET: aws.results_bucket,
    }
    for k, v in defaults.items():
        if v and not os.environ.get(k):
            os.environ[k] = v


def run_one_machine(args: argparse.Namespace) -> dict:
    """``yomitori review OUT``: serve the review of a ``yomitori process`` output folder until
    its last document is done (or Ctrl-C); returns the summary (ids and counts)."""
    from yomitori.audit.sources import seal_folder

    from yomitori_agent.review import local_backend, serve

    backend = local_backend(Path(args.dir))
    try:
        return serve(backend, port=args.port, open_browser=not args.no_browser, exit_when_done=not args.stay)
    finally:  # the trail's head into batch.json, a copy beside it: the anchors `yomitori audit verify` reads
        seal_folder(Path(args.dir), backend.reviews, backend.batch_id)

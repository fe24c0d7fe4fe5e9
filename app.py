#!/usr/bin/env python3
"""CDK entry point: reads the typed config from cdk.json context and builds the stack.

Synth runs offline (no AWS credentials, no Docker), also with ``account`` set: AZs come from
config (infra/app.py answers the AZ lookup from it), there are no context lookups, and
cdk-nag (AwsSolutions) runs as a policy-validation plugin on every synth.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # `infra` when run from elsewhere

from infra.app import build_app  # noqa: E402
from infra.config import ConfigError  # noqa: E402

if __name__ == "__main__":
    # The CDK CLI passes its output folder in CDK_OUTDIR; run alone (`python app.py`), write
    # where the CLI would, ./cdk.out, so `cfn-lint cdk.out/*.template.json` finds the template.
    outdir = None if os.environ.get("CDK_OUTDIR") else "cdk.out"
    try:
        build_app(outdir=outdir).synth()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)

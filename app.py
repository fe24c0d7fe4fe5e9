#!/usr/bin/env python3
"""CDK entry point: reads the typed config from cdk.json context and builds the stack.

Synth runs offline (no AWS credentials, no Docker): AZs come from config, there are no
context lookups, and cdk-nag (AwsSolutions) runs as a policy-validation plugin on every synth.
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
    try:
        build_app().synth()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)

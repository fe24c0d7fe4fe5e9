"""The cloud path on one machine (see :mod:`yomitori.cloud_local.server` and
:mod:`yomitori.cloud_local.runner`): ``yomitori local up|run|resume|down`` and
``yomitori demo --cloud-local``. One machine only; never imported by handlers."""

from yomitori.cloud_local.runner import BatchRun, resume_batch, run_batch_dir
from yomitori.cloud_local.server import FLOW, LocalCloud, Step, current, down, invoke, provision, up

__all__ = [
    "FLOW",
    "BatchRun",
    "LocalCloud",
    "Step",
    "current",
    "down",
    "invoke",
    "provision",
    "resume_batch",
    "run_batch_dir",
    "up",
]

"""Reference data loaded up front: a long-running process (the review page's server) calls
:func:`load_reference_data` when it starts, so the first validation of a session is as quick
as the others instead of building Japan Post's index (seconds) while a clerk waits.
Lambdas keep loading on first use (cold starts stay small). Runs on one machine and in the agent.
"""

from __future__ import annotations

import time


def load_reference_data() -> dict[str, float]:
    """Import every validator and build the postal, bank and reading indexes now. Returns the
    seconds each part took (for a log line; no values)."""
    from yomitori.refdata import postal
    from yomitori.validation import bank, names, phone
    from yomitori.validation.registry import registered

    took: dict[str, float] = {}
    for name, load in (("validators", registered), ("postal", postal.preload), ("banks", bank.preload),
                       ("readings", names.preload),
                       # the numbering plan's metadata
                       ("phones", lambda: phone.national_format("0312345678"))):
        t = time.perf_counter()
        load()
        took[name] = round(time.perf_counter() - t, 2)
    return took

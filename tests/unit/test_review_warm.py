"""Review issue 18, part 7: the reference data is loaded when the review server starts, so a
clerk's first submission does not wait seconds for Japan Post's index to be built."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.unit.test_review_cli import _batch_folder

PROBE = """
import json, sys
from yomitori_agent.review import local_backend, make_server
from yomitori.refdata import postal
from yomitori.validation import names
server = make_server(local_backend(sys.argv[1]))
try:
    print(json.dumps({"postal_index": postal._reverse_index.cache_info().currsize,
                      "readings": names._kanwa.cache_info().currsize}))
finally:
    server.server_close()
"""


def test_the_server_has_built_the_reference_data_before_the_first_request(tmp_path):
    # Given a fresh process and a batch waiting for review
    out = _batch_folder(tmp_path)
    # When the review server is made (nothing requested yet)
    r = subprocess.run([sys.executable, "-c", PROBE, str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    # Then Japan Post's address index and the reading dictionary are already built
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"postal_index": 1, "readings": 1}

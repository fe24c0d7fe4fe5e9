"""Double entry (ベリファイ) in the stack: off unless configured (the functions are told), and
the agent may list a batch's double-entry tasks (Query on the review table) for the page."""

from __future__ import annotations

import pytest

from tests.infra.test_hardening import _agent, _agent_ctx, _allowed


def test_the_functions_are_told_double_entry_is_off_by_default(synth):
    for fn in synth.resources("AWS::Lambda::Function").values():
        assert fn["Properties"]["Environment"]["Variables"]["YOMITORI_DOUBLE_ENTRY"] == "off"


def test_double_entry_is_a_typed_setting():
    from infra.config import load_config
    from tests.infra.conftest import context

    assert load_config(context(double_entry=True)).double_entry is True
    with pytest.raises(Exception, match="double_entry"):
        load_config(context(double_entry="sometimes"))


def test_the_agent_may_list_the_double_entry_tasks_of_the_review_table(synth):
    agent = _agent(synth)
    from support.policy_guard import ACCOUNT, REGION
    from yomitori import settings

    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{settings.REVIEW_TASKS.role}"
    ctx = _agent_ctx("dynamodb")
    assert _allowed(agent, "dynamodb:Query", table, ctx)
    assert not _allowed(agent, "dynamodb:PutItem", table, ctx)  # it still cannot open or forge a gate

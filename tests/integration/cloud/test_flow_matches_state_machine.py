"""The local runner's step order (yomitori.cloud_local.FLOW) is the synthesized state
machine's order, and every event the definition sends carries what the handler's event model
requires; so the local cloud path and the deployed flow cannot drift apart."""

from __future__ import annotations

import json
import sys

import pytest
from yomitori import settings
from yomitori.cloud_local import FLOW, Step
from yomitori.steps import events

CONTEXT = {
    "account": "123456789012",
    "region": "ap-northeast-1",
    "vpc_cidr": "10.20.0.0/22",
    "on_prem_cidrs": ["10.0.0.0/16"],
    "client_cidrs": ["10.0.10.15/32"],
    "direct_connect": {"dx_gateway_id": "5f2a3c1e-1111-2222-3333-444455556666"},
    "ocr_engine": "textract",
    "retention_days": 1,
    "alarm_email": "ops@example.jp",
}


def _render(value) -> str:
    """A CloudFormation string expression with references kept as @@LogicalId@@ markers."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(_render(p) for p in parts)
    if "Fn::GetAtt" in value:
        return f"@@{value['Fn::GetAtt'][0]}@@"
    if "Ref" in value:
        return f"@@{value['Ref']}@@"
    raise AssertionError(f"unexpected expression {value}")


@pytest.fixture(scope="module")
def machine(stack_template) -> tuple[dict, dict[str, str]]:
    """The state machine definition from the synthesized template (synthesized once per change
    of the infra sources: tests/support/synthesized.py), and logical id -> function."""
    template = stack_template
    resources = template["Resources"]
    [sm] = [r for r in resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    text = _render(sm["Properties"]["DefinitionString"])
    for key, value in sm["Properties"].get("DefinitionSubstitutions", {}).items():
        text = text.replace("${" + key + "}", _render(value))
    definition = json.loads(text)
    names = {}
    for logical_id, r in resources.items():
        fn_name = (
            r.get("Properties", {}).get("FunctionName") if r["Type"] == "AWS::Lambda::Function" else None
        )
        if isinstance(fn_name, str):
            names[logical_id] = fn_name.rsplit("-", 1)[-1]
    return definition, names, resources


def _walk(states: dict, start: str, names: dict[str, str], per_page: bool, out: list) -> None:
    """Follow StartAt/Next (the success path), into the Map's item processor."""
    name = start
    while name:
        state = states[name]
        if state["Type"] == "Map":
            proc = state.get("ItemProcessor") or state["Iterator"]
            _walk(proc["States"], proc["StartAt"], names, True, out)
        elif state["Type"] == "Task" and state["Resource"].startswith("arn:aws:states:::lambda:invoke"):
            fn = names[state["Parameters"]["FunctionName"].strip("@").split("@@")[0]]
            payload = state["Parameters"]["Payload"]
            wait = payload.get("task_kind") if state["Resource"].endswith(".waitForTaskToken") else None
            out.append((Step(fn, per_page=per_page, wait=wait), payload))
        name = state.get("Next")


def test_the_local_runner_runs_the_state_machines_steps_in_its_order(machine):
    # Given the synthesized definition
    definition, names, _ = machine
    # When its success path is followed from the start
    steps: list = []
    _walk(definition["States"], definition["StartAt"], names, False, steps)
    # Then the Lambda steps are exactly the local runner's, in the same order
    assert [s for s, _ in steps] == list(FLOW)
    assert {s.function for s in FLOW} == set(settings.FUNCTION_NAMES)


def test_every_event_the_definition_sends_has_what_the_handler_requires(machine):
    # Given the payloads the definition builds for each Lambda step
    definition, names, _ = machine
    steps: list = []
    _walk(definition["States"], definition["StartAt"], names, False, steps)
    models = {
        "ocr": events.OcrEvent,
        "validate": events.ValidateEvent,
        "finalize": events.FinalizeEvent,
        "purge": events.PurgeEvent,
        "review": events.ReviewWait,
    }
    for step, payload in steps:
        sent = {k.removesuffix(".$") for k in payload}
        model = models[step.function]
        required = {n for n, f in model.model_fields.items() if f.is_required()}
        # Then each handler's required fields are all sent
        assert required <= sent, (step, required - sent)


def test_every_function_gets_the_settings_its_handler_requires(machine):
    # Given the functions of the synthesized stack
    from yomitori.cloud_local.server import load_handler
    from yomitori.steps.config import CloudSettings, env_names

    _, names, resources = machine
    required = {env_names()[n] for n, f in CloudSettings.model_fields.items() if f.is_required()}
    for logical_id, fn in names.items():
        props = resources[logical_id]["Properties"]
        # Then each has every variable the settings model requires, and its handler entry exists
        assert required <= set(props["Environment"]["Variables"]), fn
        module, attr = props["Handler"].split(".")
        load_handler(fn)
        assert module == "handler" and callable(getattr(sys.modules[f"yomitori_lambda_{fn}"], attr)), fn

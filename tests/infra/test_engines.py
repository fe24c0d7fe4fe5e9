"""The OCR engine of a deployment: ppocr by default (reads inside the ocr function, its layers
and model attached, nothing sent anywhere); textract still possible, with a plain warning at
synth when the shipped forms have Japanese fields, its permissions, endpoint and layer."""

from __future__ import annotations

import json

import pytest
from yomitori import settings

from infra.config import load_config
from infra.engine import TESSERACT_NOT_IN_LAMBDA, TEXTRACT_JAPANESE, engine_warnings, japanese_fields
from tests.infra import template as tpl
from tests.infra.conftest import context, synthesize


def _warnings(stack) -> dict[str, list[str]]:
    """Construct path -> the warning texts attached to it (what the CDK CLI prints at synth)."""
    out: dict[str, list[str]] = {}
    for c in stack.node.find_all():
        for m in c.node.metadata:
            if m.type == "aws:cdk:warning":
                out.setdefault(c.node.path, []).append(str(m.data))
    return out


def _ocr_env(synth) -> dict:
    fn = next(v for k, v in tpl.functions(synth).items() if k.startswith("FunctionsOcr"))
    return fn["Properties"]["Environment"]["Variables"]


def _textract_statements(synth) -> list[dict]:
    return [
        stmt
        for policy in synth.resources("AWS::IAM::Policy").values()
        for stmt in policy["Properties"]["PolicyDocument"]["Statement"]
        if "textract" in json.dumps(stmt["Action"])
    ]


@pytest.fixture(scope="module")
def textract_synth(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("textract.out"), ocr_engine="textract")


def test_ppocr_is_the_default_engine_and_reads_inside_the_function(synth):
    # Given the default configuration (no ocr_engine in the context)
    assert "ocr_engine" not in context()
    # Then the ocr function reads with ppocr, carries onnxruntime and the model ...
    assert _ocr_env(synth)[settings.ENV_OCR_ENGINE] == "ppocr"
    assert _ocr_env(synth)[settings.ENV_MODELS_DIR] == settings.LAMBDA_MODELS_DIR
    assert {"ppocr", "models"} <= tpl.layer_groups(synth, "FunctionsOcr")
    assert "textract" not in tpl.layer_groups(synth, "FunctionsOcr")
    # ... may call no Textract API, and synth warns about nothing engine-related
    assert _textract_statements(synth) == []
    texts = [t for ws in _warnings(synth.stack).values() for t in ws]
    assert not any("Textract" in t or "Tesseract" in t for t in texts)


def test_the_model_layer_says_which_pinned_file_it_carries(synth):
    descriptions = [
        v["Properties"]["Description"] for v in synth.resources("AWS::Lambda::LayerVersion").values()
    ]
    model = [d for d in descriptions if d.startswith("yomitori model:")]
    assert len(model) == 1
    assert "PP-OCRv6_rec_small.onnx" in model[0] and "rapidocr==3.10.0" in model[0]
    assert settings.LAMBDA_MODELS_DIR in model[0]


def test_cdk_json_deploys_ppocr_which_is_no_cloud_engine():
    from infra.app import CDK_JSON

    # Given the shipped cdk.json / Then it deploys ppocr, and ppocr passes residency in any region
    raw = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]["yomitori"]
    assert raw["ocr_engine"] == "ppocr" and load_config(raw).ocr_engine == "ppocr"
    assert "ppocr" not in settings.CLOUD_ENGINES
    settings.check_residency("ppocr", "us-east-1", settings.DEFAULT_ALLOWED_REGIONS)
    assert load_config(context(ocr_region="us-east-1")).ocr_engine == "ppocr"


def test_textract_for_forms_with_japanese_fields_warns_at_synth(textract_synth):
    # Given ocr_engine textract and the shipped (Japanese) forms
    warnings = _warnings(textract_synth.stack)
    # Then the ocr function carries a warning that says Textract does not read Japanese,
    # names the Japanese fields and the engine to use instead
    ocr_path = next(p for p in warnings if p.endswith("/Functions/Ocr"))
    text = " ".join(warnings[ocr_path])
    assert TEXTRACT_JAPANESE in text
    assert "does not read Japanese" in text and "ocr_engine: ppocr" in text
    assert "water_stop:" in text and "furusato_onestop:" in text


def test_textract_deployment_has_its_layer_permissions_and_endpoint_and_passes_cdk_nag(textract_synth):
    s = textract_synth
    assert _ocr_env(s)[settings.ENV_OCR_ENGINE] == "textract"
    assert settings.ENV_MODELS_DIR not in _ocr_env(s)
    assert tpl.layer_groups(s, "FunctionsOcr") == {"base", "imaging", "textract", "domain"}
    assert [sorted(st["Action"]) for st in _textract_statements(s)] == [
        ["textract:AnalyzeDocument", "textract:DetectDocumentText"]
    ]
    assert ("textract", "Interface") in tpl.endpoint_services(s)
    # cdk-nag: the Textract wildcard is acknowledged, nothing else is found
    assert s.error is None, s.error
    assert not s.report or all(not p["violations"] for p in s.report["pluginReports"])


def _form(*fields: dict):
    from yomitori.forms import FormDefinition

    return FormDefinition.model_validate(
        {"id": "probe", "title": "probe", "fields": [
            {"label": "欄", "box": {"x": 10, "y": 10 + 20 * i, "w": 50, "h": 10}, **f}
            for i, f in enumerate(fields)
        ]}
    )


def test_only_forms_with_japanese_writing_make_textract_warn():
    cfg = load_config(context(ocr_engine="textract"))
    # Given a form of digits, an ASCII-only text field and a checkbox
    plain = _form(
        {"name": "phone", "type": "digits"},
        {"name": "email", "type": "text", "charset": "abcdefghijklmnopqrstuvwxyz@.-_0123456789"},
        {"name": "agree", "type": "checkbox"},
    )
    # Then textract has nothing it cannot read there (only the AI services opt-out reminder) ...
    assert japanese_fields(plain) == [] and TEXTRACT_JAPANESE not in engine_warnings(cfg, [plain])
    # ... but a name or a kana reading makes it warn, naming those fields only
    japanese = _form({"name": "name", "type": "text"}, {"name": "kana", "type": "kana"},
                     {"name": "phone", "type": "digits"})
    message = engine_warnings(cfg, [plain, japanese])[TEXTRACT_JAPANESE]
    assert "probe: name, kana" in message and "phone" not in message
    # and ppocr never warns
    assert engine_warnings(load_config(context()), [japanese]) == {}


def test_tesseract_in_lambda_warns_that_every_page_would_fail():
    cfg = load_config(context(ocr_engine="tesseract"))
    assert "every page will fail" in engine_warnings(cfg, [])[TESSERACT_NOT_IN_LAMBDA]


def test_a_cloud_engine_warns_at_synth_to_check_the_ai_services_opt_out(synth, textract_synth):
    from infra.engine import AI_SERVICES_OPT_OUT

    # Given textract (page images go to an AWS AI service) / Then synth says to check the opt-out
    texts = [t for ws in _warnings(textract_synth.stack).values() for t in ws]
    (warning,) = [t for t in texts if "AI services opt-out" in t]
    assert "describe-effective-policy" in warning and "ai-services-opt-out.json" in warning
    assert AI_SERVICES_OPT_OUT in engine_warnings(load_config(context(ocr_engine="textract")), [])
    # and with ppocr (nothing leaves the function) it says nothing of the kind
    assert not [t for ws in _warnings(synth.stack).values() for t in ws if "opt-out" in t]

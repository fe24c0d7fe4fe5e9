"""What the configured OCR engine can read, told at synth (CDK Annotations warnings).

Textract's DetectDocumentText (the API the textract engine calls) is in the category AWS's
language table lists as English only: it does not read Japanese handwriting. Tesseract is in
no Lambda layer: the ocr function cannot run it. Both still synthesize (a deployment may only
carry forms without Japanese writing, or be a trial of the plumbing), but synth says plainly
what will happen. The forms checked are the ones the domain layer ships (``forms/*.yaml``).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Annotations
from constructs import IConstruct
from yomitori import settings
from yomitori.forms import FieldType, FormDefinition, load_form_file

from infra.config import YomitoriConfig

REPO = Path(__file__).resolve().parents[1]
TEXTRACT_JAPANESE = "yomitori:textract-japanese"
TESSERACT_NOT_IN_LAMBDA = "yomitori:tesseract-not-in-lambda"
AI_SERVICES_OPT_OUT = "yomitori:ai-services-opt-out"


def japanese_fields(form: FormDefinition) -> list[str]:
    """The fields of ``form`` people fill in Japanese writing: every kana field, and every text
    field unless its charset allows only ASCII (e.g. an e-mail address)."""
    out = []
    for f in form.fields:
        ascii_only = f.charset is not None and f.charset.isascii()
        if f.type is FieldType.KANA or (f.type is FieldType.TEXT and not ascii_only):
            out.append(f.name)
    return out


def shipped_forms(forms_dir: Path = REPO / "forms") -> list[FormDefinition]:
    return [load_form_file(p) for p in sorted(forms_dir.glob("*.yaml"))]


def engine_warnings(config: YomitoriConfig, forms: list[FormDefinition]) -> dict[str, str]:
    """Warning id -> message for what ``config.ocr_engine`` cannot read in ``forms``."""
    out = {}
    if config.ocr_engine == "textract":
        japanese = {f.id: fields for f in forms if (fields := japanese_fields(f))}
        if japanese:
            listed = "; ".join(f"{form}: {', '.join(fields)}" for form, fields in sorted(japanese.items()))
            out[TEXTRACT_JAPANESE] = (
                "ocr_engine is textract, but Textract's DetectDocumentText does not read Japanese "
                "(AWS lists it as English only): every Japanese field will be read wrong or empty "
                f"and go to a person ({listed}). Use ocr_engine: ppocr (the default, reads inside "
                "the function). See docs/ocr.md."
            )
    if config.ocr_engine in settings.CLOUD_ENGINES:
        # synth runs without credentials, so it cannot read the organisation's effective policy
        out[AI_SERVICES_OPT_OUT] = (
            f"ocr_engine is {config.ocr_engine}: page images (with My Numbers) are sent to an AWS AI "
            "service, which may store and use them unless the AI services opt-out policy is in effect "
            "for this account. Check before deploying: aws organizations describe-effective-policy "
            "--policy-type AISERVICES_OPT_OUT_POLICY --target-id <account id> must show optOut under "
            "default (attach infra/organization/ai-services-opt-out.json, docs/deploy.md)."
        )
    if config.ocr_engine == "tesseract":
        out[TESSERACT_NOT_IN_LAMBDA] = (
            "ocr_engine is tesseract, but Tesseract is in no Lambda layer: every page will fail in "
            "the ocr function. Use ocr_engine: ppocr (the default). See docs/deploy.md."
        )
    return out


def warn_about_engine(scope: IConstruct, config: YomitoriConfig, forms_dir: Path = REPO / "forms") -> None:
    """Attach :func:`engine_warnings` to ``scope`` (the CDK CLI prints them at synth)."""
    for warning_id, message in engine_warnings(config, shipped_forms(forms_dir)).items():
        Annotations.of(scope).add_warning_v2(warning_id, message)

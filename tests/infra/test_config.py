"""Config validation: every invalid configuration stops synth with a message that names the
key and says what to do. Pure Python (no CDK), so these run in milliseconds."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, load_config
from tests.infra.conftest import context


def _error(**overrides) -> str:
    with pytest.raises(ConfigError) as e:
        load_config(context(**overrides))
    return str(e.value)


def test_the_test_config_is_valid():
    # Given the fixed test config / When it is loaded / Then the derived values are right
    c = load_config(context())
    assert c.engine_region == "ap-northeast-1"
    assert c.azs == ["ap-northeast-1a", "ap-northeast-1c"]
    assert c.thresholds["digits"] == 0.9 and c.thresholds["text"] == 0.8


def test_missing_context_says_where_to_start():
    with pytest.raises(ConfigError, match="no 'yomitori' context object"):
        load_config(None)


@pytest.mark.parametrize(
    "key,value",
    [
        ("vpc_cidr", "10.20.0.1/22"),
        ("vpc_cidr", "10.20.0/22"),
        ("on_prem_cidrs", ["10.0.0.0/33"]),
        ("client_cidrs", ["not-an-ip"]),
    ],
)
def test_bad_cidr_is_named(key, value):
    # Given a malformed CIDR / When loading / Then the message names the key and the value
    message = _error(**{key: value})
    assert f"{key}" in message and "is not an IPv4 CIDR block" in message


def test_public_vpc_range_is_refused():
    assert "must be a private range" in _error(vpc_cidr="8.8.0.0/22")


def test_ocr_region_outside_residency_fails():
    # Given Textract in a US region / When loading / Then synth refuses and names the override
    message = _error(ocr_engine="textract", ocr_region="us-east-1")
    assert "would send page images outside the data-residency list" in message
    assert "allow_region_outside_residency" in message


def test_residency_override_allows_it_explicitly():
    # Given the explicit override / When loading / Then it passes (cross-region endpoint)
    c = load_config(
        context(ocr_engine="textract", ocr_region="us-east-1", allow_region_outside_residency=True)
    )
    assert c.engine_region == "us-east-1"


def test_stack_region_outside_residency_fails():
    assert "outside allowed_regions" in _error(region="us-west-2", allowed_regions=["ap-northeast-1"])


def test_tesseract_runs_in_the_function_and_needs_no_residency_region():
    c = load_config(context(ocr_engine="tesseract", ocr_region="us-east-1"))
    assert c.ocr_engine == "tesseract"


def test_ppocr_is_the_default_and_needs_no_residency_region():
    # Given no ocr_engine and an engine region outside the list / Then ppocr sends nothing: it passes
    c = load_config(context(ocr_region="us-east-1"))
    assert c.ocr_engine == "ppocr"


def test_unknown_engine_is_refused():
    assert "ocr_engine" in _error(ocr_engine="rapidocr")


def test_missing_allow_list_fails():
    message = _error(client_cidrs=None)
    assert "client_cidrs: the allow-list of client terminals is missing" in message


def test_missing_on_prem_networks_fail():
    assert "on_prem_cidrs: list the office networks" in _error(on_prem_cidrs=None)


def test_client_outside_offices_fails():
    assert "is not inside any of on_prem_cidrs" in _error(client_cidrs=["192.168.1.10/32"])


def test_vpc_overlapping_offices_fails():
    assert "overlaps vpc_cidr" in _error(on_prem_cidrs=["10.20.0.0/16"], client_cidrs=["10.20.8.1/32"])


def test_both_direct_connect_options_fail():
    message = _error(
        direct_connect={
            "dx_gateway_id": "5f2a3c1e-1111-2222-3333-444455556666",
            "vpn_gateway_id": "vgw-0123456789abcdef0",
        }
    )
    assert "either dx_gateway_id or vpn_gateway_id" in message


def test_timeouts_must_end_before_the_lifecycle_backstop():
    assert "before the S3 lifecycle" in _error(review_timeout_hours=30)


def test_unknown_threshold_type_and_range():
    assert "unknown field type 'signature'" in _error(review_thresholds={"signature": 0.5})
    assert "is not between 0 and 1" in _error(review_thresholds={"text": 1.5})


def test_unknown_key_is_rejected():
    assert "extra_thing" in _error(extra_thing=1)


@pytest.mark.parametrize(
    "overrides",
    [
        {
            "region": "us-east-1",
            "allowed_regions": ["us-east-1"],
            "availability_zones": ["us-east-1a", "us-east-1b"],
        },
        {"allowed_regions": ["ap-northeast-1", "eu-west-1"]},
    ],
)
def test_regions_outside_japan_are_refused_without_the_signed_off_override(overrides):
    # Given a region or a residency list outside Japan / When loading / Then synth refuses,
    # naming Japan's regions and the override that needs the privacy officer's sign-off
    message = _error(**overrides)
    assert "is outside Japan (ap-northeast-1, ap-northeast-3)" in message
    assert "allow_region_outside_residency" in message and "privacy officer" in message
    # and with the explicit override it is the operator's signed-off decision
    c = load_config(context(**overrides, allow_region_outside_residency=True))
    assert set(c.permitted_regions) == set(c.allowed_regions)


def test_permitted_regions_add_the_engine_region_only_for_a_cloud_engine():
    # Given ppocr (nothing leaves the function) with a stray ocr_region / Then no extra region
    assert load_config(context(ocr_region="ap-northeast-3")).permitted_regions == [
        "ap-northeast-1",
        "ap-northeast-3",
    ]
    # Given Textract elsewhere under the override / Then its region is where the ocr role may call
    c = load_config(
        context(
            ocr_engine="textract",
            ocr_region="us-east-1",
            allowed_regions=["ap-northeast-1"],
            allow_region_outside_residency=True,
        )
    )
    assert c.permitted_regions == ["ap-northeast-1", "us-east-1"]

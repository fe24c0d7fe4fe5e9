"""Helpers that read the synthesized template in the infra tests (plain dict access)."""

from __future__ import annotations

import json

from tests.infra.policy_eval import resolve


def sg_of_endpoints(synth) -> set[str]:
    ids = set()
    for ep in synth.resources("AWS::EC2::VPCEndpoint").values():
        for sg in ep["Properties"].get("SecurityGroupIds", []):
            ids.add(sg["Fn::GetAtt"][0])
    return ids


def endpoint_services(synth) -> dict[tuple[str, str], dict]:
    """(service suffix, endpoint type) -> properties, e.g. ("s3", "Gateway")."""
    out = {}
    for ep in synth.resources("AWS::EC2::VPCEndpoint").values():
        p = ep["Properties"]
        name = "".join(str(resolve(p["ServiceName"], synth.template)))
        out[(name.rsplit(".", 1)[-1], p.get("VpcEndpointType", "Gateway"))] = p
    return out


def bucket_ids(synth) -> dict[str, str]:
    ids = {}
    for k in synth.resources("AWS::S3::Bucket"):
        for role in ("Intake", "Results", "Log", "Audit", "Trail"):
            if k.startswith(f"Storage{role}Bucket"):
                ids[role.lower()] = k
    return ids


def policy_of(synth, bucket_id: str) -> list[dict]:
    for p in synth.resources("AWS::S3::BucketPolicy").values():
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}:
            return resolve(p["Properties"]["PolicyDocument"]["Statement"], synth.template)
    raise AssertionError(f"no policy for {bucket_id}")


def endpoint_ids(synth) -> tuple[str, str]:
    gw = iface = None
    for k, ep in synth.resources("AWS::EC2::VPCEndpoint").items():
        if ".s3" in json.dumps(ep["Properties"]["ServiceName"]):
            if ep["Properties"].get("VpcEndpointType") == "Interface":
                iface = f"ref:{k}"
            else:
                gw = f"ref:{k}"
    return gw, iface


def ctx(synth, **kw) -> dict:
    """A request through the S3 gateway endpoint from a function, over TLS 1.3, with our key."""
    gw, _ = endpoint_ids(synth)
    key_id = next(iter(synth.resources("AWS::KMS::Key")))
    base = {
        "aws:SourceVpce": gw,
        "aws:VpcSourceIp": "10.20.0.10",
        "aws:SecureTransport": "true",
        "s3:TlsVersion": "1.3",
        "aws:PrincipalArn": "arn:aws:iam::123456789012:role/someone",
        "s3:x-amz-server-side-encryption": "aws:kms",
        "s3:x-amz-server-side-encryption-aws-kms-key-id": f"arn:{key_id}",
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def functions(synth) -> dict[str, dict]:
    return {k: v for k, v in synth.resources("AWS::Lambda::Function").items()}


def layer_groups(synth, fn_prefix: str) -> set[str]:
    """The layers of the function whose logical id starts with ``fn_prefix``, by the group name
    in their description (``domain`` for the domain layer)."""
    layers = {
        k: v["Properties"]["Description"] for k, v in synth.resources("AWS::Lambda::LayerVersion").items()
    }
    fn = next(v for k, v in functions(synth).items() if k.startswith(fn_prefix))
    names = set()
    for ref in fn["Properties"]["Layers"]:
        desc = layers[ref["Ref"]]
        names.add("domain" if "domain package" in desc else desc.split(": ")[1].split(" ")[0])
    return names

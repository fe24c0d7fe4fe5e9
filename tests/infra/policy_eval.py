"""A small evaluator of the Deny statements of a synthesized bucket policy.

Just enough IAM condition semantics for the operators our policy uses (including the rule
that negated operators match when the key is absent), so tests can ask "is this request
denied?" against the real template instead of string-matching it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::AccountId": "123456789012",
    "AWS::Region": "ap-northeast-1",
    "AWS::URLSuffix": "amazonaws.com",
}


def resolve(value, template: dict):
    """Turn Ref/GetAtt/Join into plain strings: a resource's Ref -> ``ref:<LogicalId>``, its Arn
    -> ``arn:<LogicalId>``, pseudo parameters -> the test account's values."""
    if isinstance(value, list):
        return [resolve(v, template) for v in value]
    if isinstance(value, dict):
        if "Ref" in value:
            return PSEUDO.get(value["Ref"], f"ref:{value['Ref']}")
        if "Fn::GetAtt" in value:
            logical, attr = value["Fn::GetAtt"]
            return f"{attr.lower()}:{logical}"
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(str(resolve(p, template)) for p in parts)
        return {k: resolve(v, template) for k, v in value.items()}
    return value


def _as_list(v) -> list:
    return v if isinstance(v, list) else [v]


_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def _substitute(patterns, ctx: dict) -> list[str]:
    """Policy variables (``${aws:PrincipalTag/x}``) replaced by the request's values, as IAM
    does in Resource and condition values; a pattern whose variable the request lacks matches
    nothing, so it is left out. The value is literal: a '*' in it is escaped for fnmatch."""
    out = []
    for p in _as_list(patterns):
        p = str(p)
        names = _VARIABLE.findall(p)
        if any(n not in ctx for n in names):
            continue
        out.append(_VARIABLE.sub(lambda m: re.sub(r"([*?\[])", r"[\1]", str(ctx[m.group(1)])), p))
    return out


def _condition(op: str, key: str, expected, ctx: dict) -> bool:
    if op.startswith(("ForAllValues:", "ForAnyValue:")):
        qualifier, base = op.split(":", 1)
        values = _as_list(ctx.get(key, []))
        results = [_condition(base, key, expected, {**ctx, key: v}) for v in values]
        # ForAllValues holds for an empty or absent set (IAM's documented pitfall)
        return all(results) if qualifier == "ForAllValues" else any(results)
    present = key in ctx
    actual = ctx.get(key)
    expected = _substitute(expected, ctx)
    if op == "Null":
        return (not present) == (expected[0] == "true")
    negated = "Not" in op
    if op.endswith("IfExists") and not present:
        return True
    if not present:
        return negated
    base = op.removesuffix("IfExists")
    if base == "StringEquals":
        return str(actual) in expected
    if base == "StringNotEquals":
        return str(actual) not in expected
    if base == "StringLike":
        return any(fnmatch.fnmatchcase(str(actual), e) for e in expected)
    if base == "ArnLike":
        return any(fnmatch.fnmatchcase(actual, e) for e in expected)
    if base == "ArnNotLike":
        return not any(fnmatch.fnmatchcase(actual, e) for e in expected)
    if base == "Bool":
        return str(actual).lower() in expected
    if base == "NumericLessThan":
        return float(actual) < float(expected[0])
    if base in ("IpAddress", "NotIpAddress"):
        inside = any(ipaddress.ip_address(actual) in ipaddress.ip_network(e) for e in expected)
        return inside if base == "IpAddress" else not inside
    raise NotImplementedError(op)


def statement_matches(stmt: dict, action: str, resource: str, ctx: dict) -> bool:
    if "NotAction" in stmt:  # matches every action but the listed ones
        if any(fnmatch.fnmatchcase(action, a) for a in _as_list(stmt["NotAction"])):
            return False
    elif not any(fnmatch.fnmatchcase(action, a) for a in _as_list(stmt.get("Action", []))):
        return False
    if not any(fnmatch.fnmatchcase(resource, r) for r in _substitute(stmt.get("Resource", []), ctx)):
        return False
    for op, keys in stmt.get("Condition", {}).items():
        for key, expected in keys.items():
            if not _condition(op, key, expected, ctx):
                return False
    return True


def denied(statements: list[dict], action: str, resource: str, ctx: dict) -> list[str]:
    """Sids of the Deny statements that match the request (empty: not denied)."""
    return [
        s.get("Sid", "?")
        for s in statements
        if s["Effect"] == "Deny" and statement_matches(s, action, resource, ctx)
    ]

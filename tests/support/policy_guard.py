"""The agent holds exactly its policy: an HTTP proxy in front of a moto server that checks
every request signed with a guarded access key against an IAM policy (the synthesized
``AgentPolicy`` of the CDK template) before it reaches moto.

How a request is judged:

* the principal is the access key of its SigV4 signature; keys the guard does not know (the
  tests' own setup, e.g. ``testing``) pass unchecked;
* the request becomes IAM actions and resource ARNs the way AWS authorizes it (S3 REST calls,
  DynamoDB / Step Functions / KMS JSON targets, Lambda invocations, STS queries);
  ``sts:GetCallerIdentity`` needs no permission in AWS and is always allowed;
* each (action, resource) is evaluated against the policy with the project's evaluator
  (``tests/infra/policy_eval.py``), conditions included, with the context AWS would supply
  (TLS, the principal's ARN, the client's address through the endpoint, S3 encryption
  headers and prefix, DynamoDB leading keys);
* the agent is on an external PC in the offices, so every request arrives through the
  service's interface endpoint: ``aws:SourceVpce`` is :func:`endpoint_id` of the signing
  service (the binding gives the template's interface endpoints the same ids),
  ``aws:VpcSourceIp`` is ``source_ip`` (a client on the test allow-list) and
  ``aws:RequestedRegion`` is the region of the request's SigV4 credential scope, and each of
  the principal's tags is ``aws:PrincipalTag/<key>`` (policy variables are substituted);
  it is allowed when an Allow statement matches and no Deny does;
* a request the guard cannot map to an action is refused too (map it here when the agent
  starts using a new API, then let the policy decide).

A refused request gets AWS's 403 ``AccessDenied`` and is recorded; :meth:`PolicyGuard.check`
(the fixtures call it when a test ends) fails the test even when the caller swallowed the 403.

Usage (``policy_guard`` / ``guarded_server`` fixtures in the agent and cloud conftests)::

    guard = PolicyGuard(server.url, agent_policy(), binding)   # binding: logical id -> names
    with guard:
        env = guard.env()            # AWS_ENDPOINT_URL + the agent's access key
        ...run the agent with env...
    guard.check()                    # AssertionError naming every call outside the policy
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree

from tests.infra.policy_eval import PSEUDO, statement_matches

ACCOUNT = PSEUDO["AWS::AccountId"]
REGION = PSEUDO["AWS::Region"]
AGENT_ACCESS_KEY = "AKIAYOMITORIAGENT001"
AGENT_ARN = f"arn:aws:iam::{ACCOUNT}:user/yomitori-agent"
# The client the agent's identity is tagged with (principal tag yomitori-client): the client id
# of the tests' agent configuration (tests/support/agent_site.py), whose batches it may touch.
AGENT_CLIENT_ID = "city-test"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


# --- the policy and the names it speaks of ----------------------------------------------------
@dataclass
class Binding:
    """Physical names for the template's logical ids: ``refs[id]`` is what ``Ref`` gives,
    ``arns[id]`` what ``Fn::GetAtt [id, Arn]`` gives. Unbound ids never match a request."""

    refs: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)

    def bucket(self, logical_id: str, name: str) -> Binding:
        self.refs[logical_id], self.arns[logical_id] = name, f"arn:aws:s3:::{name}"
        return self

    def table(self, logical_id: str, name: str) -> Binding:
        self.refs[logical_id] = name
        self.arns[logical_id] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        return self

    def arn(self, logical_id: str, arn: str, ref: str | None = None) -> Binding:
        self.arns[logical_id], self.refs[logical_id] = arn, ref or arn
        return self


def endpoint_id(service: str) -> str:
    """The id the tests give the interface endpoint of ``service`` (its signing name, which is
    also the last part of the endpoint's service name: s3, dynamodb, states, sts, kms, ...)."""
    return f"vpce-0{service}"


def interface_endpoints(template: dict) -> dict[str, str]:
    """Logical id -> :func:`endpoint_id` for each interface endpoint of the template."""
    out = {}
    for k, r in template["Resources"].items():
        p = r["Properties"] if r["Type"] == "AWS::EC2::VPCEndpoint" else None
        if p and p.get("VpcEndpointType") == "Interface":
            name = p["ServiceName"]
            if isinstance(name, dict):
                name = "".join(str(x) for x in name["Fn::Join"][1] if isinstance(x, str))
            out[k] = endpoint_id(name.rsplit(".", 1)[-1])
    return out


def resolve(value, binding: Binding):
    """A template fragment with Ref / GetAtt / Join replaced by the bound physical names."""
    if isinstance(value, list):
        return [resolve(v, binding) for v in value]
    if isinstance(value, dict):
        if "Ref" in value:
            ref = value["Ref"]
            return PSEUDO.get(ref) or binding.refs.get(ref, f"unbound:{ref}")
        if "Fn::GetAtt" in value:
            logical, attr = value["Fn::GetAtt"]
            if attr != "Arn":
                return f"unbound:{logical}.{attr}"
            return binding.arns.get(logical, f"unbound:{logical}")
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(str(resolve(p, binding)) for p in parts)
        return {k: resolve(v, binding) for k, v in value.items()}
    return value


def policy_statements(template: dict, logical_prefix: str = "AgentPolicy") -> list[dict]:
    """The statements of the template's managed policy whose logical id starts with the prefix."""
    found = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::ManagedPolicy" and k.startswith(logical_prefix)
    ]
    if len(found) != 1:
        raise LookupError(f"expected one managed policy {logical_prefix}* in the template, "
                          f"found {len(found)}")
    return found[0]


def logical_id(template: dict, prefix: str, type_: str) -> str:
    ids = [k for k, r in template["Resources"].items() if k.startswith(prefix) and r["Type"] == type_]
    if len(ids) != 1:
        raise LookupError(f"expected one {type_} {prefix}* in the template, found {ids}")
    return ids[0]


def allowed(statements: list[dict], action: str, resource: str, ctx: dict) -> bool:
    """IAM's answer for one identity policy: some Allow matches and no Deny does."""
    for s in statements:
        if "NotAction" in s or "NotResource" in s:
            raise NotImplementedError("NotAction / NotResource: extend the evaluator first")
    if any(s["Effect"] == "Deny" and statement_matches(s, action, resource, ctx) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and statement_matches(s, action, resource, ctx) for s in statements)


# --- requests -> (action, resource, context) --------------------------------------------------
@dataclass(frozen=True)
class Call:
    principal: str
    action: str
    resource: str
    operation: str  # what the caller asked for, e.g. "s3 PUT /bucket/key"
    allowed: bool


Requests = list[tuple[str, str, dict]]


def _s3_requests(method: str, path: str, query: dict, headers: dict, body: bytes) -> Requests:
    bucket, _, key = urllib.parse.unquote(path.lstrip("/")).partition("/")
    ctx = {k: headers[h] for k, h in (
        ("s3:x-amz-server-side-encryption", "x-amz-server-side-encryption"),
        ("s3:x-amz-server-side-encryption-aws-kms-key-id", "x-amz-server-side-encryption-aws-kms-key-id"),
    ) if h in headers}
    if not bucket:
        return [("s3:ListAllMyBuckets", "*", ctx)]
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if not key:
        if method == "POST" and "delete" in query:
            keys = [e.text or "" for e in ElementTree.fromstring(body).iter() if e.tag.endswith("Key")]
            return [("s3:DeleteObject", f"{bucket_arn}/{k}", ctx) for k in keys]
        if method in ("GET", "HEAD"):
            if "versions" in query:
                action = "s3:ListBucketVersions"
            elif "uploads" in query:
                action = "s3:ListBucketMultipartUploads"
            elif "location" in query:
                action = "s3:GetBucketLocation"
            else:
                action = "s3:ListBucket"
            return [(action, bucket_arn, {**ctx, "s3:prefix": query.get("prefix", "")})]
        return [({"PUT": "s3:CreateBucket", "DELETE": "s3:DeleteBucket"}.get(method, f"s3:?{method}Bucket"),
                 bucket_arn, ctx)]
    obj = f"{bucket_arn}/{key}"
    if method in ("GET", "HEAD"):
        if "uploadId" in query:
            return [("s3:ListMultipartUploadParts", obj, ctx)]
        if "tagging" in query:
            return [("s3:GetObjectTagging", obj, ctx)]
        return [("s3:GetObjectVersion" if "versionId" in query else "s3:GetObject", obj, ctx)]
    if method in ("PUT", "POST"):
        if "tagging" in query:
            return [("s3:PutObjectTagging", obj, ctx)]
        out = [("s3:PutObject", obj, ctx)]
        if source := headers.get("x-amz-copy-source"):
            src = urllib.parse.unquote(source.split("?")[0].lstrip("/"))
            out.append(("s3:GetObject", f"arn:aws:s3:::{src}", {}))
        return out
    if method == "DELETE":
        if "uploadId" in query:
            return [("s3:AbortMultipartUpload", obj, ctx)]
        return [("s3:DeleteObjectVersion" if "versionId" in query else "s3:DeleteObject", obj, ctx)]
    return [(f"s3:?{method}", obj, ctx)]


def _tables(op: str, req: dict) -> list[tuple[str, dict]]:
    """(table name, leading keys context) for a DynamoDB request."""
    def leading(key: dict | None) -> list[str]:
        return [next(iter(v.values())) for v in (key or {}).values()][:1]

    if op in ("BatchGetItem", "BatchWriteItem"):
        return [(t, {}) for t in req.get("RequestItems", {})]
    if op in ("TransactWriteItems", "TransactGetItems"):
        out = []
        for item in req.get("TransactItems", []):
            for body in item.values():
                out.append((body["TableName"], {}))
        return out
    name = req.get("TableName", "?")
    if "IndexName" in req:
        name = f"{name}/index/{req['IndexName']}"
    names = req.get("ExpressionAttributeNames", {})
    keys = leading(req.get("Key") or req.get("Item"))
    if op == "Query":  # a Query's leading key is the partition key's value in its key condition
        keys = _query_partition_value(req)
    ctx: dict = {"dynamodb:LeadingKeys": keys}
    if op in ("Query", "Scan", "GetItem"):
        # the attributes a read asks for (its projection), and its Select, as AWS supplies them;
        # a filter's attributes count too (strictest reading: a filter on an attribute the
        # policy hides would tell its value), so a policy must allow what the store filters on
        projection = [p.strip() for p in req.get("ProjectionExpression", "").split(",") if p.strip()]
        if projection:
            attrs = [names.get(p, p).split(".")[0] for p in projection]
            attrs += [names.get(n, n) for n in _NAME.findall(req.get("FilterExpression", ""))
                      if n.upper() not in _KEYWORDS]
            ctx["dynamodb:Attributes"] = list(dict.fromkeys(attrs))
        ctx["dynamodb:Select"] = req.get("Select", "SPECIFIC_ATTRIBUTES" if projection else "ALL_ATTRIBUTES")
    return [(name, ctx)]


# an attribute in an expression: a #name placeholder or a bare name (not a :value, a function or
# a keyword of the expression grammar)
_NAME = re.compile(r"(?<![:\w#])(#?[A-Za-z_][\w]*)\b(?!\s*\()")
_KEYWORDS = {"AND", "OR", "NOT", "IN", "BETWEEN"}


def _query_partition_value(req: dict) -> list[str]:
    """The value the key condition of a Query sets the partition key to: its first equality
    (DynamoDB requires one on the partition key; the store writes it first). Empty when the
    request has none, which AWS refuses anyway."""
    m = re.search(r"([#\w]+)\s*=\s*(:\w+)", req.get("KeyConditionExpression", ""))
    if not m:
        return []
    value = req.get("ExpressionAttributeValues", {}).get(m.group(2), {})
    return [str(next(iter(value.values())))] if value else []


def requests_of(service: str, method: str, path: str, headers: dict, body: bytes) -> Requests:
    """The (IAM action, resource ARN, condition context) pairs AWS would authorize for one
    HTTP request; an action starting with ``?`` means the guard cannot map it."""
    parsed = urllib.parse.urlsplit(path)
    query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
    target = headers.get("x-amz-target", "")
    if service == "s3":
        return _s3_requests(method, parsed.path, query, headers, body)
    if service == "sts":
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"))) or query
        return [(f"sts:{form.get('Action', '?')}", "*", {})]
    if service == "lambda":
        m = re.match(r"^/[^/]+/functions/([^/]+)/invocations$", parsed.path)
        if method == "POST" and m:
            name = urllib.parse.unquote(m.group(1))
            arn = name if name.startswith("arn:") else f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
            return [("lambda:InvokeFunction", arn, {})]
        return [(f"lambda:?{method} {parsed.path}", "*", {})]
    req = json.loads(body or b"{}")
    op = target.rsplit(".", 1)[-1]
    if service == "dynamodb":
        return [(f"dynamodb:{op}", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{t}", ctx)
                for t, ctx in _tables(op, req)]
    if service == "states":
        # a task token names no resource; AWS authorizes it against the state machine that
        # issued it, which in these tests is always the deployment's (see the binding)
        arn = req.get("stateMachineArn") or req.get("executionArn") or "$TASK_TOKEN_STATE_MACHINE"
        return [(f"states:{op}", arn, {})]
    if service == "kms":
        return [(f"kms:{op}", req.get("KeyId", "*"), {})]
    return [(f"{service}:?{op or method}", "*", {})]


# --- the proxy ------------------------------------------------------------------------------
@dataclass
class Principal:
    name: str
    arn: str
    statements: list[dict]
    tags: dict[str, str] = field(default_factory=dict)


class PolicyGuard:
    """A proxy on 127.0.0.1 in front of ``upstream`` (a moto server URL) that lets a guarded
    principal's request through only when its policy allows it. Thread-safe; start/stop or
    use as a context manager."""

    def __init__(self, upstream: str, *, state_machine_arn: str | None = None,
                 key_arns: dict[str, str] | None = None):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.principals: dict[str, Principal] = {}
        self.state_machine_arn = state_machine_arn or "unbound:state-machine"
        self.key_arns = key_arns or {}  # key id or alias -> key ARN (KMS requests name either)
        # where the agent's requests come from (through the interface endpoints): an external PC
        # on the client allow-list of the test configuration (tests/infra/conftest.py)
        self.source_ip = "10.0.10.15"
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # principals ------------------------------------------------------------------------
    def guard(self, access_key: str, statements: list[dict], *, name: str, arn: str,
              tags: dict[str, str] | None = None) -> PolicyGuard:
        self.principals[access_key] = Principal(name, arn, statements, dict(tags or {}))
        return self

    @property
    def violations(self) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if not c.allowed]

    def checked(self, principal: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if principal in (None, c.principal)]

    def check(self) -> None:
        """AssertionError listing every call a guarded principal made outside its policy."""
        bad = self.violations
        if bad:
            lines = "\n".join(f"  {c.principal}: {c.action} on {c.resource}  ({c.operation})" for c in bad)
            raise AssertionError(f"{len(bad)} AWS call(s) outside the policy:\n{lines}")

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()

    # judging -----------------------------------------------------------------------------
    def judge(self, method: str, path: str, headers: dict, body: bytes) -> tuple[bool, str | None]:
        """(allowed, principal name) for one HTTP request; unguarded keys are allowed."""
        auth = headers.get("authorization", "")
        m = _CREDENTIAL.search(auth) or _CREDENTIAL.search(urllib.parse.unquote(path).replace("X-Amz-", ""))
        if not m or m.group(1) not in self.principals:
            return True, None
        who = self.principals[m.group(1)]
        service = m.group(3)
        ok_all = True
        for action, resource, ctx in requests_of(service, method, path, headers, body):
            if resource == "$TASK_TOKEN_STATE_MACHINE":
                resource = self.state_machine_arn
            if service == "kms" and not resource.startswith("arn:"):
                resource = self.key_arns.get(resource, f"unknown-key:{resource}")
            full_ctx = {"aws:SecureTransport": "true", "aws:PrincipalArn": who.arn,
                        "aws:VpcSourceIp": self.source_ip, "aws:SourceVpce": endpoint_id(service),
                        "aws:RequestedRegion": m.group(2),
                        **{f"aws:PrincipalTag/{k}": v for k, v in who.tags.items()}, **ctx}
            if action == "sts:GetCallerIdentity":
                ok = True  # needs no permission in AWS (cannot even be denied)
            elif ":?" in action:
                ok = False  # unmapped: map it in requests_of() first
            else:
                ok = allowed(who.statements, action, resource, _flatten(full_ctx))
            ok_all &= ok
            with self._lock:
                self.calls.append(Call(who.name, action, resource, f"{service} {method} {path[:120]}", ok))
        return ok_all, who.name

    # serving -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the guard first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def env(self, access_key: str = AGENT_ACCESS_KEY) -> dict[str, str]:
        """Environment for a process that talks to AWS as ``access_key`` through the guard."""
        return {
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": "guarded-secret",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.url,
        }

    def start(self) -> PolicyGuard:
        guard = self

        class Handler(_Forward):
            pass

        Handler.guard = guard
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="policy-guard", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> PolicyGuard:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _flatten(ctx: dict) -> dict:
    # the project's evaluator compares single values; a one-element list becomes its value
    return {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in ctx.items()
            if not (isinstance(v, list) and not v)}


def _error_body(service: str, host: str) -> tuple[bytes, str]:
    msg = "yomitori policy guard: not allowed by the agent policy"
    if service == "s3" or service == "sts":
        xml = f"<Error><Code>AccessDenied</Code><Message>{msg}</Message></Error>"
        return xml.encode(), "application/xml"
    body = json.dumps({"__type": "AccessDeniedException", "message": msg}).encode()
    return body, "application/x-amz-json-1.0"


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    guard: PolicyGuard

    def log_message(self, *args) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def _handle(self) -> None:
        body = self._body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        ok, _who = self.guard.judge(self.command, self.path, headers, body)
        if not ok:
            m = _CREDENTIAL.search(headers.get("authorization", ""))
            data, ctype = _error_body(m.group(3) if m else "s3", headers.get("host", ""))
            self.send_response(403)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            return
        up = self.guard.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=300)
        try:
            out_headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            if body or self.command in ("PUT", "POST"):
                out_headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body or None, headers=out_headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            # the server is gone or froze past the timeout: cut the line, as a dead server would
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        finally:
            conn.close()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in _HOP and k.lower() != "content-length":
                self.send_header(k, v)
        length = resp.getheader("content-length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _safe(self) -> None:
        try:
            self._handle()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _safe


# --- the deployment's names, for the agent policy ---------------------------------------------
@dataclass
class Deployment:
    """Where the guarded tests' resources live on the moto server (physical names)."""

    intake: str
    results: str
    tables: dict[str, str] = field(default_factory=dict)  # settings table role -> name
    key_arn: str | None = None
    state_machine_arn: str | None = None
    review_function: str | None = None

    def binding(self, template: dict) -> Binding:
        b = Binding()
        for logical, vpce in interface_endpoints(template).items():
            b.refs[logical] = vpce
        b.bucket(logical_id(template, "StorageIntakeBucket", "AWS::S3::Bucket"), self.intake)
        b.bucket(logical_id(template, "StorageResultsBucket", "AWS::S3::Bucket"), self.results)
        for role, name in self.tables.items():
            camel = "".join(p.capitalize() for p in role.split("_"))
            b.table(logical_id(template, f"Storage{camel}Table", "AWS::DynamoDB::Table"), name)
        if self.key_arn:
            b.arn(logical_id(template, "StorageDataKey", "AWS::KMS::Key"), self.key_arn)
        if self.state_machine_arn:
            sm = logical_id(template, "PipelineBatchFlow", "AWS::StepFunctions::StateMachine")
            b.arn(sm, self.state_machine_arn)
        if self.review_function:
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.review_function}"
            b.arn(logical_id(template, "FunctionsReview", "AWS::Lambda::Function"), arn, self.review_function)
        return b


def agent_statements(template: dict, deployment: Deployment) -> list[dict]:
    """The synthesized agent policy with its resources bound to the deployment's names."""
    return resolve(policy_statements(template, "AgentPolicy"), deployment.binding(template))


def state_machine_arn(template: dict) -> str:
    """The state machine's ARN as the stack names it (a fixed name; tests that run a state
    machine on moto create it under this name so the policies speak of it)."""
    sm = template["Resources"][logical_id(template, "PipelineBatchFlow", "AWS::StepFunctions::StateMachine")]
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{sm['Properties']['StateMachineName']}"


def agent_tags(client_id: str = AGENT_CLIENT_ID) -> dict[str, str]:
    """The tags of an external PC's identity that acts for ``client_id``."""
    from yomitori.batch import CLIENT_TAG

    return {CLIENT_TAG: client_id}


def guard_agent(guard: PolicyGuard, template: dict, deployment: Deployment,
                client_id: str = AGENT_CLIENT_ID) -> PolicyGuard:
    """(Re)bind the agent's access key to the agent policy for ``deployment``, its identity
    tagged with ``client_id``. Task-token calls are judged against
    ``deployment.state_machine_arn`` (default: the stack's)."""
    guard.state_machine_arn = deployment.state_machine_arn or state_machine_arn(template)
    if deployment.key_arn:
        guard.key_arns[deployment.key_arn] = deployment.key_arn
    return guard.guard(AGENT_ACCESS_KEY, agent_statements(template, deployment), name="agent", arn=AGENT_ARN,
                       tags=agent_tags(client_id))


class GuardedServer:
    """A moto server seen through a guard: ``url`` and ``env()`` go through the guard as the
    agent; ``client()`` (the test's own setup and checks) goes to moto directly, unchecked.
    Everything else (pause, kill, restart, ...) is the server's."""

    def __init__(self, server, guard: PolicyGuard):
        self.server, self.guard = server, guard

    @property
    def url(self) -> str:
        return self.guard.url

    def env(self) -> dict[str, str]:
        return self.guard.env()

    def __getattr__(self, name):
        return getattr(self.server, name)


@contextlib.contextmanager
def acting_as_agent(guard: PolicyGuard):
    """In this process, AWS clients built inside the block (``yomitori.store.clients``) go
    through ``guard`` with the agent's access key; the previous identity is restored after."""
    from yomitori.steps import config
    from yomitori.store import clients

    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
            "AWS_PROFILE")
    saved = {k: os.environ.get(k) for k in keys}
    for k in keys:
        os.environ.pop(k, None)
    os.environ.update(guard.env())
    clients.reset()
    config.reset()
    try:
        yield guard
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        clients.reset()
        config.reset()

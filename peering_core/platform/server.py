"""The platform API over HTTP (FastAPI), a thin layer around :class:`PlatformService`.

In front of every route but ``/healthz`` stands :class:`Gate`, before routing (so an unknown
path answers 401 without credentials, like a known one): the body size limit, the
credentials (:mod:`.auth`), the per-address budget for requests without valid ones and the
per-key request budget (429 with ``Retry-After``), ``HEAD`` wherever ``GET`` is, and the
platform's audit log of every change asked. Routes then check the key's role: a viewer's
change answers 403, tenants are the admin's, and every object is looked up within the key's
tenant. Errors are ``{"code", "message"}``; every GET carries an ``ETag`` (``If-None-Match``
answers 304) made from the asking tenant's own write count.
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations, and the
# role dependencies (Reader, Writer, ...) are local to create_app.
import hashlib
import json
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .. import rules
from ..errors import AwsError
from ..models import (
    ApiKey,
    Deployment,
    DeploymentVpc,
    NewApiKey,
    PlatformPeering,
    Resource,
    Role,
    Tenant,
    WhoAmI,
)
from ..printable import shown
from .audit_log import PlatformAuditLog
from .auth import Authenticator, FailedLogins, Principal, RequestBudget, basic_credentials
from .contract import answers, document, operation_id
from .errors import (
    AWS_FAILED,
    AWS_UNREACHABLE,
    CIDR_OVERLAP,
    CIDR_RESERVED,
    DEPLOYMENT_HAS_PEERINGS,
    DEPLOYMENT_NOT_FOUND,
    DEPLOYMENT_NOT_RUNNING,
    FORBIDDEN,
    INVALID_ARGUMENT,
    KEY_NOT_FOUND,
    PEERING_EXISTS,
    PEERING_IN_USE,
    PEERING_NOT_FAILED,
    PEERING_NOT_FOUND,
    PEERING_NOT_PENDING,
    PEERING_NOT_RUNNING,
    PEERING_NOT_VISIBLE,
    PEERING_REQUESTER_MISMATCH,
    PEERING_WRONG_ACCEPTER,
    REGION_MISMATCH,
    RESOURCE_NOT_FOUND,
    TENANT_EXISTS,
    TENANT_NOT_FOUND,
    TENANT_REQUIRED,
    PlatformError,
    forbidden,
)
from .metrics import MetricsMiddleware, route_templates
from .reference import reference_page
from .service import NAME_LENGTH, RESOURCE_TYPES, PlatformService, ec2_regions

API = "/api/v1"
OPEN_PATHS = frozenset({"/healthz"})
METRICS_PATH = "/metrics"
# The reference page is the server's own HTML: no script, nothing fetched from elsewhere.
REFERENCE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}
MAX_BODY_BYTES = 64 * 1024
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# POSTs that only check (the pre-flight check of a peering): they change nothing.
CHECKS = ":check"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


def _shape(pattern: re.Pattern[str], **schema: Any) -> dict[str, Any]:
    """What the service accepts, for the OpenAPI document: as strict as the service, which
    still checks every value itself (``rules.py``), so a refusal names the value."""
    return {"pattern": f"^{pattern.pattern}$", **schema}


_NAME: dict[str, Any] = {
    "pattern": rules.NAME_PATTERN,
    "maxLength": NAME_LENGTH,
    "description": "something besides spaces; no control, separator (but the space), format, "
    "surrogate or private-use character",
}
_TENANT_ID = _shape(rules.TENANT_ID_RE)


def _regions(schema: dict[str, Any]) -> None:
    # Read when the document is made, not when the module is imported (botocore's data).
    schema["enum"] = sorted(ec2_regions())


def _json_integer(value: object) -> object:
    """JSON has one number type: ``402.0`` is the integer 402, as JSON Schema reads it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class CreateDeploymentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    deployment_name: str = Field(alias="deploymentName", json_schema_extra=_NAME)
    region: str = Field(description="an AWS region with EC2", json_schema_extra=_regions)
    cidr: str = Field(
        description="an IPv4 network, /16 to /28",
        json_schema_extra={"pattern": rules.VPC_CIDR_PATTERN},
    )
    project_name: str = Field(default="default", alias="projectName", json_schema_extra=_NAME)
    tenant_id: str | None = Field(
        default=None,
        alias="tenantId",
        description="the admin's choice of tenant (default: the built-in tenant 'default'); "
        "another key's deployment lands in its own tenant",
        json_schema_extra=_TENANT_ID,
    )


class ConfirmPeeringRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    peering_id: str = Field(alias="peeringId", json_schema_extra=_shape(rules.PCX_RE))
    account_id: str = Field(alias="accountId", json_schema_extra=_shape(rules.ACCOUNT_RE))
    vpc_id: str = Field(alias="vpcId", json_schema_extra=_shape(rules.VPC_RE))


class CheckPeeringRequest(BaseModel):
    """A requester VPC to check before its pcx is requested (the pre-flight check)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    account_id: str = Field(alias="accountId", json_schema_extra=_shape(rules.ACCOUNT_RE))
    vpc_id: str = Field(alias="vpcId", json_schema_extra=_shape(rules.VPC_RE))
    region: str = Field(description="an AWS region with EC2", json_schema_extra=_regions)
    cidrs: list[Annotated[str, Field(json_schema_extra={"pattern": rules.VPC_CIDR_PATTERN})]] = (
        Field(min_length=1, max_length=16, description="the VPC's IPv4 blocks, /16 to /28")
    )


class PeeringCheck(BaseModel):
    """The pre-flight check passed: a confirmation of this VPC would meet no refusal now."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
    deployment_id: str = Field(alias="deploymentID")
    vpc_id: str = Field(alias="vpcId")
    cidrs: list[str]
    ok: bool


class CreateResourceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(json_schema_extra=_NAME)
    type: str = Field(json_schema_extra={"enum": list(RESOURCE_TYPES)})
    host: str = Field(
        description="an IPv4 address or a host name",
        json_schema_extra=_shape(rules.HOSTNAME_RE, maxLength=rules.HOSTNAME_LENGTH),
    )
    port: Annotated[int, BeforeValidator(_json_integer)] = Field(
        json_schema_extra={"minimum": 1, "maximum": 65535}
    )


class CreateTenantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    tenant_name: str = Field(alias="tenantName", json_schema_extra=_NAME)


class CreateKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    tenant_id: str | None = Field(
        default=None,
        alias="tenantId",
        description="required for the admin; an operator's key is for its own tenant",
        json_schema_extra=_TENANT_ID,
    )
    role: str = Field(json_schema_extra={"enum": [Role.OPERATOR.value, Role.VIEWER.value]})


# Checked here too (400 before any lookup), as the document says.
PeeringId = Annotated[str, Path(pattern=f"^{rules.PCX_RE.pattern}$")]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    reason: str | None = Field(default=None, description="why it is degraded")


def _body(status: int, code: str, message: str, **extra: Any) -> bytes:
    payload: dict[str, Any] = {"code": code, "message": message}
    payload.update({k: v for k, v in extra.items() if v is not None})
    # ASCII JSON: a message can never carry a byte a terminal acts on, nor a lone surrogate.
    return json.dumps(payload).encode()


def _error(status: int, code: str, message: str, **extra: Any) -> Response:
    return Response(
        _body(status, code, message, **extra), status_code=status, media_type="application/json"
    )


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class NotModified(Exception):
    """The client's cached representation is current; answered with 304 and no work."""

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.tag = tag


def _matches(request: Request, tag: str, *, found: bool) -> bool:
    """Whether ``If-None-Match`` holds for ``tag``. ``*`` holds only once the answer is
    ``found`` (RFC 9110: a current representation exists), so a path that is malformed or names
    nothing is still refused."""
    wanted = request.headers.get("if-none-match", "")
    candidates = {t.strip().removeprefix("W/") for t in wanted.split(",") if t.strip()}
    return tag in candidates or (found and "*" in candidates)


def _json(request: Request, payload: Any, status: int = 200) -> Response:
    """A JSON response; a GET carries the ETag of the store generation it was read at."""
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    if request.method != "GET":
        return Response(body, status_code=status, media_type="application/json")
    tag = getattr(request.state, "etag", None) or _etag(body)
    if _matches(request, tag, found=True):
        return Response(status_code=304, headers={"ETag": tag})
    return Response(body, status_code=status, media_type="application/json", headers={"ETag": tag})


def _dump(items: Any) -> Any:
    if isinstance(items, BaseModel):
        return items.model_dump(mode="json", by_alias=True)
    return [i.model_dump(mode="json", by_alias=True) for i in items]


def _client_address(scope: Scope) -> str:
    # uvicorn puts the peer here; with --forwarded-allow-ips, X-Forwarded-For from those peers.
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


class Gate:
    """ASGI middleware in front of the routes: body size, credentials, budgets, HEAD, audit."""

    def __init__(
        self,
        app: Asgi,
        *,
        authenticator: Authenticator,
        budget: RequestBudget,
        failures: FailedLogins,
        audit: PlatformAuditLog,
        max_body_bytes: int = MAX_BODY_BYTES,
        open_paths: frozenset[str] = OPEN_PATHS,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.budget = budget
        self.failures = failures
        self.audit = audit
        self.max_body_bytes = max_body_bytes
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "HEAD":
            # Answered as the GET, without its body (the headers stay those of the GET).
            scope = dict(scope, method="GET")
            send = _without_body(send)
        if scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(send)
            return
        principal = await self._authenticate(scope, send)
        if principal is None:
            return
        if scope["method"] in MUTATING:
            body = await _read_body(receive, self.max_body_bytes)
            if body is None:
                await self._too_large(send)
                return
            receive = _replay(body, receive)
        scope.setdefault("state", {})["principal"] = principal
        if scope["method"] not in MUTATING or scope["path"].endswith(CHECKS):
            # A read, or a check that changes nothing: not a change to audit.
            await self.app(scope, receive, send)
            return
        status, recorded = 500, False

        async def audited(message: Message) -> None:
            # The record is written before the answer's last byte: a client that has its
            # answer finds the change in the audit log.
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                recorded = True
                await self._audit(scope, principal, status)
            await send(message)

        try:
            await self.app(scope, receive, audited)
        except Exception:
            if not recorded:  # a crash is a change asked too: it is recorded as failed
                scope.setdefault("state", {})["error_code"] = "INTERNAL"
                await self._audit(scope, principal, 500)
            raise

    async def _authenticate(self, scope: Scope, send: Send) -> Principal | None:
        """The request's principal, or ``None`` once its refusal (401 or 429) is sent."""
        address = _client_address(scope)
        throttled = self.failures.blocked_for(address)
        credentials = basic_credentials(_header(scope, b"authorization"))
        principal = None
        if credentials is not None:
            principal = await self.authenticator.principal(*credentials, may_hash=throttled <= 0)
        if principal is None:
            refused = scope.setdefault("state", {})
            if throttled > 0:
                refused["error_code"] = "TOO_MANY_FAILED_LOGINS"
                await _send_error(
                    send,
                    429,
                    "TOO_MANY_FAILED_LOGINS",
                    "too many requests without valid credentials from this address; "
                    "try again later",
                    retry_after=throttled,
                )
                return None
            self.failures.record(address)
            refused["error_code"] = "UNAUTHORIZED"
            await _send_error(
                send,
                401,
                "UNAUTHORIZED",
                "missing or wrong API key and secret",
                headers=[(b"www-authenticate", b'Basic realm="platform"')],
            )
            return None
        wait = self.budget.take(principal.key)
        if wait > 0:
            scope.setdefault("state", {})["error_code"] = "RATE_LIMITED"
            await _send_error(
                send,
                429,
                "RATE_LIMITED",
                f"request budget of {self.budget.per_minute}/min for this key exceeded",
                retry_after=wait,
            )
            return None
        return principal

    async def _too_large(self, send: Send) -> None:
        await _send_error(
            send,
            413,
            "BODY_TOO_LARGE",
            f"the request body is larger than {self.max_body_bytes} bytes",
        )

    async def _audit(self, scope: Scope, principal: Principal, status: int) -> None:
        state = scope.get("state") or {}
        route = scope.get("route")
        path = route.path if isinstance(route, APIRoute) else scope["path"]
        code = state.get("error_code") or ""
        result = "ok" if status < 400 else f"{'refused' if status < 500 else 'failed'}: {code}"
        await self.audit.record(
            keyId=principal.key,
            role=principal.role.value,
            tenantId=principal.tenant_id,
            address=_client_address(scope),
            action=f"{scope['method']} {path}",
            object=dict(scope.get("path_params") or {}) | dict(state.get("made") or {}),
            result=result,
            status=status,
        )


def _without_body(send: Send) -> Send:
    async def head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = dict(message, body=b"")
        await send(message)

    return head


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or ``None`` once it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read already, then the connection's own messages (a disconnect, if any)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    *,
    retry_after: float | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = _body(status, code, message)
    sent = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    sent += headers or []
    if retry_after is not None:
        sent.append((b"retry-after", str(max(1, math.ceil(retry_after))).encode()))
    await send({"type": "http.response.start", "status": status, "headers": sent})
    await send({"type": "http.response.body", "body": body})


def create_app(
    service: PlatformService,
    *,
    key: str,
    secret: SecretStr,
    requests_per_minute: int = 1200,
    failed_logins_per_minute: int = 10,
    max_body_bytes: int = MAX_BODY_BYTES,
    audit: PlatformAuditLog | None = None,
    metrics_public: bool = False,
) -> FastAPI:
    """The platform API app; starting it starts ``service`` (and resumes unfinished work).
    ``key`` and ``secret`` are the admin's; every other key is a tenant's, in the store.
    ``GET /metrics`` takes the admin key, or none with ``metrics_public``."""
    audit_log = audit or PlatformAuditLog(None)
    authenticator = Authenticator(service.store, admin_key=key, admin_secret=secret)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()
            authenticator.close()
            audit_log.close()

    app = FastAPI(
        title="peering-tui platform API",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        generate_unique_id_function=operation_id,
    )

    open_paths = OPEN_PATHS | {METRICS_PATH} if metrics_public else OPEN_PATHS

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            generated = get_openapi(title=app.title, version=app.version, routes=app.routes)
            app.openapi_schema = document(generated, open_paths=open_paths)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.service = service
    app.add_middleware(
        Gate,
        authenticator=authenticator,
        budget=RequestBudget(requests_per_minute),
        failures=FailedLogins(limit=failed_logins_per_minute),
        audit=audit_log,
        max_body_bytes=max_body_bytes,
        open_paths=open_paths,
    )
    # Added last, so outside the gate: refusals (401, 429, 413) are counted and timed too.
    app.add_middleware(
        MetricsMiddleware, metrics=service.metrics, route_of=route_templates(app.router.routes)
    )
    tenancy = service.tenancy

    async def reader(request: Request) -> Principal:
        """The asking key (set by the gate); for a GET, the ETag of its tenant's state."""
        principal: Principal = request.state.principal
        if request.method == "GET":
            # Every write bumps its tenant's generation in the database, in the writing
            # transaction, whichever replica made it: an unchanged count means an unchanged
            # answer. A poll that changed nothing costs one row read, no records and no JSON,
            # and sees nothing of other tenants' writes. The count is read before the records,
            # so a body is never older than its tag.
            store = service.store
            scope = principal.scope
            generation = await store.generation_of(scope)
            tag = f'"{store.store_id}-{service.view_tag}-{scope or "all"}-{generation}"'
            request.state.etag = tag
            if _matches(request, tag, found=False):
                raise NotModified(tag)
        return principal

    def writer(principal: Annotated[Principal, Depends(reader)]) -> Principal:
        if principal.role is Role.VIEWER:
            raise forbidden("this is a viewer key: it reads, it changes nothing")
        return principal

    def admin(principal: Annotated[Principal, Depends(reader)]) -> Principal:
        if principal.role is not Role.ADMIN:
            raise forbidden("only the platform's admin key manages tenants")
        return principal

    def key_manager(principal: Annotated[Principal, Depends(reader)]) -> Principal:
        if principal.role is Role.VIEWER:
            raise forbidden("this is a viewer key: keys are managed by operators and the admin")
        return principal

    Reader = Annotated[Principal, Depends(reader)]
    Writer = Annotated[Principal, Depends(writer)]
    Admin = Annotated[Principal, Depends(admin)]
    KeyManager = Annotated[Principal, Depends(key_manager)]

    def made(request: Request, **ids: str) -> None:
        """What a change made, for the audit log."""
        request.state.made = ids

    def refused(request: Request, code: str) -> None:
        request.state.error_code = code

    @app.exception_handler(PlatformError)
    async def platform_error(request: Request, exc: PlatformError) -> Response:
        refused(request, exc.code)
        response = _error(exc.status, exc.code, exc.message, details=exc.details or None)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="platform"'
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        return response

    @app.exception_handler(AwsError)
    async def aws_failed(request: Request, exc: AwsError) -> Response:
        # An AWS call that kept failing after its retries: the platform's upstream, not a 500.
        refused(request, "AWS_UNAVAILABLE")
        return _error(502, "AWS_UNAVAILABLE", f"AWS failed: {exc}; try again")

    @app.exception_handler(NotModified)
    async def not_modified(_: Request, exc: NotModified) -> Response:
        return Response(status_code=304, headers={"ETag": exc.tag})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
            got = err.get("input")
            shown_value = (
                "" if isinstance(got, dict | list) or got is None else f" (got {shown(got)})"
            )
            problems.append(f"{where or 'body'}: {err.get('msg', 'invalid')}{shown_value}")
        refused(request, "INVALID_ARGUMENT")
        return _error(400, "INVALID_ARGUMENT", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # 400: a body Starlette could not read (not JSON, not UTF-8).
        code = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(
            exc.status_code, "HTTP_ERROR"
        )
        refused(request, code)
        response = _error(exc.status_code, code, str(exc.detail))
        if exc.status_code == 405:
            # Starlette names the methods of the first route on the path; a path has one route
            # per method here, so gather them all (and HEAD wherever GET is).
            allowed = {
                method
                for route in app.router.routes
                if isinstance(route, APIRoute) and route.matches(request.scope)[0] != Match.NONE
                for method in route.methods or ()
            }
            if "GET" in allowed:
                allowed.add("HEAD")
            response.headers["Allow"] = ", ".join(sorted(allowed))
        return response

    @app.get("/healthz", response_model=Health, response_model_exclude_none=True)
    async def health() -> dict[str, str]:
        # 200 either way: a degraded replica still serves reads, and a load balancer taking
        # every replica out because AWS is down would stop those too.
        status, reason = service.health()
        return {"status": status} if reason is None else {"status": status, "reason": reason}

    @app.get(
        METRICS_PATH,
        response_class=PlainTextResponse,
        responses={
            200: {
                "description": "every figure, in the Prometheus text format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            **answers(FORBIDDEN),
        },
    )
    async def metrics(request: Request) -> Response:
        # Platform-wide figures (every tenant's peerings, every key's requests): the admin's,
        # never a tenant key's.
        if not metrics_public and request.state.principal.role is not Role.ADMIN:
            raise forbidden("the platform's metrics are read with the admin key")
        body, content_type = await service.metrics_exposition()
        return Response(body, media_type=content_type)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_document(request: Request, _: Reader) -> Response:
        return _json(request, app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def reference(_: Reader) -> Response:
        return HTMLResponse(reference_page(app.openapi()), headers=REFERENCE_HEADERS)

    # --- who is asking, tenants and keys --------------------------------------------------

    @app.get(f"{API}/whoami", response_model=WhoAmI)
    async def whoami(request: Request, principal: Reader) -> Response:
        return _json(request, _dump(principal.whoami()))

    @app.get(f"{API}/tenants", response_model=list[Tenant], responses=answers(FORBIDDEN))
    async def list_tenants(request: Request, _: Admin) -> Response:
        return _json(request, _dump(await tenancy.tenants()))

    @app.post(
        f"{API}/tenants",
        response_model=Tenant,
        status_code=201,
        responses=answers(INVALID_ARGUMENT, FORBIDDEN, TENANT_EXISTS),
    )
    async def create_tenant(request: Request, body: CreateTenantRequest, _: Admin) -> Response:
        created = await tenancy.create_tenant(body.model_dump(by_alias=True))
        made(request, tenantId=created.id)
        return _json(request, _dump(created), status=201)

    @app.get(f"{API}/keys", response_model=list[ApiKey], responses=answers(FORBIDDEN))
    async def list_keys(request: Request, principal: KeyManager) -> Response:
        return _json(request, _dump(await tenancy.keys(scope=principal.scope)))

    @app.post(
        f"{API}/keys",
        response_model=NewApiKey,
        status_code=201,
        responses=answers(INVALID_ARGUMENT, FORBIDDEN, TENANT_NOT_FOUND, TENANT_REQUIRED),
    )
    async def create_key(
        request: Request, body: CreateKeyRequest, principal: KeyManager
    ) -> Response:
        asked = {k: v for k, v in body.model_dump(by_alias=True).items() if v is not None}
        created = await tenancy.create_key(asked, scope=principal.scope)
        made(request, keyId=created.key_id, tenantId=created.tenant_id)
        return _json(request, _dump(created), status=201)

    @app.delete(
        f"{API}/keys/{{key_id}}", response_model=ApiKey, responses=answers(FORBIDDEN, KEY_NOT_FOUND)
    )
    async def revoke_key(request: Request, key_id: str, principal: KeyManager) -> Response:
        revoked = await tenancy.revoke_key(key_id, scope=principal.scope)
        authenticator.forget(key_id)
        return _json(request, _dump(revoked))

    # --- deployments ----------------------------------------------------------------------

    @app.get(f"{API}/deployments", response_model=list[Deployment])
    async def list_deployments(request: Request, principal: Reader) -> Response:
        return _json(request, _dump(await service.deployments(scope=principal.scope)))

    @app.post(
        f"{API}/deployments",
        response_model=Deployment,
        status_code=201,
        responses=answers(INVALID_ARGUMENT, FORBIDDEN, TENANT_NOT_FOUND, AWS_FAILED),
    )
    async def create_deployment(
        request: Request, body: CreateDeploymentRequest, principal: Writer
    ) -> Response:
        asked = {k: v for k, v in body.model_dump(by_alias=True).items() if v is not None}
        created = await service.create_deployment(asked, scope=principal.scope)
        made(request, deploymentID=created.id)
        return _json(request, _dump(created), status=201)

    @app.get(
        f"{API}/deployments/{{deployment_id}}",
        response_model=Deployment,
        responses=answers(DEPLOYMENT_NOT_FOUND),
    )
    async def get_deployment(request: Request, deployment_id: str, principal: Reader) -> Response:
        return _json(request, _dump(await service.deployment(deployment_id, scope=principal.scope)))

    @app.delete(
        f"{API}/deployments/{{deployment_id}}",
        status_code=204,
        responses=answers(FORBIDDEN, DEPLOYMENT_NOT_FOUND, DEPLOYMENT_HAS_PEERINGS, AWS_FAILED),
    )
    async def delete_deployment(deployment_id: str, principal: Writer) -> Response:
        await service.delete_deployment(deployment_id, scope=principal.scope)
        return Response(status_code=204)

    @app.post(
        f"{API}/deployments/{{deployment_id}}/stop",
        response_model=Deployment,
        responses=answers(FORBIDDEN, DEPLOYMENT_NOT_FOUND, DEPLOYMENT_NOT_RUNNING),
    )
    async def stop_deployment(request: Request, deployment_id: str, principal: Writer) -> Response:
        stopped = await service.set_deployment_running(deployment_id, False, scope=principal.scope)
        return _json(request, _dump(stopped))

    @app.post(
        f"{API}/deployments/{{deployment_id}}/start",
        response_model=Deployment,
        responses=answers(FORBIDDEN, DEPLOYMENT_NOT_FOUND, DEPLOYMENT_NOT_RUNNING),
    )
    async def start_deployment(request: Request, deployment_id: str, principal: Writer) -> Response:
        started = await service.set_deployment_running(deployment_id, True, scope=principal.scope)
        return _json(request, _dump(started))

    @app.get(
        f"{API}/deployments/{{deployment_id}}/vpc",
        response_model=DeploymentVpc,
        responses=answers(DEPLOYMENT_NOT_FOUND),
    )
    async def get_deployment_vpc(
        request: Request, deployment_id: str, principal: Reader
    ) -> Response:
        vpc = await service.deployment_vpc(deployment_id, scope=principal.scope)
        return _json(request, _dump(vpc))

    @app.get(f"{API}/vpcs", response_model=list[DeploymentVpc])
    async def list_vpcs(request: Request, principal: Reader) -> Response:
        return _json(request, _dump(await service.deployment_vpcs(scope=principal.scope)))

    # --- peerings -------------------------------------------------------------------------

    @app.get(
        f"{API}/deployments/{{deployment_id}}/peerings",
        response_model=list[PlatformPeering],
        responses=answers(DEPLOYMENT_NOT_FOUND),
    )
    async def list_deployment_peerings(
        request: Request, deployment_id: str, principal: Reader
    ) -> Response:
        return _json(request, _dump(await service.peerings(deployment_id, scope=principal.scope)))

    @app.post(
        f"{API}/deployments/{{deployment_id}}/peerings:check",
        response_model=PeeringCheck,
        responses=answers(
            INVALID_ARGUMENT,
            DEPLOYMENT_NOT_FOUND,
            DEPLOYMENT_NOT_RUNNING,
            REGION_MISMATCH,
            CIDR_RESERVED,
            CIDR_OVERLAP,
            AWS_FAILED,
            AWS_UNREACHABLE,
        ),
    )
    async def check_peering(
        request: Request, deployment_id: str, body: CheckPeeringRequest, principal: Reader
    ) -> Response:
        """The rules a confirmation would meet, before any pcx exists; nothing is stored."""
        checked = await service.check_peering(
            deployment_id, body.model_dump(by_alias=True), scope=principal.scope
        )
        return _json(request, checked)

    @app.post(
        f"{API}/deployments/{{deployment_id}}/peerings",
        response_model=PlatformPeering,
        status_code=202,
        responses=answers(
            INVALID_ARGUMENT,
            FORBIDDEN,
            DEPLOYMENT_NOT_FOUND,
            DEPLOYMENT_NOT_RUNNING,
            PEERING_EXISTS,
            PEERING_NOT_VISIBLE,
            PEERING_WRONG_ACCEPTER,
            PEERING_REQUESTER_MISMATCH,
            PEERING_NOT_PENDING,
            REGION_MISMATCH,
            CIDR_RESERVED,
            CIDR_OVERLAP,
            AWS_FAILED,
            AWS_UNREACHABLE,
        ),
    )
    async def confirm_peering(
        request: Request, deployment_id: str, body: ConfirmPeeringRequest, principal: Writer
    ) -> Response:
        record, _created = await service.confirm_peering(
            deployment_id, body.model_dump(by_alias=True), scope=principal.scope
        )
        made(request, peeringId=record.peering_id)
        return _json(request, _dump(record), status=202)

    @app.get(
        f"{API}/deployments/{{deployment_id}}/peerings/{{peering_id}}",
        response_model=PlatformPeering,
        responses=answers(INVALID_ARGUMENT, DEPLOYMENT_NOT_FOUND, PEERING_NOT_FOUND),
    )
    async def get_peering(
        request: Request, deployment_id: str, peering_id: PeeringId, principal: Reader
    ) -> Response:
        record = await service.peering(deployment_id, peering_id, scope=principal.scope)
        return _json(request, _dump(record))

    @app.delete(
        f"{API}/deployments/{{deployment_id}}/peerings/{{peering_id}}",
        response_model=PlatformPeering,
        status_code=202,
        responses=answers(
            INVALID_ARGUMENT,
            FORBIDDEN,
            DEPLOYMENT_NOT_FOUND,
            PEERING_NOT_FOUND,
            PEERING_NOT_RUNNING,
            PEERING_IN_USE,
        ),
    )
    async def delete_peering(
        request: Request, deployment_id: str, peering_id: PeeringId, principal: Writer
    ) -> Response:
        record = await service.delete_peering(deployment_id, peering_id, scope=principal.scope)
        return _json(request, _dump(record), status=202)

    @app.post(
        f"{API}/deployments/{{deployment_id}}/peerings/{{peering_id}}/retry",
        response_model=PlatformPeering,
        status_code=202,
        responses=answers(
            INVALID_ARGUMENT, FORBIDDEN, DEPLOYMENT_NOT_FOUND, PEERING_NOT_FOUND, PEERING_NOT_FAILED
        ),
    )
    async def retry_peering(
        request: Request, deployment_id: str, peering_id: PeeringId, principal: Writer
    ) -> Response:
        record = await service.retry_peering(deployment_id, peering_id, scope=principal.scope)
        return _json(request, _dump(record), status=202)

    @app.get(f"{API}/peerings", response_model=list[PlatformPeering])
    async def list_peerings(request: Request, principal: Reader) -> Response:
        return _json(request, _dump(await service.peerings(scope=principal.scope)))

    # --- resources ------------------------------------------------------------------------

    @app.get(f"{API}/resources", response_model=list[Resource])
    async def list_resources(request: Request, principal: Reader) -> Response:
        return _json(request, _dump(await service.all_resources(scope=principal.scope)))

    @app.get(
        f"{API}/deployments/{{deployment_id}}/resources",
        response_model=list[Resource],
        responses=answers(DEPLOYMENT_NOT_FOUND),
    )
    async def list_deployment_resources(
        request: Request, deployment_id: str, principal: Reader
    ) -> Response:
        return _json(request, _dump(await service.resources(deployment_id, scope=principal.scope)))

    @app.post(
        f"{API}/deployments/{{deployment_id}}/resources",
        response_model=Resource,
        status_code=201,
        responses=answers(INVALID_ARGUMENT, FORBIDDEN, DEPLOYMENT_NOT_FOUND),
    )
    async def create_resource(
        request: Request, deployment_id: str, body: CreateResourceRequest, principal: Writer
    ) -> Response:
        created = await service.create_resource(
            deployment_id, body.model_dump(), scope=principal.scope
        )
        made(request, resourceID=created.id)
        return _json(request, _dump(created), status=201)

    @app.delete(
        f"{API}/deployments/{{deployment_id}}/resources/{{resource_id}}",
        status_code=204,
        responses=answers(FORBIDDEN, DEPLOYMENT_NOT_FOUND, RESOURCE_NOT_FOUND),
    )
    async def delete_resource(deployment_id: str, resource_id: str, principal: Writer) -> Response:
        await service.delete_resource(deployment_id, resource_id, scope=principal.scope)
        return Response(status_code=204)

    return app


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document as ``GET /openapi.json`` serves it, made without serving
    (nothing is opened or started): what ``peering-tui platform openapi`` prints."""
    from .ec2 import PlatformEc2
    from .store import Store

    service = PlatformService(Store(":memory:"), PlatformEc2())
    return create_app(service, key="-", secret=SecretStr("-")).openapi()

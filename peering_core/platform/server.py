"""The platform API over HTTP (FastAPI), a thin layer around :class:`PlatformService`.

HTTP Basic auth on everything but ``/healthz``; errors as ``{"code", "message"}``; ``ETag`` and
``If-None-Match`` on every GET; a per-key request budget answered with ``429`` + ``Retry-After``.
"""

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .. import rules
from ..models import Deployment, DeploymentVpc, ErrorBody, PlatformPeering, Resource
from .service import RESOURCE_TYPES, PlatformError, PlatformService

API = "/api/v1"


def _shape(pattern: re.Pattern[str] | str | None = None, **schema: Any) -> dict[str, Any]:
    """What the service accepts, for the OpenAPI document only: the service still checks every
    value itself (``rules.py``), so a refusal keeps its own message naming the value."""
    if pattern is not None:
        text = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
        schema["pattern"] = f"^{text}$"
    return schema


# As ``service._require_str`` reads them: something besides whitespace, at most 64 characters.
_NAME = _shape(r"[\s\S]*\S[\s\S]*", maxLength=64)
_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
# A host name (to this pattern an IPv4 address is one too); the service also takes IPv6.
_HOST = _shape(rf"({_LABEL}\.)*{_LABEL}", maxLength=253)
_CIDR = _shape(r"([0-9]{1,3}\.){3}[0-9]{1,3}/(1[6-9]|2[0-8])")


class CreateDeploymentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    deployment_name: str = Field(alias="deploymentName", json_schema_extra=_NAME)
    region: str = Field(json_schema_extra=_shape(rules.REGION_RE))
    cidr: str = Field(json_schema_extra=_CIDR)
    project_name: str = Field(
        default="default", alias="projectName", json_schema_extra={"minLength": 1}
    )


class ConfirmPeeringRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    peering_id: str = Field(alias="peeringId", json_schema_extra=_shape(rules.PCX_RE))
    account_id: str = Field(alias="accountId", json_schema_extra=_shape(rules.ACCOUNT_RE))
    vpc_id: str = Field(alias="vpcId", json_schema_extra=_shape(rules.VPC_RE))


class CreateResourceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(json_schema_extra=_NAME)
    type: str = Field(json_schema_extra={"enum": list(RESOURCE_TYPES)})
    host: str = Field(json_schema_extra=_HOST)
    port: int = Field(json_schema_extra={"minimum": 1, "maximum": 65535})


PeeringId = Annotated[str, Path(json_schema_extra=_shape(rules.PCX_RE))]


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RequestBudget:
    """A token bucket per API key: ``per_minute`` requests, refilled continuously."""

    per_minute: int
    buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, key: str) -> float:
        """Spend one request; returns 0 when allowed, else seconds until the next is."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        now = time.monotonic()
        bucket = self.buckets.setdefault(key, _Bucket(float(self.per_minute), now))
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate


@dataclass
class FailedLogins:
    """Repeated bad credentials from one client are throttled, so guessing is slow."""

    limit: int = 10
    window: float = 60.0
    seen: dict[str, list[float]] = field(default_factory=dict)

    def blocked_for(self, client: str) -> float:
        now = time.monotonic()
        recent = [t for t in self.seen.get(client, []) if now - t < self.window]
        self.seen[client] = recent
        if len(recent) >= self.limit:
            return self.window - (now - recent[0])
        return 0.0

    def record(self, client: str) -> None:
        self.seen.setdefault(client, []).append(time.monotonic())

    def clear(self, client: str) -> None:
        self.seen.pop(client, None)


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status)


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class NotModified(Exception):
    """The client's cached representation is current; answered with 304 and no work."""

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.tag = tag


def _matches(request: Request, tag: str) -> bool:
    wanted = request.headers.get("if-none-match", "")
    candidates = {t.strip().removeprefix("W/") for t in wanted.split(",") if t.strip()}
    return tag in candidates or "*" in candidates


def _json(request: Request, payload: Any, status: int = 200) -> Response:
    """A JSON response; a GET carries the ETag of the store generation it was read at."""
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    if request.method != "GET":
        return Response(body, status_code=status, media_type="application/json")
    tag = getattr(request.state, "etag", None) or _etag(body)
    if _matches(request, tag):
        return Response(status_code=304, headers={"ETag": tag})
    return Response(body, status_code=status, media_type="application/json", headers={"ETag": tag})


def _dump(items: Any) -> Any:
    if isinstance(items, BaseModel):
        return items.model_dump(mode="json", by_alias=True)
    return [i.model_dump(mode="json", by_alias=True) for i in items]


def create_app(
    service: PlatformService,
    *,
    key: str,
    secret: SecretStr,
    requests_per_minute: int = 1200,
) -> FastAPI:
    """The platform API app; starting it starts ``service`` (and resumes unfinished work)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="peering-tui platform API",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        responses={
            400: {"model": ErrorBody},
            401: {"model": ErrorBody},
            404: {"model": ErrorBody},
            429: {"model": ErrorBody},
        },
    )
    app.state.service = service
    budget = RequestBudget(requests_per_minute)
    failures = FailedLogins()
    expected_key = key.encode()
    expected_secret = secret.get_secret_value().encode()

    def authorized(request: Request) -> str:
        client = request.client.host if request.client else "unknown"
        wait = failures.blocked_for(client)
        if wait > 0:
            raise PlatformError(
                429,
                "TOO_MANY_FAILED_LOGINS",
                "too many bad credentials from this client; try again later",
                retry_after=wait,
            )
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        given_key, given_secret = b"", b""
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                decoded = b""
            given_key, _, given_secret = decoded.partition(b":")
        # Both comparisons always run, in constant time, so timing tells nothing.
        key_ok = hmac.compare_digest(given_key, expected_key)
        secret_ok = hmac.compare_digest(given_secret, expected_secret)
        if not (key_ok and secret_ok):
            failures.record(client)
            raise PlatformError(401, "UNAUTHORIZED", "missing or wrong API key and secret")
        failures.clear(client)
        wait = budget.take(key)
        if wait > 0:
            raise PlatformError(
                429,
                "RATE_LIMITED",
                f"request budget of {requests_per_minute}/min exceeded",
                retry_after=wait,
            )
        if request.method == "GET":
            # Every write bumps the store's generation, so an unchanged store means an
            # unchanged answer: a poll that changed nothing costs no query and no JSON.
            store = service.store
            tag = f'"{store.boot_id}-{store.generation}"'
            request.state.etag = tag
            if _matches(request, tag):
                raise NotModified(tag)
        return key

    Auth = Annotated[str, Depends(authorized)]

    @app.exception_handler(PlatformError)
    async def platform_error(_: Request, exc: PlatformError) -> Response:
        response = _error(exc.status, exc.code, exc.message, details=exc.details or None)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="platform"'
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        return response

    @app.exception_handler(NotModified)
    async def not_modified(_: Request, exc: NotModified) -> Response:
        return Response(status_code=304, headers={"ETag": exc.tag})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> Response:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
            got = err.get("input")
            shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
            problems.append(f"{where or 'body'}: {err.get('msg', 'invalid')}{shown}")
        return _error(400, "INVALID_ARGUMENT", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        response = _error(exc.status_code, code, str(exc.detail))
        if exc.status_code == 405:
            # Starlette names the methods of the first route on the path; a path has one route
            # per method here, so gather them all.
            allowed = {
                method
                for route in app.router.routes
                if isinstance(route, APIRoute) and route.matches(request.scope)[0] != Match.NONE
                for method in route.methods or ()
            }
            response.headers["Allow"] = ", ".join(sorted(allowed))
        return response

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request, _: Auth) -> Response:
        return _json(request, app.openapi())

    @app.get(f"{API}/deployments", response_model=list[Deployment])
    async def list_deployments(request: Request, _: Auth) -> Response:
        return _json(request, _dump(await service.deployments()))

    @app.post(f"{API}/deployments", response_model=Deployment, status_code=201)
    async def create_deployment(
        request: Request, body: CreateDeploymentRequest, _: Auth
    ) -> Response:
        created = await service.create_deployment(body.model_dump(by_alias=True))
        return _json(request, _dump(created), status=201)

    @app.get(f"{API}/deployments/{{deployment_id}}", response_model=Deployment)
    async def get_deployment(request: Request, deployment_id: str, _: Auth) -> Response:
        return _json(request, _dump(await service.deployment(deployment_id)))

    @app.post(f"{API}/deployments/{{deployment_id}}/stop", response_model=Deployment)
    async def stop_deployment(request: Request, deployment_id: str, _: Auth) -> Response:
        return _json(request, _dump(await service.set_deployment_running(deployment_id, False)))

    @app.post(f"{API}/deployments/{{deployment_id}}/start", response_model=Deployment)
    async def start_deployment(request: Request, deployment_id: str, _: Auth) -> Response:
        return _json(request, _dump(await service.set_deployment_running(deployment_id, True)))

    @app.get(f"{API}/deployments/{{deployment_id}}/vpc", response_model=DeploymentVpc)
    async def get_vpc(request: Request, deployment_id: str, _: Auth) -> Response:
        return _json(request, _dump(await service.deployment_vpc(deployment_id)))

    @app.get(f"{API}/vpcs", response_model=list[DeploymentVpc])
    async def list_vpcs(request: Request, _: Auth) -> Response:
        return _json(request, _dump(await service.deployment_vpcs()))

    @app.get(f"{API}/deployments/{{deployment_id}}/peerings", response_model=list[PlatformPeering])
    async def list_deployment_peerings(request: Request, deployment_id: str, _: Auth) -> Response:
        return _json(request, _dump(await service.peerings(deployment_id)))

    @app.post(
        f"{API}/deployments/{{deployment_id}}/peerings",
        response_model=PlatformPeering,
        status_code=202,
        responses={409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    )
    async def confirm_peering(
        request: Request, deployment_id: str, body: ConfirmPeeringRequest, _: Auth
    ) -> Response:
        record, _created = await service.confirm_peering(
            deployment_id, body.model_dump(by_alias=True)
        )
        return _json(request, _dump(record), status=202)

    @app.get(
        f"{API}/deployments/{{deployment_id}}/peerings/{{peering_id}}",
        response_model=PlatformPeering,
    )
    async def get_peering(
        request: Request, deployment_id: str, peering_id: PeeringId, _: Auth
    ) -> Response:
        return _json(request, _dump(await service.peering(deployment_id, peering_id)))

    @app.delete(
        f"{API}/deployments/{{deployment_id}}/peerings/{{peering_id}}",
        response_model=PlatformPeering,
        status_code=202,
        responses={409: {"model": ErrorBody}},
    )
    async def delete_peering(
        request: Request, deployment_id: str, peering_id: PeeringId, _: Auth
    ) -> Response:
        record = await service.delete_peering(deployment_id, peering_id)
        return _json(request, _dump(record), status=202)

    @app.get(f"{API}/peerings", response_model=list[PlatformPeering])
    async def list_peerings(request: Request, _: Auth) -> Response:
        return _json(request, _dump(await service.peerings()))

    @app.get(f"{API}/resources", response_model=list[Resource])
    async def list_all_resources(request: Request, _: Auth) -> Response:
        return _json(request, _dump(await service.all_resources()))

    @app.get(f"{API}/deployments/{{deployment_id}}/resources", response_model=list[Resource])
    async def list_resources(request: Request, deployment_id: str, _: Auth) -> Response:
        return _json(request, _dump(await service.resources(deployment_id)))

    @app.post(
        f"{API}/deployments/{{deployment_id}}/resources",
        response_model=Resource,
        status_code=201,
    )
    async def create_resource(
        request: Request, deployment_id: str, body: CreateResourceRequest, _: Auth
    ) -> Response:
        created = await service.create_resource(deployment_id, body.model_dump())
        return _json(request, _dump(created), status=201)

    @app.delete(f"{API}/deployments/{{deployment_id}}/resources/{{resource_id}}", status_code=204)
    async def delete_resource(deployment_id: str, resource_id: str, _: Auth) -> Response:
        await service.delete_resource(deployment_id, resource_id)
        return Response(status_code=204)

    return app

"""The only module that talks to the platform API: an ``httpx.AsyncClient`` with typed results.

Errors come back as :class:`PlatformApiError` carrying the server's ``code``; ``429`` is
retried after ``Retry-After``; connection errors are retried with backoff; GETs remember
their ETag so an unchanged poll costs a ``304`` and no parsing.

A request that would make something new on a repeat (``POST`` of a deployment, a resource, a
tenant or a key) is retried only when the platform surely did not act on it: the connection
was never made, or the answer was ``429``/``503``. Every other call is safe to repeat (GETs;
confirming a pcx, which the platform answers alike when repeated; DELETE, whose repeat the
delete workflow recognises).
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Self

import httpx
from pydantic import SecretStr, TypeAdapter

from .errors import PlatformApiError, PlatformUnavailable
from .models import (
    ApiKey,
    Deployment,
    DeploymentVpc,
    NewApiKey,
    PlatformPeering,
    Resource,
    Role,
    Tenant,
    WhoAmI,
    unchanged,
)

# Transport failures before the request reached the platform: safe to repeat any request.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

_DEPLOYMENTS = TypeAdapter(list[Deployment])
_PEERINGS = TypeAdapter(list[PlatformPeering])
_RESOURCES = TypeAdapter(list[Resource])
_VPCS = TypeAdapter(list[DeploymentVpc])
_TENANTS = TypeAdapter(list[Tenant])
_KEYS = TypeAdapter(list[ApiKey])


# httpx builds a TLS context for every client (20 ms: it reads the CA bundle), and a command,
# the dashboard's screens and the tests make many clients. One context serves any number of
# clients and connections; it is made once per setting and CA variables.
_TLS_CONTEXTS: dict[tuple[bool, str | None, str | None], ssl.SSLContext] = {}


def _tls_context(verify: bool) -> ssl.SSLContext:
    key = (verify, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    context = _TLS_CONTEXTS.get(key)
    if context is None:
        context = _TLS_CONTEXTS[key] = httpx.create_ssl_context(verify=verify)
    return context


class PlatformClient:
    """Typed access to the platform API. Use as an async context manager."""

    def __init__(
        self,
        base_url: str,
        key: str,
        secret: SecretStr | str,
        *,
        verify: bool = True,
        timeout: float = 15.0,
        max_attempts: int = 5,
        backoff: float = 0.25,
        max_retry_after: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        secret_value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.calls: Counter[str] = Counter()
        self.not_modified = 0
        # path → (ETag, what its body parsed to): a 304 returns the parsed value as it was.
        self._etags: dict[str, tuple[str, Any]] = {}
        self._settings: dict[str, Any] = {
            "base_url": self.base_url,
            "auth": httpx.BasicAuth(key, secret_value),
            "verify": _tls_context(verify),
            "timeout": timeout,
            "headers": {"User-Agent": "peering-tui"},
        }
        self._transport = transport
        self._http = httpx.AsyncClient(transport=transport, **self._settings)
        self._unpooled_http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()
        if self._unpooled_http is not None:
            await self._unpooled_http.aclose()

    def _unpooled(self) -> httpx.AsyncClient:
        """A client that opens a connection for each request, for the requests that must not be
        repeated: on a pooled connection the platform closed while it sat idle, one would fail
        before it arrived, and could not be sent again."""
        if self._transport is not None:  # an injected transport pools as it pleases
            return self._http
        if self._unpooled_http is None:
            self._unpooled_http = httpx.AsyncClient(
                limits=httpx.Limits(max_keepalive_connections=0), **self._settings
            )
        return self._unpooled_http

    async def _request(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        parse: Callable[[Any], Any] | None = None,
        idempotent: bool = True,
    ) -> Any:
        """The answer's JSON body, or ``parse(body)``; a GET's result is kept with its ETag.

        ``idempotent=False``: retried only where the platform cannot have acted on it."""
        headers: dict[str, str] = {}
        cached = self._etags.get(path) if method == "GET" else None
        if cached is not None:
            headers["If-None-Match"] = cached[0]
        http = self._http if idempotent else self._unpooled()
        last: Exception | None = None
        for attempt in range(self.max_attempts):
            self.calls[f"{method} {path}"] += 1
            try:
                response = await http.request(method, path, json=json, headers=headers)
            except httpx.TransportError as exc:
                tls = _tls_failure(exc, self.base_url)
                if tls is not None:  # not a network hiccup: no retry will change it
                    raise tls from None
                last = exc
                if not idempotent and not isinstance(exc, _NOT_SENT):
                    raise PlatformUnavailable(
                        0,
                        "PLATFORM_ANSWER_LOST",
                        f"{method} {path}: the platform's answer was lost ({type(exc).__name__});"
                        " not repeated, since the platform may have acted on it",
                    ) from None
                await asyncio.sleep(self.backoff * 2**attempt)
                continue
            if response.status_code == 304 and cached is not None:
                self.not_modified += 1
                return cached[1]
            if response.status_code in (429, 503) or (
                idempotent and response.status_code in (502, 504)
            ):
                retry_after = _retry_after(response, self.backoff * 2**attempt)
                last = _api_error(response)
                if attempt < self.max_attempts - 1 and retry_after <= self.max_retry_after:
                    await asyncio.sleep(retry_after)
                    continue
                raise last
            if response.status_code >= 400:
                raise _api_error(response)
            if response.status_code == 204:
                return None
            result = response.json()
            if parse is not None:
                result = parse(result)
            if method == "GET" and "etag" in response.headers:
                self._etags[path] = (response.headers["etag"], result)
            return result
        if isinstance(last, PlatformApiError):
            raise last
        raise PlatformUnavailable(
            0,
            "PLATFORM_UNREACHABLE",
            f"platform at {self.base_url} did not answer after {self.max_attempts} tries: "
            f"{type(last).__name__}",
        )

    async def _get_cached(self, path: str, adapter: TypeAdapter[list[Any]]) -> Any:
        """GET a list at ``path``, parsed once per distinct ETag (the raw body is not kept).

        A changed list keeps the previous answer's objects for the items that did not change.
        """

        def parse(body: Any) -> list[Any]:
            cached = self._etags.get(path)
            before = {item: item for item in cached[1]} if cached is not None else {}
            return [unchanged(before, item, item) for item in adapter.validate_python(body)]

        return await self._request("GET", path, parse=parse)

    # --- who is asking -------------------------------------------------------------------

    async def whoami(self) -> WhoAmI:
        """This key's role and tenant (``tenantId`` ``None`` for the admin)."""
        return WhoAmI.model_validate(await self._request("GET", "/api/v1/whoami"))

    async def tenants(self) -> list[Tenant]:
        """Every tenant (the admin key only)."""
        result: list[Tenant] = await self._get_cached("/api/v1/tenants", _TENANTS)
        return result

    async def create_tenant(self, name: str) -> Tenant:
        """A new tenant (the admin key only)."""
        body = {"tenantName": name}
        return Tenant.model_validate(
            await self._request("POST", "/api/v1/tenants", body, idempotent=False)
        )

    async def create_key(self, tenant_id: str, role: Role) -> NewApiKey:
        """A new key of ``tenant_id`` with its secret, which no later answer carries."""
        body = {"tenantId": tenant_id, "role": role.value}
        return NewApiKey.model_validate(
            await self._request("POST", "/api/v1/keys", body, idempotent=False)
        )

    async def keys(self) -> list[ApiKey]:
        """The keys this key may see (never their secrets)."""
        result: list[ApiKey] = await self._get_cached("/api/v1/keys", _KEYS)
        return result

    async def revoke_key(self, key_id: str) -> ApiKey:
        return ApiKey.model_validate(await self._request("DELETE", f"/api/v1/keys/{key_id}"))

    # --- deployments ---------------------------------------------------------------------

    async def health(self) -> bool:
        response = await self._http.get("/healthz")
        return response.status_code == 200

    async def health_status(self) -> tuple[str, str | None]:
        """``("ok", None)`` or ``("degraded", why)``, as ``/healthz`` says."""
        body = (await self._http.get("/healthz")).json()
        return str(body.get("status")), body.get("reason")

    async def deployments(self) -> list[Deployment]:
        result: list[Deployment] = await self._get_cached("/api/v1/deployments", _DEPLOYMENTS)
        return result

    async def deployment(self, deployment_id: str) -> Deployment:
        return Deployment.model_validate(
            await self._request("GET", f"/api/v1/deployments/{deployment_id}")
        )

    async def create_deployment(
        self,
        name: str,
        region: str,
        cidr: str,
        project_name: str = "default",
        *,
        tenant_id: str | None = None,
    ) -> Deployment:
        """A new deployment and its VPC; ``tenant_id`` (the admin key only) says whose."""
        body = {"deploymentName": name, "region": region, "cidr": cidr, "projectName": project_name}
        if tenant_id is not None:
            body["tenantId"] = tenant_id
        return Deployment.model_validate(
            await self._request("POST", "/api/v1/deployments", body, idempotent=False)
        )

    async def stop_deployment(self, deployment_id: str) -> Deployment:
        return Deployment.model_validate(
            await self._request("POST", f"/api/v1/deployments/{deployment_id}/stop")
        )

    async def start_deployment(self, deployment_id: str) -> Deployment:
        return Deployment.model_validate(
            await self._request("POST", f"/api/v1/deployments/{deployment_id}/start")
        )

    async def deployment_vpc(self, deployment_id: str) -> DeploymentVpc:
        return DeploymentVpc.model_validate(
            await self._request("GET", f"/api/v1/deployments/{deployment_id}/vpc")
        )

    async def deployment_vpcs(self) -> list[DeploymentVpc]:
        """Every deployment's VPC info in one request."""
        result: list[DeploymentVpc] = await self._get_cached("/api/v1/vpcs", _VPCS)
        return result

    # --- peerings ------------------------------------------------------------------------

    async def all_peerings(self) -> list[PlatformPeering]:
        """Every deployment's peerings in one request (the cheap poll)."""
        result: list[PlatformPeering] = await self._get_cached("/api/v1/peerings", _PEERINGS)
        return result

    async def peerings(self, deployment_id: str) -> list[PlatformPeering]:
        result: list[PlatformPeering] = await self._get_cached(
            f"/api/v1/deployments/{deployment_id}/peerings", _PEERINGS
        )
        return result

    async def peering(self, deployment_id: str, peering_id: str) -> PlatformPeering:
        return PlatformPeering.model_validate(
            await self._request("GET", f"/api/v1/deployments/{deployment_id}/peerings/{peering_id}")
        )

    async def confirm_peering(
        self, deployment_id: str, peering_id: str, account_id: str, vpc_id: str
    ) -> PlatformPeering:
        body = {"peeringId": peering_id, "accountId": account_id, "vpcId": vpc_id}
        return PlatformPeering.model_validate(
            await self._request("POST", f"/api/v1/deployments/{deployment_id}/peerings", body)
        )

    async def check_peering(
        self,
        deployment_id: str,
        account_id: str,
        vpc_id: str,
        region: str,
        cidrs: Sequence[str],
    ) -> None:
        """The pre-flight check: refuses (:class:`PlatformApiError`) exactly as a confirmation
        of this VPC would, before any pcx exists; stores nothing."""
        body = {"accountId": account_id, "vpcId": vpc_id, "region": region, "cidrs": list(cidrs)}
        await self._request("POST", f"/api/v1/deployments/{deployment_id}/peerings:check", body)

    async def delete_peering(self, deployment_id: str, peering_id: str) -> PlatformPeering:
        return PlatformPeering.model_validate(
            await self._request(
                "DELETE", f"/api/v1/deployments/{deployment_id}/peerings/{peering_id}"
            )
        )

    async def retry_peering(self, deployment_id: str, peering_id: str) -> PlatformPeering:
        """Run a failed peering's last step again (acceptance, or deletion); 202 with the
        record, ``pending`` or ``deleting`` again. Refused (409 ``PEERING_NOT_FAILED``)
        unless the peering is ``failed``."""
        return PlatformPeering.model_validate(
            await self._request(
                "POST", f"/api/v1/deployments/{deployment_id}/peerings/{peering_id}/retry"
            )
        )

    # --- resources -----------------------------------------------------------------------

    async def all_resources(self) -> list[Resource]:
        """Every deployment's resources in one request."""
        result: list[Resource] = await self._get_cached("/api/v1/resources", _RESOURCES)
        return result

    async def resources(self, deployment_id: str) -> list[Resource]:
        result: list[Resource] = await self._get_cached(
            f"/api/v1/deployments/{deployment_id}/resources", _RESOURCES
        )
        return result

    async def create_resource(
        self, deployment_id: str, name: str, type: str, host: str, port: int
    ) -> Resource:
        body = {"name": name, "type": type, "host": host, "port": port}
        return Resource.model_validate(
            await self._request(
                "POST", f"/api/v1/deployments/{deployment_id}/resources", body, idempotent=False
            )
        )

    async def delete_resource(self, deployment_id: str, resource_id: str) -> None:
        await self._request(
            "DELETE", f"/api/v1/deployments/{deployment_id}/resources/{resource_id}"
        )


def _tls_failure(exc: BaseException, url: str) -> PlatformUnavailable | None:
    """The error to report when TLS, not the network, is why the request failed."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return PlatformUnavailable(
                0,
                "PLATFORM_CERTIFICATE",
                f"the platform at {url} answered, but its TLS certificate was not accepted: "
                f"{seen.verify_message or seen.reason}; trust its CA (SSL_CERT_FILE) or, "
                "knowing the risk, pass --insecure",
            )
        if isinstance(seen, ssl.SSLError):
            return PlatformUnavailable(
                0, "PLATFORM_TLS", f"TLS with the platform at {url} failed: {seen.reason or seen}"
            )
        seen = seen.__cause__ or seen.__context__
    return None


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("retry-after")
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


def _api_error(response: httpx.Response) -> PlatformApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    cls = PlatformUnavailable if response.status_code >= 500 else PlatformApiError
    details = body.get("details")
    return cls(
        response.status_code,
        str(body.get("code") or f"HTTP_{response.status_code}"),
        str(body.get("message") or response.reason_phrase),
        details if isinstance(details, list) else None,
    )

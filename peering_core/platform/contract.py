"""The platform API's OpenAPI document: what every operation answers, and where its answers
lead.

FastAPI writes the operations, their bodies and their successes from the routes; each route
names its own refusals (:func:`answers`, from the table in :mod:`.errors`). This module adds
what no single route knows: the gate's refusals on every authenticated operation (401, 413,
429), conditional GETs (``If-None-Match`` → 304, ``ETag``), HTTP Basic security, one error
schema whose ``code`` is an enum per operation and status, and the links a client (or a
stateful tester) follows from an answer to the next request. ``GET /openapi.json`` serves the
result; ``peering-tui platform openapi`` prints it.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable
from typing import Any

from fastapi.routing import APIRoute

from ..models import ErrorBody
from .errors import (
    BODY_TOO_LARGE,
    RATE_LIMITED,
    TOO_MANY_FAILED_LOGINS,
    UNAUTHORIZED,
    Refusal,
)

ERROR_SCHEMA = "Error"
GATE = (UNAUTHORIZED, BODY_TOO_LARGE, RATE_LIMITED, TOO_MANY_FAILED_LOGINS)
_STRING = {"schema": {"type": "string"}}
# Headers a refusal always carries, by status.
_REFUSAL_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"required": True, "description": "Basic", **_STRING}},
    429: {"Retry-After": {"required": True, "description": "seconds to wait", **_STRING}},
    503: {"Retry-After": {"required": True, "description": "seconds to wait", **_STRING}},
}
_ETAG = {"ETag": {"required": True, "description": "the answer's version", **_STRING}}
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "the ETag of the answer held: 304 while it is current",
    **_STRING,
}


def operation_id(route: APIRoute) -> str:
    """The route function's name in camelCase (``get_deployment`` → ``getDeployment``)."""
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def answers(*refusals: Refusal) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses``: each status it refuses with, and the codes that status carries."""
    by_status: dict[int, list[Refusal]] = {}
    for refusal in refusals:
        by_status.setdefault(refusal.status, []).append(refusal)
    return {status: _refused(group) for status, group in sorted(by_status.items())}


def _refused(group: list[Refusal]) -> dict[str, Any]:
    schema = {
        "allOf": [
            {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"},
            {"properties": {"code": {"enum": sorted({r.code for r in group})}}},
        ]
    }
    response: dict[str, Any] = {
        "description": "; ".join(f"{r.code}: {r.when}" for r in group),
        "content": {"application/json": {"schema": schema}},
    }
    if group[0].status in _REFUSAL_HEADERS:
        response["headers"] = _REFUSAL_HEADERS[group[0].status]
    return response


# --- links ---------------------------------------------------------------------------------


def _links(description: str, targets: Iterable[str], **parameters: Any) -> dict[str, Any]:
    return {
        target: {"operationId": target, "description": description, **parameters}
        for target in targets
    }


def _deployment(pointer: str) -> dict[str, str]:
    return {"deployment_id": f"$response.body#{pointer}/deploymentID"}


def _peering(pointer: str) -> dict[str, str]:
    return {
        "deployment_id": f"$response.body#{pointer}/deploymentID",
        "peering_id": f"$response.body#{pointer}/peeringId",
    }


def _resource(pointer: str) -> dict[str, str]:
    return {
        "deployment_id": f"$response.body#{pointer}/deploymentID",
        "resource_id": f"$response.body#{pointer}/resourceID",
    }


_OF_DEPLOYMENT = (
    "getDeployment",
    "getDeploymentVpc",
    "listDeploymentPeerings",
    "checkPeering",
    "confirmPeering",
    "listDeploymentResources",
    "createResource",
    "stopDeployment",
    "startDeployment",
    "deleteDeployment",
)
_OF_PEERING = ("getPeering", "deletePeering", "retryPeering")
_DEPLOYMENT = _links("this deployment", _OF_DEPLOYMENT, parameters=_deployment(""))
_PEERING = _links("this peering", _OF_PEERING, parameters=_peering(""))
_FIRST_PEERING = _links("the first peering listed", _OF_PEERING, parameters=_peering("/0"))
_FIRST_RESOURCE = _links(
    "the first resource listed", ["deleteResource"], parameters=_resource("/0")
)

# (operation, status) → where its answer leads: a deployment to its VPC, peerings and
# resources; a confirmed peering to its GET, DELETE and retry; a tenant to its keys.
LINKS: dict[tuple[str, str], dict[str, Any]] = {
    ("createDeployment", "201"): _DEPLOYMENT,
    ("getDeployment", "200"): _DEPLOYMENT,
    ("stopDeployment", "200"): _DEPLOYMENT,
    ("startDeployment", "200"): _DEPLOYMENT,
    ("listDeployments", "200"): _links(
        "the first deployment listed", ["getDeployment"], parameters=_deployment("/0")
    ),
    ("getDeploymentVpc", "200"): _links(
        "the VPC's deployment", ["getDeployment"], parameters=_deployment("")
    ),
    ("confirmPeering", "202"): _PEERING,
    ("getPeering", "200"): _PEERING,
    ("retryPeering", "202"): _links("this peering", ["getPeering"], parameters=_peering("")),
    ("deletePeering", "202"): _links(
        "this peering, deleting until AWS is cleaned up, then 404",
        ["getPeering"],
        parameters=_peering(""),
    ),
    ("listDeploymentPeerings", "200"): _FIRST_PEERING,
    ("listPeerings", "200"): _FIRST_PEERING,
    ("createResource", "201"): _links(
        "this resource", ["deleteResource"], parameters=_resource("")
    ),
    ("listDeploymentResources", "200"): _FIRST_RESOURCE,
    ("listResources", "200"): _FIRST_RESOURCE,
    ("createTenant", "201"): _links(
        "a viewer key for this tenant",
        ["createKey"],
        requestBody={"tenantId": "$response.body#/tenantId", "role": "viewer"},
    ),
    ("listTenants", "200"): _links(
        "a viewer key for the first tenant listed",
        ["createKey"],
        requestBody={"tenantId": "$response.body#/0/tenantId", "role": "viewer"},
    ),
    ("createKey", "201"): _links(
        "revoke this key", ["revokeKey"], parameters={"key_id": "$response.body#/keyId"}
    ),
    ("listKeys", "200"): _links(
        "revoke the first key listed",
        ["revokeKey"],
        parameters={"key_id": "$response.body#/0/keyId"},
    ),
}


# --- the whole document --------------------------------------------------------------------


def document(generated: dict[str, Any], *, open_paths: Collection[str]) -> dict[str, Any]:
    """FastAPI's document of the routes, completed: gate refusals, conditional GETs, security,
    the error schema and the links. ``open_paths`` need no credentials."""
    doc = copy.deepcopy(generated)
    doc["info"]["description"] = (
        "HTTP Basic auth with an API key and its secret. Errors are "
        '`{"code", "message"}`; each operation lists, per status, the codes it can answer with.'
    )
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            _complete(operation, method, authenticated=path not in open_paths)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for generated_only in ("HTTPValidationError", "ValidationError"):
        schemas.pop(generated_only, None)
    schemas[ERROR_SCHEMA] = ErrorBody.model_json_schema(mode="serialization")
    components["securitySchemes"] = {"basicAuth": {"type": "http", "scheme": "basic"}}
    doc["security"] = [{"basicAuth": []}]
    return doc


def _complete(operation: dict[str, Any], method: str, *, authenticated: bool) -> None:
    responses: dict[str, Any] = operation["responses"]
    # The server answers a malformed request 400 INVALID_ARGUMENT, never FastAPI's own 422.
    if "HTTPValidationError" in str(responses.get("422", "")):
        del responses["422"]
    if not authenticated:
        operation["security"] = []
    else:
        for status, response in answers(*GATE).items():
            responses.setdefault(str(status), response)
        # Conditional GETs are the JSON answers' (not /metrics, which is read whole).
        if method == "get" and "application/json" in responses.get("200", {}).get("content", {}):
            operation.setdefault("parameters", []).append(_IF_NONE_MATCH)
            for status, response in responses.items():
                if status.startswith("2"):
                    response["headers"] = _ETAG
            responses["304"] = {"description": "unchanged since the ETag held", "headers": _ETAG}
    for status, response in responses.items():
        links = {
            name: link
            for name, link in LINKS.get((operation["operationId"], status), {}).items()
            if link["operationId"] != operation["operationId"]
        }
        if links:
            response["links"] = links
    operation["responses"] = dict(sorted(responses.items()))

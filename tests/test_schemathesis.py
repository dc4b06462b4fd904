"""The platform API against its own OpenAPI document, by schemathesis.

Every operation in ``GET /openapi.json`` gets schema-valid and schema-invalid requests (with
the API's basic auth) against a running sandbox platform: no answer may be a 5xx, and every
answer must conform to the document (status codes, content type, body schema, headers, an
``Allow`` header that lists the path's methods).

Schema-valid requests may still be refused with 400 or 422: the platform's rules go beyond
what a JSON schema can say (a CIDR with host bits set, a reserved or overlapping range, a pcx
that must exist on AWS in pending-acceptance), and those refusals name the value.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from peering_core.sandbox.servers import Sandbox

CONFIG = {
    "generation": {"mode": "all"},
    "checks": {
        "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "404", "409", "422"]}
    },
}


@pytest.fixture
def platform_api(sandbox: Sandbox) -> schemathesis.schemas.BaseSchema:
    """The running platform's own document, with deployments and VPCs behind it."""
    asyncio.run(sandbox.seed(demo=False))
    return schemathesis.openapi.from_url(
        f"{sandbox.platform_url}/openapi.json",
        config=SchemathesisConfig.from_dict(CONFIG),
        auth=(sandbox.key, sandbox.secret.get_secret_value()),
    )


schema = schemathesis.pytest.from_fixture("platform_api")


@schema.parametrize()
@settings(
    max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@pytest.mark.heavy
def test_the_platform_api_answers_as_its_openapi_document_says(
    case: schemathesis.Case, sandbox: Sandbox
) -> None:
    case.call_and_validate(
        base_url=sandbox.platform_url, auth=(sandbox.key, sandbox.secret.get_secret_value())
    )


# What schemathesis found, pinned as stories.


async def test_a_region_shaped_name_aws_does_not_have_is_refused_not_a_500(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post(
        "/api/v1/deployments",
        json={"deploymentName": "edge", "region": "aa-a-0", "cidr": "10.0.0.0/16"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_ARGUMENT" and "aa-a-0" in response.json()["message"]
    assert (await api.get("/api/v1/deployments")).json() == []


async def test_a_method_the_path_does_not_take_is_answered_with_every_method_it_does(
    api: httpx.AsyncClient,
) -> None:
    response = await api.request("PATCH", "/api/v1/deployments")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"


async def test_a_number_where_the_document_says_string_is_refused_naming_the_field(
    api: httpx.AsyncClient,
) -> None:
    deployment = (
        await api.post(
            "/api/v1/deployments",
            json={"deploymentName": "edge", "region": "us-east-1", "cidr": "10.0.0.0/16"},
        )
    ).json()["deploymentID"]
    response = await api.post(
        f"/api/v1/deployments/{deployment}/resources",
        json={"name": "db", "type": "postgresql", "host": "10.0.0.5", "port": "5432"},
    )
    assert response.status_code == 400
    assert "port" in response.json()["message"]

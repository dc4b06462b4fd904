"""The platform API's OpenAPI document as a contract: the copy in ``docs/`` is the server's, the
reference page is served behind the API's auth, its links lead where a client goes next, and
each finding schemathesis made before the document was complete stays fixed.

Every answer the ``api`` fixture receives is checked against the document as well (see
``tests/conftest.py``), so every test using it validates the answers it sees.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from peering_core.models import PlatformStatus
from peering_core.platform.errors import REFUSALS
from peering_core.platform.service import ec2_regions
from peering_core.sandbox.seed import CUSTOMER_ACCOUNT_ID, build_customer_vpc, wait_for_platform
from peering_core.sandbox.servers import Sandbox

from .cli_helpers import Cli
from .contract import (
    ROOT,
    a_deployment_and_a_confirmed_peering,
    conforming,
    documented_operation,
    openapi_document,
)

API = "/api/v1"
REGION = "us-east-1"
EXPORTED = ROOT / "docs" / "openapi.json"


def refusal(response: httpx.Response, status: int, code: str) -> str:
    """The refusal's message, once its status and code are as expected."""
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text
    message: str = response.json()["message"]
    return message


async def nothing_recorded(api: httpx.AsyncClient) -> None:
    for what in ("deployments", "resources", "peerings"):
        assert (await api.get(f"{API}/{what}")).json() == [], what


# --- the document in docs/ and the reference page ------------------------------------------


def test_the_exported_document_is_the_running_servers_and_the_commands(
    sandbox: Sandbox, cli: Cli
) -> None:
    served = httpx.get(
        f"{sandbox.platform_url}/openapi.json",
        auth=(sandbox.key, sandbox.secret.get_secret_value()),
    )
    assert served.status_code == 200
    printed = cli("platform", "openapi")
    assert printed.code == 0, printed.err
    stale = "docs/openapi.json is stale: peering-tui platform openapi > docs/openapi.json"
    assert printed.json == served.json(), stale
    assert EXPORTED.read_text() == printed.out, stale
    # ASCII only: no invisible character of the name patterns lands in the file as itself.
    assert printed.out.isascii()


def test_the_reference_page_is_served_behind_the_apis_auth_and_lists_every_operation(
    sandbox: Sandbox,
) -> None:
    anonymous = httpx.get(f"{sandbox.platform_url}/docs")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "UNAUTHORIZED"

    page = httpx.get(
        f"{sandbox.platform_url}/docs", auth=(sandbox.key, sandbox.secret.get_secret_value())
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # The server's own page: no script, nothing fetched from elsewhere.
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert "<script" not in page.text.lower()
    document = openapi_document()
    for path, item in document["paths"].items():
        for operation in item.values():
            assert f'id="{operation["operationId"]}"' in page.text, path
    # Every refusal code the document names is on the page.
    codes = {
        code
        for item in document["paths"].values()
        for operation in item.values()
        for response in operation["responses"].values()
        for part in response.get("content", {})
        .get("application/json", {})
        .get("schema", {})
        .get("allOf", ())
        for code in part.get("properties", {}).get("code", {}).get("enum", ())
    }
    assert {"CIDR_OVERLAP", "TENANT_REQUIRED", "UNAUTHORIZED"} <= codes
    assert all(code in page.text for code in codes)


def test_an_answer_the_document_does_not_describe_is_caught() -> None:
    """The validator the ``api`` fixture runs can fail: a status, a code and a body the
    document does not have are each reported."""
    url = "http://platform.test/api/v1/deployments/d1/peerings/pcx-0123456789abcdef0"
    get = httpx.Request("GET", url)
    assert conforming(httpx.Response(418, json={}, request=get))
    wrong_code = {"code": "TENANT_EXISTS", "message": "no"}
    assert conforming(httpx.Response(404, json=wrong_code, request=get))
    assert conforming(httpx.Response(200, json={"peeringId": 7}, request=get))
    missing = {"code": "PEERING_NOT_FOUND", "message": "no such pcx"}
    assert conforming(httpx.Response(404, json=missing, request=get)) == []


# --- links: where an answer leads ----------------------------------------------------------


def _operations() -> dict[str, tuple[str, str]]:
    return {
        operation["operationId"]: (method.upper(), path)
        for path, item in openapi_document()["paths"].items()
        for method, operation in item.items()
    }


def _pointer(body: Any, expression: Any) -> Any:
    """A link's ``$response.body#/a/0/b`` read from ``body``; a constant as it is."""
    if not isinstance(expression, str) or not expression.startswith("$response.body#"):
        return expression
    value = body
    for part in expression.removeprefix("$response.body#").split("/")[1:]:
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


async def follow(
    api: httpx.AsyncClient, answer: httpx.Response, target: str, body: Any = None
) -> httpx.Response:
    """The request the document's link from ``answer`` to ``target`` makes."""
    found = documented_operation(answer.request.method, answer.request.url.path)
    assert found is not None, answer.request
    _path, source = found
    links = source["responses"][str(answer.status_code)].get("links", {})
    assert target in links, (source["operationId"], answer.status_code, sorted(links))
    link = links[target]
    method, path = _operations()[link["operationId"]]
    for name, expression in link.get("parameters", {}).items():
        path = path.replace(f"{{{name}}}", str(_pointer(answer.json(), expression)))
    if "requestBody" in link:
        body = {k: _pointer(answer.json(), v) for k, v in link["requestBody"].items()}
    return await api.request(method, path, json=body)


async def test_the_links_lead_from_a_deployment_to_its_vpc_peerings_and_resources_and_back(
    sandbox: Sandbox, api: httpx.AsyncClient
) -> None:
    created = await api.post(
        f"{API}/deployments",
        json={"deploymentName": "factory", "region": REGION, "cidr": "10.200.0.0/16"},
    )
    assert created.status_code == 201
    for target in ("getDeployment", "getDeploymentVpc", "listDeploymentPeerings"):
        assert (await follow(api, created, target)).status_code == 200, target
    resource = await follow(
        api,
        created,
        "createResource",
        {"name": "orders-db", "type": "postgresql", "host": "10.200.1.10", "port": 5432},
    )
    assert resource.status_code == 201
    listed = await follow(api, created, "listDeploymentResources")
    assert [r["resourceID"] for r in listed.json()] == [resource.json()["resourceID"]]
    assert (await follow(api, listed, "deleteResource")).status_code == 204

    vpc = await follow(api, created, "getDeploymentVpc")
    assert (await follow(api, vpc, "getDeployment")).json() == created.json()
    async with sandbox.customer_gateway() as customer:
        mine = await build_customer_vpc(customer, "prod-data", REGION, "172.20.0.0/16")
        pcx = await customer.create_peering(
            REGION,
            vpc_id=mine.vpc_id,
            peer_vpc_id=vpc.json()["vpcId"],
            peer_owner_id=vpc.json()["accountId"],
        )
    confirmed = await follow(
        api,
        created,
        "confirmPeering",
        {"peeringId": pcx.id, "accountId": CUSTOMER_ACCOUNT_ID, "vpcId": mine.vpc_id},
    )
    assert confirmed.status_code == 202
    assert (await follow(api, confirmed, "getPeering")).json()["peeringId"] == pcx.id
    async with sandbox.client() as client:
        await wait_for_platform(client, created.json()["deploymentID"], pcx.id)
    running = await follow(api, await api.get(f"{API}/peerings"), "getPeering")
    assert running.json()["status"] == PlatformStatus.RUNNING.value
    deleting = await follow(api, running, "deletePeering")
    assert deleting.status_code == 202
    after = await follow(api, deleting, "getPeering")
    assert after.status_code in (200, 404)


async def test_the_links_lead_from_a_tenant_to_a_key_for_it_and_its_revocation(
    api: httpx.AsyncClient,
) -> None:
    tenant = await api.post(f"{API}/tenants", json={"tenantName": "acme"})
    assert tenant.status_code == 201
    key = await follow(api, tenant, "createKey")
    assert key.status_code == 201
    assert key.json()["tenantId"] == tenant.json()["tenantId"] and key.json()["role"] == "viewer"
    revoked = await follow(api, key, "revokeKey")
    assert revoked.status_code == 200 and revoked.json()["keyId"] == key.json()["keyId"]


# --- what schemathesis found, each reproduced --------------------------------------------


async def test_an_unpaired_surrogate_in_any_name_or_tenant_id_is_refused_not_a_500(
    api: httpx.AsyncClient,
) -> None:
    """JSON can carry one (``"\\ud800"``); Python reads it into a str no database takes: a
    tenantId holding one reached SQLite and broke the connection (schemathesis' stateful 500)."""

    async def post(path: str, body: dict[str, Any]) -> httpx.Response:
        # json.dumps escapes the surrogate as JSON does; httpx would refuse to encode it.
        content = json.dumps(body)
        return await api.post(path, content=content, headers={"content-type": "application/json"})

    deployment = {"deploymentName": "edge", "region": REGION, "cidr": "10.0.0.0/16"}
    for bad in ("edge\ud800", "\udfff", "a\ud83d"):
        for field in ("deploymentName", "projectName", "tenantId"):
            answer = await post(f"{API}/deployments", {**deployment, field: bad})
            assert field in refusal(answer, 400, "INVALID_ARGUMENT")
        answer = await post(f"{API}/keys", {"tenantId": bad, "role": "viewer"})
        assert "tenantId" in refusal(answer, 400, "INVALID_ARGUMENT")
        answer = await post(f"{API}/tenants", {"tenantName": bad})
        assert "tenantName" in refusal(answer, 400, "INVALID_ARGUMENT")
    await nothing_recorded(api)
    assert [t["tenantName"] for t in (await api.get(f"{API}/tenants")).json()] == ["default"]


async def test_a_region_shaped_name_aws_does_not_have_is_not_in_the_document_and_refused(
    api: httpx.AsyncClient,
) -> None:
    schema = openapi_document()["components"]["schemas"]["CreateDeploymentRequest"]
    regions = schema["properties"]["region"]["enum"]
    assert set(regions) == set(ec2_regions()) and "aa-a-0" not in regions
    assert REGION in regions and "cn-north-1" not in regions  # another partition's
    for region in ("aa-a-0", "cn-north-1"):
        response = await api.post(
            f"{API}/deployments",
            json={"deploymentName": "edge", "region": region, "cidr": "10.0.0.0/16"},
        )
        assert region in refusal(response, 400, "INVALID_ARGUMENT")
    await nothing_recorded(api)


async def test_a_port_written_402_0_is_the_integer_402_and_402_5_is_refused(
    api: httpx.AsyncClient,
) -> None:
    schema = openapi_document()["components"]["schemas"]["CreateResourceRequest"]
    assert schema["properties"]["port"]["type"] == "integer"
    deployment = (
        await api.post(
            f"{API}/deployments",
            json={"deploymentName": "edge", "region": REGION, "cidr": "10.0.0.0/16"},
        )
    ).json()["deploymentID"]
    resources = f"{API}/deployments/{deployment}/resources"
    for port in (402.5, "402", True, 0.0, 65536.0):
        body = {"name": "db", "type": "postgresql", "host": "10.0.0.5", "port": port}
        assert "port" in refusal(await api.post(resources, json=body), 400, "INVALID_ARGUMENT")
    assert (await api.get(resources)).json() == []

    body = {"name": "db", "type": "postgresql", "host": "10.0.0.5", "port": 402.0}
    created = await api.post(resources, json=body)
    assert created.status_code == 201 and created.json()["port"] == 402
    assert [r["port"] for r in (await api.get(resources)).json()] == [402]


async def test_every_refusal_of_a_confirmation_carries_a_code_its_document_lists(
    sandbox: Sandbox, api: httpx.AsyncClient
) -> None:
    """The platform's rules answer 422 with a code the document lists for that status (the
    ``api`` fixture checks each answer against the document as well)."""
    confirm = openapi_document()["paths"][f"{API}/deployments/{{deployment_id}}/peerings"]["post"]
    listed = confirm["responses"]["422"]["content"]["application/json"]["schema"]
    documented = set(listed["allOf"][1]["properties"]["code"]["enum"])
    assert {
        "PEERING_NOT_FOUND",
        "PEERING_WRONG_ACCEPTER",
        "PEERING_REQUESTER_MISMATCH",
        "PEERING_NOT_PENDING",
        "REGION_MISMATCH",
        "CIDR_RESERVED",
        "CIDR_OVERLAP",
    } <= documented

    deployment, pcx = await a_deployment_and_a_confirmed_peering(sandbox)
    peerings = f"{API}/deployments/{deployment}/peerings"
    vpc = (await api.get(f"{API}/deployments/{deployment}/vpc")).json()
    async with sandbox.customer_gateway() as customer:
        # The deployment's own CIDR (10.200.0.0/16) on the customer's side.
        clash = await build_customer_vpc(customer, "clash", REGION, "10.200.0.0/16")
        overlapping = await customer.create_peering(
            REGION, vpc_id=clash.vpc_id, peer_vpc_id=vpc["vpcId"], peer_owner_id=vpc["accountId"]
        )
    nowhere = {"accountId": CUSTOMER_ACCOUNT_ID, "vpcId": clash.vpc_id}
    refused = {
        "PEERING_NOT_FOUND": await api.post(
            peerings, json={"peeringId": "pcx-0123456789abcdef0", **nowhere}
        ),
        "CIDR_OVERLAP": await api.post(peerings, json={"peeringId": overlapping.id, **nowhere}),
    }
    for code, answer in refused.items():
        refusal(answer, 422, code)
        assert code in documented and conforming(answer) == []
    async with sandbox.client() as client:
        assert [p.peering_id for p in await client.all_peerings()] == [pcx]


def test_the_stateful_tester_reaches_peerings_through_links_not_made_up_ids() -> None:
    """What made schemathesis' stateful phase answer 404 again and again: the document had no
    link from a deployment to its peerings. Every operation on one deployment or peering is
    now the target of a link from the answers that name it."""
    links = {
        (source["operationId"], status): set(response.get("links", {}))
        for item in openapi_document()["paths"].values()
        for source in item.values()
        for status, response in source["responses"].items()
    }
    assert {
        "getDeploymentVpc",
        "listDeploymentPeerings",
        "confirmPeering",
        "listDeploymentResources",
        "createResource",
    } <= links[("createDeployment", "201")]
    assert {"getPeering", "deletePeering"} <= links[("confirmPeering", "202")]
    assert {"getPeering", "deletePeering"} <= links[("listPeerings", "200")]
    assert "createKey" in links[("createTenant", "201")]
    assert "revokeKey" in links[("createKey", "201")]
    targets = {target for found in links.values() for target in found}
    with_ids = {
        operation["operationId"]
        for path, item in openapi_document()["paths"].items()
        if "{" in path
        for operation in item.values()
    }
    assert with_ids <= targets, with_ids - targets


def test_every_refusal_the_server_writes_is_in_the_table_the_document_is_made_from() -> None:
    """A refusal raised with a status and code of its own would be missing from the document:
    every one in the platform's source is a row of ``errors.REFUSALS``."""
    table = {(r.status, r.code) for r in REFUSALS}
    written = set()
    for source in (ROOT / "peering_core" / "platform").glob("*.py"):
        text = " ".join(source.read_text().split())
        written |= {(int(s), c) for s, c in re.findall(r'\b([1-5]\d\d), "([A-Z_]+)"', text)}
    assert written, "the search finds nothing: it is out of date"
    assert written <= table, written - table


async def test_if_none_match_star_is_no_304_for_a_malformed_or_missing_path(
    api: httpx.AsyncClient,
) -> None:
    """A long schemathesis run found a 304 for a pcx id the document calls invalid: ``*`` holds
    only where a representation exists, so the refusal comes first."""
    deployment = (
        await api.post(
            f"{API}/deployments",
            json={"deploymentName": "edge", "region": REGION, "cidr": "10.0.0.0/16"},
        )
    ).json()["deploymentID"]
    star = {"If-None-Match": "*"}
    malformed = await api.get(f"{API}/deployments/{deployment}/peerings/pcx-nope", headers=star)
    assert "pcx-nope" in refusal(malformed, 400, "INVALID_ARGUMENT")
    missing = await api.get(f"{API}/deployments/d0nosuch", headers=star)
    refusal(missing, 404, "DEPLOYMENT_NOT_FOUND")
    unknown_pcx = await api.get(
        f"{API}/deployments/{deployment}/peerings/pcx-0123456789abcdef0", headers=star
    )
    refusal(unknown_pcx, 404, "PEERING_NOT_FOUND")

    found = await api.get(f"{API}/deployments/{deployment}", headers=star)
    assert found.status_code == 304 and found.headers["etag"]
    fresh = await api.get(f"{API}/deployments/{deployment}")
    again = await api.get(f"{API}/deployments", headers={"If-None-Match": fresh.headers["etag"]})
    assert again.status_code == 304


async def test_a_cidr_the_pattern_refuses_is_refused_by_the_server_too(
    api: httpx.AsyncClient,
) -> None:
    """Python reads a netmask or a zero-padded prefix as a CIDR; the document's pattern does
    not, so the server takes the one spelling the document allows."""
    schema = openapi_document()["components"]["schemas"]["CreateDeploymentRequest"]
    pattern = re.compile(schema["properties"]["cidr"]["pattern"])
    for cidr in ("10.0.0.0/016", "10.0.0.0/255.255.0.0", "10.0.0.0/0.0.255.255"):
        assert not pattern.match(cidr)
        answer = await api.post(
            f"{API}/deployments", json={"deploymentName": "edge", "region": REGION, "cidr": cidr}
        )
        assert "10.0.0.0/16" in refusal(answer, 400, "INVALID_ARGUMENT")
    await nothing_recorded(api)
    assert pattern.match("10.0.0.0/16")

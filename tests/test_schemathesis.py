"""The platform API against its own OpenAPI document, by schemathesis, as an outside tool runs it.

``st run`` (schemathesis 4, the project's ``schemathesis.toml``) goes over every operation of
``GET /openapi.json`` with every check — status codes, content types, response schemas and
headers, positive data accepted, negative data refused, authentication enforced, unsupported
methods answered 405 with ``Allow`` — in every phase: examples, coverage, fuzzing, and
stateful runs that follow the document's links (a created deployment to its VPC, peerings and
resources; a peering to its GET, DELETE and retry; a tenant to its keys). It runs on a fresh
platform holding a deployment and a confirmed, running peering, on SQLite and on PostgreSQL,
and must find nothing. ``make test`` runs a short, seeded round; ``make test-all`` a long one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from peering_core.sandbox.servers import Sandbox

from .contract import SchemathesisRun, a_deployment_and_a_confirmed_peering, run_schemathesis

SEED = 18
# The fuzzer is one client on one address by design: hundreds of requests a minute, many of them
# deliberately without credentials (to check they are refused), which the platform's budgets
# would otherwise answer with 429.
UNTHROTTLED = {"requests_per_minute": 1_000_000, "failed_logins_per_minute": 1_000_000}


@pytest.fixture(params=["sqlite", "postgresql"])
def used_platform(
    request: pytest.FixtureRequest, start_sandbox: Callable[..., Sandbox]
) -> tuple[Sandbox, str, str]:
    """A fresh platform (on each backend) with one deployment and one running peering."""
    db = request.getfixturevalue("new_database")() if request.param == "postgresql" else None
    box = start_sandbox(db_path=db, **UNTHROTTLED)
    deployment, pcx = asyncio.run(a_deployment_and_a_confirmed_peering(box))
    return box, deployment, pcx


def assert_nothing_found(run: SchemathesisRun) -> None:
    assert run.exit_code == 0 and not run.findings, run.summary()


def assert_the_life_cycle_was_walked(run: SchemathesisRun) -> None:
    """The links took the stateful runs from the lists and the deployments to the recorded
    peering (read, deleted or refused a retry: never a 404 for an id made up), and from a
    created resource and key to their deletion."""
    peering = "/api/v1/deployments/{deployment_id}/peerings/{peering_id}"
    reached = (
        run.answered.get(f"GET {peering}", set()) & {200}
        | run.answered.get(f"DELETE {peering}", set()) & {202}
        | run.answered.get(f"POST {peering}/retry", set()) & {409}
    )
    assert reached, run.answered
    resource = "/api/v1/deployments/{deployment_id}/resources/{resource_id}"
    assert 204 in run.answered.get(f"DELETE {resource}", set()), run.answered
    assert 200 in run.answered.get("DELETE /api/v1/keys/{key_id}", set()), run.answered


@pytest.mark.heavy
def test_schemathesis_finds_nothing_on_a_platform_with_a_deployment_and_a_running_peering(
    used_platform: tuple[Sandbox, str, str], tmp_path: Path
) -> None:
    box, deployment, pcx = used_platform
    known = {"deployment_id": deployment, "peering_id": pcx}
    run = run_schemathesis(box, examples=5, scenarios=40, seed=SEED, workdir=tmp_path, known=known)
    assert_nothing_found(run)
    assert_the_life_cycle_was_walked(run)


@pytest.mark.slow
def test_a_long_schemathesis_run_finds_nothing_either(
    used_platform: tuple[Sandbox, str, str], tmp_path: Path
) -> None:
    box, deployment, pcx = used_platform
    known = {"deployment_id": deployment, "peering_id": pcx}
    run = run_schemathesis(
        box, examples=200, scenarios=1000, seed=SEED + 1, workdir=tmp_path, known=known
    )
    assert_nothing_found(run)
    assert_the_life_cycle_was_walked(run)

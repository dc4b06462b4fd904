"""The platform API held to its own document: schemathesis run as an outside tool runs it, and
a validator for the answers the other tests receive.

``run_schemathesis`` starts ``st run`` (the command line, with the project's
``schemathesis.toml``: every check, positive and negative data, every phase, stateful runs
along the document's links) against a running platform, and returns what it reported.
``conforming`` checks one answer against the operation it came from: a status the operation
documents, its content type, its body's schema (an error's ``code`` from the operation's enum)
and the headers it requires.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema

from peering_core.models import PlatformStatus
from peering_core.sandbox.seed import CUSTOMER_ACCOUNT_ID, build_customer_vpc, wait_for_platform
from peering_core.sandbox.servers import Sandbox

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "schemathesis.toml"
# Every finding schemathesis reports is named by one of these codes in its output.
_FINDING = re.compile(r"^- (ST\d{3}) (.+)$", re.MULTILINE)


async def a_deployment_and_a_confirmed_peering(box: Sandbox) -> tuple[str, str]:
    """One deployment and one running peering with a customer VPC: what a fresh platform
    holds once a customer has used it. The deployment id and the pcx id."""
    async with box.client() as client, box.customer_gateway() as customer:
        deployment = await client.create_deployment("factory", box.region, "10.200.0.0/16")
        vpc = await build_customer_vpc(customer, "prod-data", box.region, "172.20.0.0/16")
        info = await client.deployment_vpc(deployment.id)
        pcx = await customer.create_peering(
            box.region, vpc_id=vpc.vpc_id, peer_vpc_id=info.vpc_id, peer_owner_id=info.account_id
        )
        await client.confirm_peering(deployment.id, pcx.id, CUSTOMER_ACCOUNT_ID, vpc.vpc_id)
        async with asyncio.timeout(30):
            record = await wait_for_platform(client, deployment.id, pcx.id)
        assert record.status is PlatformStatus.RUNNING, record.reason
    return deployment.id, pcx.id


@dataclass
class SchemathesisRun:
    """What ``st run`` printed and made of it."""

    exit_code: int
    output: str
    findings: dict[str, int]  # "ST202 Schema-valid request rejected" → how many
    answered: dict[str, set[int]]  # "GET /api/v1/…" → the statuses the platform gave it

    def summary(self) -> str:
        """The report from its failures on: each finding with its curl, warnings, totals."""
        start = self.output.find("= FAILURES =")
        return self.output[start if start >= 0 else 0 :][-30000:]


def run_schemathesis(
    box: Sandbox,
    *,
    examples: int,
    scenarios: int,
    seed: int,
    workdir: Path,
    known: dict[str, str] | None = None,
) -> SchemathesisRun:
    """``st run`` over the whole document of ``box``'s platform, with the project's
    configuration, ``examples`` per operation in the fuzzing phase and ``scenarios`` in the
    stateful one (the coverage phase makes what the schema calls for); blocking. ``known``
    path parameters (``deployment_id`` → an id that exists) are used in half the generated
    requests, so the phases without links reach real records too."""
    har = workdir / "requests.har"
    config = workdir / "schemathesis.toml"
    dictionaries = "".join(
        f'\n[dictionaries.{name}]\nvalues = ["{value}"]\n' for name, value in (known or {}).items()
    )
    bindings = "".join(
        f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}\n'
        for name in (known or {})
    )
    config.write_text(
        # Top-level keys before the file's first table.
        (f"[parameters]\n{bindings}\n" if bindings else "")
        + CONFIG.read_text()
        + dictionaries
        + f"\n[phases.fuzzing.generation]\nmax-examples = {examples}\n"
        + f"\n[phases.stateful.generation]\nmax-examples = {scenarios}\n"
    )
    command = [
        str(Path(sys.executable).parent / "st"),
        "--config-file",
        str(config),
        "run",
        f"{box.platform_url}/openapi.json",
        "--auth",
        f"{box.key}:{box.secret.get_secret_value()}",
        "--seed",
        str(seed),
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "har",
        "--report-har-path",
        str(har),
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=1800,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")},
    )
    output = done.stdout + done.stderr
    (workdir / "schemathesis.out").write_text(output)
    findings: dict[str, int] = {}
    for code, name in _FINDING.findall(output):
        findings[f"{code} {name.strip()}"] = findings.get(f"{code} {name.strip()}", 0) + 1
    return SchemathesisRun(done.returncode, output, findings, _answered(har, box.platform_url))


def _answered(har: Path, base: str) -> dict[str, set[int]]:
    """Per operation (method and path template), the statuses seen in the run's HAR file."""
    if not har.exists():
        return {}
    templates = [(_template(path), path) for path in _paths()]
    seen: dict[str, set[int]] = {}
    for entry in json.loads(har.read_text())["log"]["entries"]:
        url = entry["request"]["url"].removeprefix(base).split("?", 1)[0]
        for pattern, path in templates:
            if pattern.match(url):
                key = f"{entry['request']['method']} {path}"
                seen.setdefault(key, set()).add(entry["response"]["status"])
                break
    return seen


def _template(path: str) -> re.Pattern[str]:
    """A document path (``/deployments/{deployment_id}``) as a pattern of the URLs it names."""
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")


def _paths() -> list[str]:
    # Longest first: /deployments/{id}/peerings before /deployments/{id}.
    return sorted(openapi_document()["paths"], key=len, reverse=True)


_DOCUMENT: dict[str, Any] = {}


def openapi_document() -> dict[str, Any]:
    """The platform's document, as the server builds it (no server needed)."""
    if not _DOCUMENT:
        from peering_core.platform.server import openapi_document as build

        _DOCUMENT.update(build())
    return _DOCUMENT


# --- one answer against the document --------------------------------------------------------


def documented_operation(method: str, url_path: str) -> tuple[str, dict[str, Any]] | None:
    doc = openapi_document()
    for path in _paths():
        if _template(path).match(url_path):
            operation = doc["paths"][path].get(method.lower())
            return (path, operation) if operation is not None else None
    return None


def conforming(response: httpx.Response) -> list[str]:
    """What is wrong with ``response`` by the document (nothing: ``[]``). An answer to a
    method or path the document does not have (405, 404 ``NOT_FOUND``) is not checked."""
    request = response.request
    method = "GET" if request.method == "HEAD" else request.method
    found = documented_operation(method, request.url.path)
    if found is None:
        return []
    path, operation = found
    label = f"{request.method} {path}"
    declared = operation["responses"].get(str(response.status_code))
    if declared is None:
        return [f"{label}: status {response.status_code} is not documented ({response.text!r})"]
    problems = [
        f"{label}: {response.status_code} without its {name} header"
        for name, header in declared.get("headers", {}).items()
        if header.get("required") and name.lower() not in response.headers
    ]
    content = declared.get("content", {})
    if not content or request.method == "HEAD":
        return problems
    if not response.headers.get("content-type", "").startswith("application/json"):
        return [*problems, f"{label}: {response.status_code} is not JSON"]
    schema = {
        **content["application/json"]["schema"],
        "components": openapi_document()["components"],
    }
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for error in validator.iter_errors(response.json()):
        problems.append(f"{label}: {response.status_code} body: {error.message}")
    return problems


def check_every_answer(response: httpx.Response) -> None:
    """An httpx response hook: fail the test at an answer the document does not describe."""
    problems = conforming(response)
    assert not problems, "\n".join(problems)


async def check_every_answer_async(response: httpx.Response) -> None:
    await response.aread()
    check_every_answer(response)

"""Fixtures for the dashboard's tests.

Seeding the demo story takes seconds, so the tests that only look (and the refusals, which
change nothing) share one seeded sandbox per module (``demo_fleet``); tests that change
either side take a fresh one each (``seeded``, on the shared ``sandbox`` fixture). A module
uses one or the other, never both: starting a sandbox resets the shared moto server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from peering_core.sandbox.seed import SeedReport
from peering_core.sandbox.servers import MotoServer, Sandbox


@dataclass
class DemoFleet:
    sandbox: Sandbox
    report: SeedReport

    def pcx(self, name: str) -> str:
        """The pcx id of a seeded peering, by ``"vpc->deployment"``."""
        return self.report.peerings[name]

    def deployment_id(self, name: str) -> str:
        return self.report.deployments[name].id


@pytest.fixture(scope="module")
def demo_fleet(moto_server: MotoServer) -> Iterator[DemoFleet]:
    """One seeded sandbox for a whole module of tests that change nothing."""
    box = Sandbox.start(moto=moto_server, accept_delay=0.0)
    try:
        report = asyncio.run(box.seed())
        yield DemoFleet(box, report)
    finally:
        box.stop()


@pytest.fixture
async def seeded(sandbox: Sandbox) -> SeedReport:
    """A fresh sandbox with the demo story, for a test that changes it."""
    return await sandbox.seed()


@pytest.fixture(autouse=True)
def audit_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where what this test changes is audited (never the operator's own log)."""
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("PEERING_AUDIT_LOG", str(path))
    return path

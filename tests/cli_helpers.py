"""Run the real command line in-process against a sandbox, and read state back."""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from peering_core.cli import main
from peering_core.sandbox.servers import Sandbox

from .state import whole_state


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """``peering-tui …`` with the sandbox's exports in the environment."""

    def __init__(
        self, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.sandbox = sandbox
        self.capsys = capsys
        for name, value in sandbox.environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("PEERING_CONFIG", "/nonexistent/peering-tui.toml")
        self.audit_log = Path(tempfile.mkdtemp(prefix="peering-audit-")) / "audit.jsonl"
        monkeypatch.setenv("PEERING_AUDIT_LOG", str(self.audit_log))
        monkeypatch.delenv("PEERING_READ_ONLY", raising=False)

    def __call__(self, *args: str) -> CliResult:
        self.capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        captured = self.capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    def state(self) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            async with (
                self.sandbox.client() as client,
                self.sandbox.customer_gateway() as customer,
                self.sandbox.platform_gateway() as platform_ec2,
            ):
                return await whole_state(client, customer, platform_ec2)

        return asyncio.run(read())

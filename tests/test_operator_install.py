"""An operator's install: the command line and the dashboard load no server code.

The server stack (FastAPI, uvicorn, moto) is an extra (``peering-tui[platform]``,
``peering-tui[sandbox]``); a configured command must run without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from peering_core.sandbox.servers import Sandbox

SERVER_CODE = ("fastapi", "starlette", "uvicorn", "moto")
# What `ls` has no use for: the other commands' modules, the workflows, the UI.
NOT_FOR_LS = (
    "peering_core.cli.create_delete",
    "peering_core.cli.diff_fix",
    "peering_core.cli.watch",
    "peering_core.create",
    "peering_core.delete",
    "peering_core.changes",
    "textual",
    "tui",
)
PROBE = f"""
import json, sys
from peering_core.cli import main
code = main(sys.argv[1:])
loaded = sorted(
    m for m in sys.modules
    if m.split(".")[0] in {SERVER_CODE!r}
    or m.partition(".")[2].split(".")[0] in ("platform", "sandbox") and m.startswith("peering_core")
)
unused = sorted(m for m in {NOT_FOR_LS!r} if m in sys.modules)
print(json.dumps({{"code": code, "loaded": loaded, "unused": unused}}), file=sys.stderr)
"""


def run_probe(sandbox: Sandbox, *args: str) -> dict[str, object]:
    env = os.environ | sandbox.environment()
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_a_configured_command_line_loads_no_server_code(sandbox: Sandbox, estate):
    for args in (["ls", "--json"], ["diff", "--all", "--json"]):
        found = run_probe(sandbox, *args)
        assert found["code"] == 0 and found["loaded"] == [], args
        if args[0] == "ls":
            assert found["unused"] == [], "ls imports only what it uses"

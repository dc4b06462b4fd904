"""``peering-tui platform serve`` as a process of its own, as an operator runs it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent


def serve_environment(aws_endpoint: str, key: str, secret: str) -> dict[str, str]:
    """This process's environment without its AWS and platform settings, plus the admin's
    credentials and the platform account's on the moto server at ``aws_endpoint``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PEERING_"))}
    env.update(
        PEERING_PLATFORM_KEY=key,
        PEERING_PLATFORM_SECRET=secret,
        AWS_ENDPOINT_URL=aws_endpoint,
        AWS_ACCESS_KEY_ID="sandbox-platform",
        AWS_SECRET_ACCESS_KEY="sandbox-platform",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


@contextlib.asynccontextmanager
async def platform_process(
    args: Sequence[str],
    *,
    env: dict[str, str],
    log: Path,
    url: str,
    verify: ssl.SSLContext | bool = True,
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """``peering-tui platform serve ARGS`` logging to ``log``, once ``url``/healthz answers;
    terminated (then killed) on exit."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(BIN / "peering-tui"), "platform", "serve", *args],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        async with httpx.AsyncClient(base_url=url, verify=verify, timeout=2.0) as http:
            for _ in range(300):
                assert process.poll() is None, log.read_text(errors="replace")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                pytest.fail(f"platform did not start:\n{log.read_text(errors='replace')}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

"""The platform on SQLite and on PostgreSQL with 1, 2 and 4 replicas, side by side.

For each setup: a fresh moto server (a process of its own), a fresh store, N ``peering-tui
platform serve`` processes. Untimed, the customer requests ``peerings`` pcxs toward 50
deployments. Timed: every pcx is confirmed (20 at a time, spread over the replicas) and the
clock stops when the platform lists all of them ``running`` — confirms brought to running per
minute. Then 50 pollers ``GET /api/v1/peerings`` at once, spread over the replicas: p50/p99 of
the full body, and of the ``If-None-Match`` poll (304).

Everything shares this machine's cores: moto, PostgreSQL, the replicas and this client.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from peering_core.aws import AwsAccess
from peering_core.platform.ec2 import PlatformEc2
from peering_core.sandbox.seed import CUSTOMER_ACCOUNT_ID, EstateBuilder
from peering_core.sandbox.servers import free_port

from ..platform_process import serve_environment
from ..postgres import PostgresServer
from . import summarize, text_table

REGION = "us-east-1"
KEY, SECRET = "bench", "bench-secret"
DEPLOYMENTS = 50
SETUPS = (("sqlite", 1), ("postgresql", 1), ("postgresql", 2), ("postgresql", 4))
BIN = Path(sys.executable).parent


async def _healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=2) as http:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"{url} exited with {process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


@contextlib.asynccontextmanager
async def _moto() -> AsyncIterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "moto_server"), "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _healthy_moto(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _healthy_moto(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError("moto_server exited")
            with contextlib.suppress(httpx.TransportError):
                await http.get(f"{url}/moto-api/")
                return
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def _replicas(
    count: int, store: list[str], moto_url: str, workdir: Path
) -> AsyncIterator[list[str]]:
    env = serve_environment(moto_url, KEY, SECRET)
    processes, urls = [], []
    for index in range(count):
        port = free_port()
        command = [str(BIN / "peering-tui"), "platform", "serve", "--port", str(port), *store]
        command += ["--audit-log", str(workdir / f"audit-{index}.jsonl")]
        command += ["--requests-per-minute", "0", "--reconcile-seconds", "0"]
        processes.append(
            subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        await asyncio.gather(*(_healthy(u, p) for u, p in zip(urls, processes, strict=True)))
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


async def _requested(moto_url: str, http: httpx.AsyncClient, peerings: int) -> list[dict[str, Any]]:
    """Deployments through the platform, and ``peerings`` pcxs requested toward them."""
    platform_aws = AwsAccess(
        access_key_id="sandbox-platform",
        secret_access_key=SecretStr("sandbox-platform"),
        endpoint_url=moto_url,
    )
    async with PlatformEc2(platform_aws) as sts:
        customer_aws = await sts.assume_role(
            f"arn:aws:iam::{CUSTOMER_ACCOUNT_ID}:role/operator", "bench"
        )
    vpcs = []
    for i in range(DEPLOYMENTS):
        body = {"deploymentName": f"bench-{i}", "region": REGION, "cidr": f"10.{i}.0.0/16"}
        made = (await http.post("/api/v1/deployments", json=body)).json()
        vpcs.append((await http.get(f"/api/v1/deployments/{made['deploymentID']}/vpc")).json())
    asks: list[dict[str, Any]] = []
    async with EstateBuilder(customer_aws) as customer:
        gate = asyncio.Semaphore(10)

        async def one(i: int) -> None:
            info = vpcs[i % DEPLOYMENTS]
            cidr = f"172.{16 + i // 256}.{i % 256}.0/24"
            async with gate:
                vpc = await customer.create_vpc(REGION, cidr, {"Name": f"bench-{i}"})
                pcx = await customer.create_peering(
                    REGION, vpc_id=vpc, peer_vpc_id=info["vpcId"], peer_owner_id=info["accountId"]
                )
            asks.append(
                {
                    "deployment": info["deploymentID"],
                    "body": {"peeringId": pcx.id, "accountId": CUSTOMER_ACCOUNT_ID, "vpcId": vpc},
                }
            )

        await asyncio.gather(*(one(i) for i in range(peerings)))
    return asks


async def _confirm_all(urls: list[str], asks: list[dict[str, Any]]) -> float:
    """Seconds from the first confirm until every peering is running."""
    clients = [
        httpx.AsyncClient(
            base_url=u, auth=(KEY, SECRET), timeout=60, limits=httpx.Limits(max_connections=20)
        )
        for u in urls
    ]
    gate = asyncio.Semaphore(20)
    began = time.perf_counter()

    async def confirm(index: int, ask: dict[str, Any]) -> None:
        async with gate:
            http = clients[index % len(clients)]
            for _ in range(20):
                answer = await http.post(
                    f"/api/v1/deployments/{ask['deployment']}/peerings", json=ask["body"]
                )
                if answer.status_code == 202:
                    return
                await asyncio.sleep(0.5)
            raise RuntimeError(f"confirm refused: {answer.status_code} {answer.text}")

    try:
        await asyncio.gather(*(confirm(i, a) for i, a in enumerate(asks)))
        while True:
            listed = (await clients[0].get("/api/v1/peerings")).json()
            if sum(p["status"] == "running" for p in listed) == len(asks):
                return time.perf_counter() - began
            failed = [p for p in listed if p["status"] == "failed"]
            if failed:
                raise RuntimeError(f"{len(failed)} failed: {failed[0]['reason']}")
            await asyncio.sleep(0.25)
    finally:
        for http in clients:
            await http.aclose()


async def _poll(urls: list[str], pollers: int, each: int, conditional: bool) -> dict[str, Any]:
    clients = [
        httpx.AsyncClient(
            base_url=u, auth=(KEY, SECRET), timeout=60, limits=httpx.Limits(max_connections=60)
        )
        for u in urls
    ]
    seconds: list[float] = []
    try:
        tag = (await clients[0].get("/api/v1/peerings")).headers["etag"]

        async def poller(index: int) -> None:
            http = clients[index % len(clients)]
            headers = {"If-None-Match": tag} if conditional else {}
            for _ in range(each):
                began = time.perf_counter()
                answer = await http.get("/api/v1/peerings", headers=headers)
                seconds.append(time.perf_counter() - began)
                assert answer.status_code == (304 if conditional else 200), answer.status_code

        await asyncio.gather(*(poller(i) for i in range(pollers)))
    finally:
        for http in clients:
            await http.aclose()
    return summarize(seconds)


async def _one_setup(
    backend: str, count: int, postgres: PostgresServer, peerings: int, pollers: int, each: int
) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    if backend == "sqlite":
        store = ["--db", str(workdir / "platform.sqlite3")]
    else:
        store = ["--database-url", postgres.create_database(f"bench_{backend}_{count}")]
    async with _moto() as moto_url, _replicas(count, store, moto_url, workdir) as urls:
        async with httpx.AsyncClient(base_url=urls[0], auth=(KEY, SECRET), timeout=60) as http:
            asks = await _requested(moto_url, http, peerings)
        took = await _confirm_all(urls, asks)
        full = await _poll(urls, pollers, each, conditional=False)
        cached = await _poll(urls, pollers, each, conditional=True)
    return {
        "backend": backend,
        "replicas": count,
        "peerings": peerings,
        "confirm_to_running_s": took,
        "running_per_minute": peerings / took * 60,
        "pollers": pollers,
        "full": full,
        "not_modified": cached,
    }


def run_replicas(peerings: int = 1000, pollers: int = 50, each: int = 10) -> dict[str, Any]:
    postgres = PostgresServer().start()
    try:
        results = [
            asyncio.run(_one_setup(backend, count, postgres, peerings, pollers, each))
            for backend, count in SETUPS
        ]
    finally:
        postgres.stop()
    return {"setups": results}


def replicas_table(result: dict[str, Any]) -> str:
    rows = [
        ("store", "replicas", "to running / min", "GET p50 / p99 (200)", "p50 / p99 (304)"),
    ]
    for r in result["setups"]:
        rows.append(
            (
                r["backend"],
                str(r["replicas"]),
                f"{r['running_per_minute']:.0f}",
                f"{r['full']['p50_ms']:.0f} / {r['full']['p99_ms']:.0f} ms",
                f"{r['not_modified']['p50_ms']:.1f} / {r['not_modified']['p99_ms']:.1f} ms",
            )
        )
    first = result["setups"][0]
    return text_table(
        f"the platform's store and replicas, {first['peerings']} peerings",
        rows,
        f"{first['pollers']} concurrent pollers; confirms 20 at a time over the replicas",
    )

"""A fault-injecting HTTP proxy, in front of the real moto server or the real platform.

Real parts cannot be asked to throttle, fail or hang on cue; this proxy forwards every request
to them unchanged except a chosen fraction, which it answers itself with the fault an operator
meets in production: AWS throttling (``RequestLimitExceeded`` / ``Throttling`` with 503), 500s,
connection resets, slow replies; for the platform, 429 with ``Retry-After`` and 503.

``lose_rate`` is the other kind of fault: the request is forwarded, the real server acts on it,
and its answer is dropped (the connection closes before the response): the client cannot tell
whether anything happened. ``lost`` counts those by what was asked (EC2's ``Action``, or the
platform's method and path).

:meth:`FaultProxy.lane` gives a URL of its own (a path prefix the proxy strips) with a fault
sequence of its own, so several clients can run side by side, each under its own seed.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx
import uvicorn

from peering_core.sandbox.servers import free_socket as _free_socket

AWS_FAULTS = ("throttle", "error500", "reset", "slow")
PLATFORM_FAULTS = ("429", "503", "reset", "slow")

_EC2_THROTTLE = (
    "<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error>"
    "<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
    "</Error></Errors><RequestID>fault-proxy</RequestID></Response>"
)
_STS_THROTTLE = (
    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
    "<Message>Rate exceeded</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
)
_EC2_500 = (
    "<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error>"
    "<Code>InternalError</Code><Message>An internal error has occurred</Message>"
    "</Error></Errors><RequestID>fault-proxy</RequestID></Response>"
)
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


_LANE = re.compile(r"^/lane-(\d+)")


def _asked(scope: dict[str, Any], body: bytes) -> str:
    """What a request asks: EC2's ``Action`` from a query body, else method and path."""
    action = re.search(rb"(?:^|&)Action=([A-Za-z]+)", body)
    if action:
        return action.group(1).decode()
    return f"{scope['method']} {scope['path']}"


class ResetConnection(Exception):
    """Raised after the response has started, so the server drops the connection."""


class FaultProxy:
    """Forward to ``upstream``; answer ``rate`` of the requests with one of ``faults``."""

    def __init__(
        self,
        upstream: str,
        *,
        faults: Sequence[str] = AWS_FAULTS,
        rate: float = 0.0,
        seed: int = 0,
        slow_seconds: float = 0.3,
        retry_after: int = 1,
        lose_rate: float = 0.0,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults = tuple(faults)
        self.rate = rate
        self.lose_rate = lose_rate
        self.lost: Counter[str] = Counter()
        self._to_lose: Counter[str] = Counter()
        self.slow_seconds = slow_seconds
        self.retry_after = retry_after
        self.injected: Counter[str] = Counter()
        self.forwarded = 0
        # EC2 action -> error code it is always refused with (a permanent, client-side error).
        self.refusals: dict[str, str] = {}
        self._random = random.Random(seed)
        self._lanes: dict[str, random.Random] = {}
        self._lock = threading.Lock()
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._upstream_client: httpx.AsyncClient | None = None

    def refuse(self, action: str, code: str) -> None:
        """Answer every EC2 ``action`` with the error ``code`` (400), as AWS refuses a call."""
        with self._lock:
            self.refusals[action] = code

    def allow(self, action: str) -> None:
        """Forward EC2 ``action`` again."""
        with self._lock:
            self.refusals.pop(action, None)

    def _refusal(self, body: bytes) -> str | None:
        with self._lock:
            for action, code in self.refusals.items():
                if f"Action={action}&".encode() in body + b"&":
                    return code
        return None

    def set_rate(self, rate: float, lose_rate: float | None = None) -> None:
        with self._lock:
            self.rate = rate
            if lose_rate is not None:
                self.lose_rate = lose_rate

    def lose_next(self, asked: str, count: int = 1) -> None:
        """Drop the answer of the next ``count`` requests that ask ``asked`` (an EC2 action,
        or ``"POST /api/v1/…"``), after forwarding them."""
        with self._lock:
            self._to_lose[asked] += count

    def _planned(self, asked: str) -> bool:
        with self._lock:
            if self._to_lose[asked] <= 0:
                return False
            self._to_lose[asked] -= 1
            return True

    def lane(self, seed: int) -> str:
        """A URL through this proxy whose faults follow ``seed`` alone."""
        with self._lock:
            self._lanes.setdefault(str(seed), random.Random(seed))
        return f"{self.url}/lane-{seed}"

    def _draw(self, lane: str | None) -> str | None:
        with self._lock:
            dice = self._random if lane is None else self._lanes[lane]
            draw = dice.random()
            if draw < self.lose_rate:
                return "lost"
            if draw >= self.lose_rate + self.rate:
                return None
            return dice.choice(self.faults)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self._upstream_client is not None:
                        await self._upstream_client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        lane = _LANE.match(scope["path"])
        if lane is not None:
            scope = dict(scope, path=scope["path"][lane.end() :] or "/")
        refused = self._refusal(body)
        if refused is not None:
            self.injected[f"refused:{refused}"] += 1
            payload = _EC2_500.replace("InternalError", refused)
            headers = [(b"content-type", b"text/xml")]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": payload.encode()})
            return
        asked = _asked(scope, body)
        fault = "lost" if self._planned(asked) else self._draw(lane.group(1) if lane else None)
        if fault is not None:
            self.injected[fault] += 1
        if fault == "lost":
            self.lost[asked] += 1
            await self._forward(scope, body, send, lose=True)
            return
        if fault == "slow":
            await asyncio.sleep(self.slow_seconds)
        elif fault is not None:
            await self._inject(fault, body, send)
            return
        await self._forward(scope, body, send)

    async def _inject(self, fault: str, body: bytes, send: Any) -> None:
        if fault == "reset":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise ResetConnection("fault proxy drops the connection")
        headers: list[tuple[bytes, bytes]] = []
        if fault == "throttle":
            status, payload = (
                503,
                (
                    _STS_THROTTLE
                    if b"Action=GetCallerIdentity" in body or b"Action=AssumeRole" in body
                    else _EC2_THROTTLE
                ),
            )
            headers.append((b"content-type", b"text/xml"))
        elif fault == "error500":
            status, payload = 500, _EC2_500
            headers.append((b"content-type", b"text/xml"))
        elif fault == "429":
            status = 429
            payload = '{"code":"RATE_LIMITED","message":"fault proxy: slow down"}'
            headers += [
                (b"content-type", b"application/json"),
                (b"retry-after", str(self.retry_after).encode()),
            ]
        else:  # "503"
            status = 503
            payload = '{"code":"UNAVAILABLE","message":"fault proxy: unavailable"}'
            headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload.encode()})

    async def _forward(
        self, scope: dict[str, Any], body: bytes, send: Any, *, lose: bool = False
    ) -> None:
        path = scope["path"] + (
            ("?" + scope["query_string"].decode()) if scope["query_string"] else ""
        )
        headers = [
            (k.decode(), v.decode())
            for k, v in scope["headers"]
            if k.decode().lower() not in _HOP_HEADERS
        ]
        if self._upstream_client is None:
            # One client for the proxy's life (made in its own event loop): a new one per
            # request would cost more than the request itself.
            self._upstream_client = httpx.AsyncClient(timeout=60)
        response = await self._upstream_client.request(
            scope["method"], self.upstream + path, headers=headers, content=body
        )
        self.forwarded += 1
        if lose:
            # The server acted; its answer never reaches the client.
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise ResetConnection("fault proxy drops the answer")
        out_headers = [
            (k.encode(), v.encode())
            for k, v in response.headers.items()
            if k.lower() not in _HOP_HEADERS and k.lower() != "content-encoding"
        ]
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": out_headers}
        )
        await send({"type": "http.response.body", "body": response.content})

    def start(self) -> FaultProxy:
        sock = _free_socket()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self, log_level="critical", lifespan="on", access_log=False)
        server = uvicorn.Server(config)
        self._server = server

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fault proxy did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

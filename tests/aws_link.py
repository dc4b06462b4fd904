"""A TCP relay in front of a loopback server that a test can hold, cut, or slow down like a WAN.

With the platform's AWS calls held, whatever it does in the background stops at its next EC2
call, so a test can catch a peering in ``deleting`` (or any in-between state) for certain.
Cut, it refuses connections, as an AWS endpoint does when the network to it is down.
With a ``delay``, every chunk is forwarded that long after it arrived, in order, both ways
(a delay line, like ``tc netem delay``): a request/response pays twice ``delay`` of round trip
that loopback cannot produce, and nothing else about the traffic changes.

``python -m tests.aws_link UPSTREAM DELAY_MS`` runs one in a process of its own and prints its
URL (the benchmark's links to moto and the platform, kept off the measured processes' GIL).
"""

from __future__ import annotations

import asyncio
import sys
import time


class AwsLink:
    """Relays loopback TCP to ``upstream`` at ``url``; ``hold``/``release``; ``delay`` seconds."""

    def __init__(self, upstream: str, *, delay: float = 0.0) -> None:
        host, _, port = upstream.removeprefix("http://").partition(":")
        self._upstream = (host, int(port))
        self.delay = delay
        # When the first byte of the first request arrived (``time.perf_counter``).
        self.first_request_at: float | None = None
        self.connections = 0  # accepted so far
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._relays: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> AwsLink:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cut()

    async def cut(self) -> None:
        """AWS unreachable: new connections are refused (nothing listens on the port any
        more) and open ones are dropped, until :meth:`restore`."""
        assert self._server is not None
        self._server.close()
        for relay in list(self._relays):
            relay.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)
        await self._server.wait_closed()

    async def restore(self) -> None:
        """Listen again, on the same port."""
        port = int(self.url.rsplit(":", 1)[1])
        self._server = await asyncio.start_server(
            self._relay, "127.0.0.1", port, reuse_address=True
        )

    def hold(self) -> None:
        """Stop relaying: calls in flight and new ones wait (the caller's timeouts still run)."""
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
            await asyncio.gather(
                self._pipe(reader, up_writer, requests=True),
                self._pipe(up_reader, writer),
                return_exceptions=True,
            )
        except asyncio.CancelledError:
            # The link is closing. Ending quietly: Python 3.11's stream callback asks a
            # cancelled task for its exception and logs the CancelledError it gets.
            pass
        finally:
            writer.close()
            self._relays.discard(task)

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, requests: bool = False
    ) -> None:
        loop = asyncio.get_running_loop()
        # (due time, chunk); an empty chunk is the end of the stream, delayed like the rest.
        line: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await line.get()
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                if not data:
                    return
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()

        delivering = asyncio.create_task(deliver())
        try:
            while data := await source.read(65536):
                if requests and self.first_request_at is None:
                    self.first_request_at = time.perf_counter()
                line.put_nowait((loop.time() + self.delay, data))
            line.put_nowait((loop.time() + self.delay, b""))
            await delivering
        finally:
            delivering.cancel()
            sink.close()


async def _serve(upstream: str, delay_ms: float) -> None:
    async with AwsLink(upstream, delay=delay_ms / 1000) as link:
        print(link.url, flush=True)
        # Until the parent closes our standard input.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], float(sys.argv[2])))

"""Free loopback ports for the sandbox's servers (and the tests' proxies)."""

from __future__ import annotations

import socket


def free_socket(host: str = "127.0.0.1") -> socket.socket:
    """A socket bound to a free port, for a server to listen on."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only then, and
    # without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now, for a server started elsewhere."""
    with free_socket(host) as sock:
        return int(sock.getsockname()[1])

"""moto's server in a process of its own, for a sandbox that must be quick to start.

In the process that serves it, moto's EC2 backend takes over a second to import, and every
request it answers holds that process's interpreter lock. Here it imports and answers on
another core while the platform starts and the dashboard draws. ``python -m
peering_core.sandbox.moto_process PORT`` is the child: it imports EC2's and STS's backends
before it serves, prints ``ready``, and serves until its standard input closes (its parent
ended, however it ended).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence

# Default AMIs (a thousand images per region, made for every account and region moto is
# asked about) are of no use to peerings and cost a tenth of a second each time.
NO_DEFAULT_AMIS = {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}


class MotoProcess:
    """The same surface as :class:`~peering_core.sandbox.servers.MotoServer`: ``url``,
    ``start``, ``stop``, ``reset``; started at once, ready when :meth:`wait_ready` says.

    ``warm``: ``account:region`` pairs whose EC2 backends are made before it says ready (moto
    makes each on its first request, a default VPC and all)."""

    def __init__(self, port: int, warm: Sequence[str] = ()) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.warm = tuple(warm)
        self._process: subprocess.Popen[str] | None = None
        self._ready = False

    def start(self) -> MotoProcess:
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(self.port), *self.warm],
            env=os.environ | NO_DEFAULT_AMIS,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,  # the terminal's ctrl+c is not its to handle
        )
        return self

    def wait_ready(self) -> None:
        """Block until moto answers (it says so on its standard output)."""
        if self._ready:
            return
        assert self._process is not None and self._process.stdout is not None
        if self._process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"moto did not start (exit {self._process.wait(timeout=10)})")
        self._ready = True

    def reset(self) -> None:
        """Forget every AWS resource of every account."""
        self.wait_ready()
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    def stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        assert process.stdin is not None
        process.stdin.close()  # it ends at once when its standard input closes
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def patch_moto() -> None:
    """Mend a race in moto's threaded server: a pcx between two accounts or regions walks the
    set of every EC2 backend while another request may be adding a backend to it (its
    account's or region's first), and the walk fails with "Set changed size during
    iteration" (seen as a 500 while seeding two accounts side by side). The walk takes a copy
    first; copying a set is one step under the interpreter lock."""
    from moto.ec2.models.vpc_peering_connections import VPCPeeringConnectionBackend as Backend

    def get_vpc_pcx_refs(cls: type[Backend]) -> Iterator[Backend]:
        for ref in list(cls.vpc_pcx_refs[cls]):
            backend = ref()
            if backend is not None:
                yield backend

    Backend.get_vpc_pcx_refs = classmethod(get_vpc_pcx_refs)  # type: ignore[method-assign,assignment]
    _remember_action_names()
    _remember_backends_by_host()


def _remember_action_names() -> None:
    """moto finds the method of each request's action by listing every function of the
    response class (EC2's has hundreds) with ``inspect.getmembers``: a twentieth of a test
    process's CPU. The list never changes, so each class's is made once."""
    from moto.core import responses, utils

    listed = utils.method_names_from_class
    if responses.method_names_from_class is not listed:  # type: ignore[attr-defined]
        return  # remembered already
    remembered = functools.cache(lambda clazz: frozenset(listed(clazz)))
    responses.method_names_from_class = remembered  # type: ignore[attr-defined,assignment]


def _remember_backends_by_host() -> None:
    """moto's server finds each request's backend by listing its own package folder (a
    ``stat`` per service, 150 of them) and then trying the URL patterns of every service in
    turn, under one lock: an eighth of a test process's CPU. A host's backend never changes,
    so it is found once per host (a bounded memo: hosts come from the requests)."""
    from moto import backend_index
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication as App

    if getattr(App.get_backend_for_host, "remembered", False):
        return
    find = App.get_backend_for_host
    shared = App.__new__(App)  # every app's patterns are moto's module-level index
    shared.backend_url_patterns = backend_index.backend_url_patterns
    by_host = functools.lru_cache(maxsize=1024)(lambda host: find(shared, host))

    def remembered(self: App, host: str | None) -> object:
        return by_host(host)

    remembered.remembered = True  # type: ignore[attr-defined]
    App.get_backend_for_host = remembered  # type: ignore[method-assign]


def _serve(port: int, warm: Sequence[str]) -> None:
    import logging

    from moto.ec2.models import ec2_backends
    from moto.server import ThreadedMotoServer
    from moto.sts.models import sts_backends

    patch_moto()
    # Made before serving, so the first requests do not wait for them.
    for pair in warm:
        account, _, region = pair.partition(":")
        ec2_backends[account][region]
        sts_backends[account]["global"]

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print("ready", flush=True)
    sys.stdin.read()
    # Its state dies with it: no need to wait for the server's threads to wind down.
    os._exit(0)


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2:])

"""The only module that talks to EC2.

One aiobotocore client per (credentials, region), reused for the gateway's lifetime; every
describe is paginated and batched over many VPCs or groups per call; botocore's adaptive retry
mode absorbs throttling. Results come back as models from :mod:`peering_core.models`.

moto does not apply filters to ``DescribeVpcPeeringConnections``; filters are sent (real AWS
uses them) and applied again here, so both behave the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

from pydantic import BaseModel, ConfigDict, SecretStr

from .errors import AwsError

if TYPE_CHECKING:
    # aiobotocore and botocore cost ~0.3 s to import and EC2's model as long to load: both
    # wait until a gateway makes its first client (or :func:`warm_up` loads them early).
    from aiobotocore.credentials import AioDeferredRefreshableCredentials
    from aiobotocore.session import AioSession
    from botocore.loaders import Loader

from .models import (
    AclEntry,
    AwsPeering,
    CallerIdentity,
    NetworkAcl,
    NetworkInterface,
    PeeringSide,
    PrefixList,
    Route,
    RouteTable,
    RouteTarget,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    Vpc,
)

# A credential that cannot be loaded (an expired SSO token, a denied role) is reported by this
# module's callers with its fix; botocore also logs it with a traceback, which Python's
# last-resort handler would print over the operator's terminal and the dashboard.
for _logger in ("botocore", "aiobotocore"):
    logging.getLogger(_logger).addHandler(logging.NullHandler())

# AWS accepts up to 200 values per filter; larger batches are split.
FILTER_VALUES_PER_CALL = 200

# EC2 has no call that returns the entries of many prefix lists: entries are read once per
# list version and kept. AWS-managed lists carry no version; theirs are read again after this.
UNVERSIONED_ENTRIES_TTL = 3600.0


class AwsAccess(BaseModel):
    """How to reach one AWS account: a profile, explicit keys, or the default chain; with
    ``role_arn``, a role assumed with those credentials (refreshed before they expire)."""

    model_config = ConfigDict(frozen=True)

    profile: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    endpoint_url: str | None = None
    role_arn: str | None = None
    external_id: SecretStr | None = None
    session_name: str = "peering-tui"

    def client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        if self.role_arn:
            return kwargs  # the session's assumed-role credentials sign every call
        if self.access_key_id:
            kwargs["aws_access_key_id"] = self.access_key_id
        if self.secret_access_key is not None:
            kwargs["aws_secret_access_key"] = self.secret_access_key.get_secret_value()
        if self.session_token is not None:
            kwargs["aws_session_token"] = self.session_token.get_secret_value()
        return kwargs

    def source(self) -> AwsAccess:
        """The credentials a role is assumed with (this access without its role)."""
        return self.model_copy(update={"role_arn": None, "external_id": None})


# botocore keeps service models in each session's loader, and EC2's is about 30 MB of Python
# objects: every gateway (the poll thread's, the screens', the platform's) would load its own.
# One loader per data path for the whole process loads it once; its cache only ever grows
# with the same parsed files, so sharing it across threads is safe.
_LOADERS: dict[str | None, Loader] = {}
_LOADERS_LOCK = threading.Lock()
_WARM_UP: threading.Thread | None = None
# What creating an EC2 (or STS) client reads through the loader, besides the service model.
_WARM_DATA = ("endpoints", "partitions", "sdk-default-configuration", "_retry")


def _session(profile: str | None) -> AioSession:
    """A botocore session (its own credential chain: env, profile, SSO, …) sharing the
    process's loader. Raises botocore's errors (an unknown profile): call it translated."""
    from aiobotocore.session import AioSession, get_session

    _share_botocore_tables()
    session = AioSession(profile=profile) if profile else get_session()
    session.register_component("data_loader", _loader(session.get_config_variable("data_path")))
    return session


def _loader(data_path: str | None) -> Loader:
    from botocore.loaders import create_loader

    with _LOADERS_LOCK:
        loader = _LOADERS.get(data_path)
        if loader is None:
            loader = _LOADERS[data_path] = create_loader(data_path)
        return loader


# botocore builds a new service model, a new client class (a method per operation, each with
# its operation model: EC2 has over 700) and a new table of event names for every session and
# client, and a gateway makes a session and a client per region: in a busy process (the tests,
# a command reaching several regions) that was a fifth of the CPU. All three depend only on
# the service's model files and botocore's constants, so the process keeps one of each.
_SHARED_MODELS: dict[tuple[Loader, str, str | None], Any] = {}
_SHARED_CLASSES: dict[tuple[str, Any], type] = {}
_SHARED_EVENT_NAMES: dict[str, str] = {}
_SHARING = False


def _share_botocore_tables() -> None:
    """Install the sharing once per process (see above)."""
    global _SHARING
    with _LOADERS_LOCK:
        if _SHARING:
            return
        _SHARING = True
        from aiobotocore.client import AioClientCreator
        from botocore import hooks

        load_model = AioClientCreator._load_service_model
        create_class = AioClientCreator._create_client_class
        new_aliaser = hooks.EventAliaser.__init__

        def shared_model(self: Any, service_name: str, api_version: str | None = None) -> Any:
            key = (self._loader, service_name, api_version)
            model = _SHARED_MODELS.get(key)
            if model is None:
                model = _SHARED_MODELS[key] = load_model(self, service_name, api_version)
            return model

        async def shared_class(self: Any, service_name: str, service_model: Any) -> type:
            key = (service_name, service_model)
            cls = _SHARED_CLASSES.get(key)
            if cls is None:
                cls = _SHARED_CLASSES[key] = await create_class(self, service_name, service_model)
            return cls

        def shared_aliases(self: Any, event_emitter: Any, event_aliases: Any = None) -> None:
            new_aliaser(self, event_emitter, event_aliases)
            if self._event_aliases == hooks.EVENT_ALIASES:  # botocore's own: always the same
                self._alias_name_cache = _SHARED_EVENT_NAMES

        AioClientCreator._load_service_model = shared_model
        AioClientCreator._create_client_class = shared_class
        hooks.EventAliaser.__init__ = shared_aliases
        _share_ssl_contexts()


# Every client's HTTP session builds its own TLS context on its first request, reading the
# CA bundle (a tenth of a test process's CPU, 20-30 ms a client). A context made for the
# same verification settings is the same, and one context serves any number of
# connections, threads and loops; only the plain case is shared (no client certificate, no
# proxy: those contexts are built further for their owner).
_SSL_CONTEXTS: dict[object, Any] = {}


def _share_ssl_contexts() -> None:
    from aiobotocore.httpsession import AIOHTTPSession

    build = AIOHTTPSession._build_ssl_contexts

    def shared_contexts(self: Any, proxy_url: str | None) -> tuple[Any, Any]:
        if self._cert_file or proxy_url:
            built: tuple[Any, Any] = build(self, proxy_url)
            return built
        context = _SSL_CONTEXTS.get(self._verify)
        if context is None:
            context = _SSL_CONTEXTS[self._verify] = build(self, None)[0]
        return context, None

    AIOHTTPSession._build_ssl_contexts = shared_contexts


def _load_botocore(nice: bool) -> None:
    # A load ahead of time yields the cores to whatever else is starting (Linux niceness is
    # per thread). Any failure here (botocore missing, a broken data file) shows on the
    # first real call.
    if nice:
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    with contextlib.suppress(Exception):
        loader = _session(None).get_component("data_loader")
        for service in ("ec2", "sts"):
            loader.load_service_model(service, "service-2")
            loader.load_service_model(service, "endpoint-rule-set-1")
        for name in _WARM_DATA:
            loader.load_data(name)


async def _warmed_up() -> None:
    """Wait (off the event loop) for :func:`warm_up` to finish: loading a file it is still
    loading would load it twice."""
    thread = _WARM_UP
    if thread is not None and thread.is_alive():
        await asyncio.to_thread(thread.join)


def warm_up(*, nice: bool = True) -> None:
    """Import botocore and load EC2's model on a daemon thread, once per process.

    A program with a wait to fill (the dashboard, while it draws and its sandbox starts) calls
    it early, ``nice`` so the thread yields the cores to what else is starting. The first AWS
    client calls it too (not nice: its caller waits for it): the load then runs beside the
    event loop, which meanwhile sends what it can (a command's platform requests) instead of
    stalling a fifth of a second on botocore's files."""
    global _WARM_UP
    with _LOADERS_LOCK:
        if _WARM_UP is not None:
            return
        _WARM_UP = threading.Thread(
            target=_load_botocore, args=(nice,), name="botocore-warm-up", daemon=True
        )
    _WARM_UP.start()


Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class _AssumedRole:
    """Credentials of ``access.role_arn``, assumed with ``access.source()``: botocore's
    refreshable credentials renew them before they expire (15 minutes ahead, on the call
    that finds them due), so a dashboard left open for hours keeps working. They live in
    this object only: nothing is written to disk."""

    def __init__(self, access: AwsAccess, region: str, clock: Clock, count: Counter[str]) -> None:
        self.access = access
        self.region = region
        self.count = count
        from aiobotocore.credentials import AioDeferredRefreshableCredentials

        self.credentials = AioDeferredRefreshableCredentials(
            refresh_using=self._assume, method="assume-role", time_fetcher=clock
        )

    async def load_credentials(self) -> AioDeferredRefreshableCredentials:
        """What a botocore ``credential_provider`` answers."""
        return self.credentials

    async def _assume(self) -> dict[str, Any]:
        source = self.access.source()
        params: dict[str, Any] = {
            "RoleArn": self.access.role_arn,
            "RoleSessionName": self.access.session_name,
        }
        if self.access.external_id is not None:
            params["ExternalId"] = self.access.external_id.get_secret_value()
        self.count["AssumeRole"] += 1
        with _translated("assume_role"):
            session = _session(source.profile)
            async with session.create_client(
                "sts", region_name=self.region, **source.client_kwargs()
            ) as sts:
                answer = await sts.assume_role(**params)
        creds = answer["Credentials"]
        expiry = creds["Expiration"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": expiry.isoformat() if isinstance(expiry, datetime) else str(expiry),
        }


@contextlib.contextmanager
def _translated(operation: str) -> Iterator[None]:
    """botocore's errors as :class:`AwsError`, the one place they are translated."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    try:
        yield
    except ClientError as exc:
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        raise AwsError(
            operation, err.get("Code", "Unknown"), err.get("Message", ""), status
        ) from None
    except (BotoCoreError, ResponseParserError) as exc:
        # An answer botocore cannot parse (a proxy's HTML error page) is a failure like any.
        raise AwsError(operation, type(exc).__name__, str(exc)) from None


def _tags(raw: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw or ()}


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """Tags as EC2 takes them."""
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tagged(resource_type: str, tags: dict[str, str] | None) -> dict[str, Any]:
    """``TagSpecifications`` for a create call (nothing when there are no tags)."""
    if not tags:
        return {}
    return {"TagSpecifications": [{"ResourceType": resource_type, "Tags": tag_list(tags)}]}


def _chunks(values: Sequence[str], size: int = FILTER_VALUES_PER_CALL) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def _side(info: dict[str, Any]) -> PeeringSide:
    cidrs = tuple(b["CidrBlock"] for b in info.get("CidrBlockSet") or () if "CidrBlock" in b)
    cidr = info.get("CidrBlock")
    if cidr and cidr not in cidrs:
        cidrs = (cidr, *cidrs)
    return PeeringSide(
        owner_id=info.get("OwnerId", ""),
        vpc_id=info.get("VpcId", ""),
        region=info.get("Region", ""),
        cidr=cidr,
        cidrs=cidrs,
    )


def _peering(raw: dict[str, Any]) -> AwsPeering:
    status = raw.get("Status") or {}
    expiration = raw.get("ExpirationTime")
    return AwsPeering(
        id=raw["VpcPeeringConnectionId"],
        status=status.get("Code", "unknown"),
        status_message=status.get("Message", "") or "",
        requester=_side(raw.get("RequesterVpcInfo") or {}),
        accepter=_side(raw.get("AccepterVpcInfo") or {}),
        tags=_tags(raw.get("Tags")),
        expiration_time=expiration if isinstance(expiration, datetime) else None,
    )


_TARGET_KEYS: tuple[tuple[str, RouteTarget], ...] = (
    ("VpcPeeringConnectionId", "pcx"),
    ("NatGatewayId", "nat"),
    ("TransitGatewayId", "tgw"),
    ("NetworkInterfaceId", "eni"),
    ("InstanceId", "instance"),
)


def _route(raw: dict[str, Any]) -> Route | None:
    dest = raw.get("DestinationCidrBlock") or raw.get("DestinationPrefixListId")
    if not dest:
        return None  # IPv6 routes are not peering routes
    for key, target in _TARGET_KEYS:
        if raw.get(key):
            return Route(
                destination=dest,
                target_kind=target,
                target_id=raw[key],
                state=raw.get("State", "active"),
            )
    gateway = raw.get("GatewayId") or ""
    kind: RouteTarget = (
        "local"
        if gateway == "local"
        else "igw"
        if gateway.startswith("igw-")
        else "vgw"
        if gateway.startswith("vgw-")
        else "other"
    )
    return Route(
        destination=dest,
        target_kind=kind,
        target_id=gateway or "unknown",
        state=raw.get("State", "active"),
    )


def _route_table(raw: dict[str, Any]) -> RouteTable:
    assocs = raw.get("Associations") or []
    routes = [r for r in (_route(x) for x in raw.get("Routes") or []) if r is not None]
    return RouteTable(
        id=raw["RouteTableId"],
        vpc_id=raw.get("VpcId", ""),
        main=any(a.get("Main") for a in assocs),
        subnet_ids=tuple(a["SubnetId"] for a in assocs if a.get("SubnetId")),
        routes=tuple(r for r in routes if not r.via_prefix_list),
        prefix_list_routes=tuple(r for r in routes if r.via_prefix_list),
        tags=_tags(raw.get("Tags")),
    )


def _destination(destination: str) -> dict[str, Any]:
    """A route's destination parameter: a CIDR, or a prefix list's ``pl-…`` id."""
    if destination.startswith("pl-"):
        return {"DestinationPrefixListId": destination}
    return {"DestinationCidrBlock": destination}


def _acl_entry(raw: dict[str, Any]) -> AclEntry:
    ports = raw.get("PortRange") or {}
    # Every default ACL repeats the same four entries: their strings are shared, not copied.
    return AclEntry(
        rule_number=int(raw["RuleNumber"]),
        egress=bool(raw.get("Egress")),
        protocol=sys.intern(str(raw.get("Protocol", "-1"))),
        allow=raw.get("RuleAction") == "allow",
        cidr=sys.intern(raw.get("CidrBlock") or raw.get("Ipv6CidrBlock") or ""),
        from_port=ports.get("From"),
        to_port=ports.get("To"),
    )


def _network_acl(raw: dict[str, Any]) -> NetworkAcl:
    return NetworkAcl(
        id=raw["NetworkAclId"],
        vpc_id=raw.get("VpcId", ""),
        is_default=bool(raw.get("IsDefault")),
        subnet_ids=tuple(a["SubnetId"] for a in raw.get("Associations") or () if a.get("SubnetId")),
        # IPv6 entries never match the deployment's IPv4 traffic.
        entries=tuple(
            _acl_entry(e) for e in raw.get("Entries") or () if e.get("CidrBlock") is not None
        ),
    )


def _rule(raw: dict[str, Any]) -> SecurityGroupRule:
    return SecurityGroupRule(
        id=raw["SecurityGroupRuleId"],
        group_id=raw["GroupId"],
        is_egress=bool(raw.get("IsEgress")),
        protocol=str(raw.get("IpProtocol", "-1")),
        from_port=raw.get("FromPort") if raw.get("FromPort", -1) != -1 else None,
        to_port=raw.get("ToPort") if raw.get("ToPort", -1) != -1 else None,
        cidr=raw.get("CidrIpv4"),
        prefix_list_id=raw.get("PrefixListId"),
        description=raw.get("Description") or "",
    )


def _acl_params(acl_id: str, entry: AclEntry) -> dict[str, Any]:
    params: dict[str, Any] = {
        "NetworkAclId": acl_id,
        "RuleNumber": entry.rule_number,
        "Protocol": entry.protocol,
        "RuleAction": "allow" if entry.allow else "deny",
        "Egress": entry.egress,
        "CidrBlock": entry.cidr,
    }
    if entry.protocol != "-1" and entry.from_port is not None:
        params["PortRange"] = {"From": entry.from_port, "To": entry.to_port or entry.from_port}
    return params


class Ec2Gateway:
    """EC2 (and STS identity) for one AWS account, across regions.

    Use as an async context manager; clients are opened lazily per region and closed on exit.
    ``calls`` counts API calls by operation name (each page is a call), for cost checks.
    """

    def __init__(
        self,
        access: AwsAccess | None = None,
        *,
        default_region: str = "us-east-1",
        max_attempts: int = 8,
        clock: Clock = _now,
    ) -> None:
        """``clock`` is what assumed-role credentials judge their expiry by (tests move it)."""
        self.access = access or AwsAccess()
        self.default_region = default_region
        self.max_attempts = max_attempts
        self.calls: Counter[str] = Counter()
        self._clock = clock
        # Made on the first call, where botocore's errors (an unknown profile) are translated.
        self._botocore_session: AioSession | None = None
        self._stack = AsyncExitStack()
        self._clients: dict[tuple[str, str, bool], Any] = {}
        self._lock = asyncio.Lock()
        # (region, list id, version) → (entries, when read)
        self._entries: dict[tuple[str, str, int | None], tuple[tuple[str, ...], float]] = {}

    @property
    def _session(self) -> AioSession:
        if self._botocore_session is None:
            self._botocore_session = self._new_session()
        return self._botocore_session

    def _new_session(self) -> AioSession:
        session = _session(self.access.profile)
        if self.access.role_arn:
            role = _AssumedRole(self.access, self.default_region, self._clock, self.calls)
            session.register_component("credential_provider", role)
        return session

    def _config(self, retried: bool) -> Any:
        from aiobotocore.config import AioConfig

        return AioConfig(
            # botocore's own "max_attempts" counts retries only; "total_max_attempts" counts
            # every attempt, which is what this parameter promises. A call that is not
            # idempotent gets one attempt: botocore would repeat one whose answer was lost,
            # after AWS acted on it; its caller decides what to do after a failure.
            retries={
                "mode": "adaptive",
                "total_max_attempts": self.max_attempts if retried else 1,
            },
            connect_timeout=10,
            read_timeout=30,
            max_pool_connections=20,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._clients.clear()
        await self._stack.aclose()
        self._stack = AsyncExitStack()

    def _count(self, model: Any = None, **_: Any) -> None:
        if model is not None:
            self.calls[model.name] += 1

    async def _client(self, service: str, region: str, *, retried: bool = True) -> Any:
        key = (service, region, retried)
        client = self._clients.get(key)
        if client is not None:
            return client
        async with self._lock:
            existing = self._clients.get(key)
            if existing is not None:
                return existing
            warm_up(nice=False)
            await _warmed_up()
            created: Any = await self._stack.enter_async_context(
                self._session.create_client(
                    service,
                    region_name=region,
                    config=self._config(retried),
                    **self.access.client_kwargs(),
                )
            )
            created.meta.events.register(f"before-call.{service}", self._count)
            self._clients[key] = created
            return created

    async def _call(
        self,
        region: str,
        operation: str,
        service: str = "ec2",
        *,
        retried: bool = True,
        **params: Any,
    ) -> Any:
        """One API call; ``retried=False`` makes exactly one attempt (for a call that is not
        idempotent, whose caller knows how to find out whether a failed attempt acted)."""
        with _translated(operation):
            client = await self._client(service, region, retried=retried)
            return await getattr(client, operation)(**params)

    async def _pages(
        self, region: str, operation: str, key: str, **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        with _translated(operation):
            client = await self._client("ec2", region)
            async for page in client.get_paginator(operation).paginate(**params):
                for item in page.get(key, []):
                    yield item

    async def _batched(
        self,
        region: str,
        operation: str,
        key: str,
        filter_name: str,
        values: Sequence[str] | None,
        **params: Any,
    ) -> list[dict[str, Any]]:
        """Describe with ``filter_name`` over many values: one paginated call per 200 values."""
        if values is not None and not values:
            return []
        batches: Iterable[list[str] | None] = (
            _chunks(sorted(set(values))) if values is not None else [None]
        )
        items: list[dict[str, Any]] = []
        for batch in batches:
            filters = list(params.pop("Filters", []))
            if batch is not None:
                filters.append({"Name": filter_name, "Values": batch})
            call_params = dict(params)
            if filters:
                call_params["Filters"] = filters
            items.extend(
                [item async for item in self._pages(region, operation, key, **call_params)]
            )
        return items

    # --- identity -----------------------------------------------------------------------

    async def caller_identity(self) -> CallerIdentity:
        raw = await self._call(self.default_region, "get_caller_identity", service="sts")
        return CallerIdentity(account_id=raw["Account"], arn=raw["Arn"])

    # --- peering connections ------------------------------------------------------------

    async def describe_peerings(
        self,
        region: str,
        *,
        accepter_vpc_ids: Sequence[str] | None = None,
        requester_vpc_ids: Sequence[str] | None = None,
    ) -> list[AwsPeering]:
        """Peering connections of a region, optionally narrowed by their VPCs (one pcx by
        id: :meth:`describe_peering`)."""
        filter_name, values = "accepter-vpc-info.vpc-id", accepter_vpc_ids
        if accepter_vpc_ids is None:
            filter_name, values = "requester-vpc-info.vpc-id", requester_vpc_ids
        raw = await self._batched(
            region, "describe_vpc_peering_connections", "VpcPeeringConnections", filter_name, values
        )
        peerings = [_peering(item) for item in raw]
        if accepter_vpc_ids is not None:
            acc = set(accepter_vpc_ids)
            peerings = [p for p in peerings if p.accepter.vpc_id in acc]
        if requester_vpc_ids is not None:
            req = set(requester_vpc_ids)
            peerings = [p for p in peerings if p.requester.vpc_id in req]
        return peerings

    async def describe_peering(self, region: str, peering_id: str) -> AwsPeering | None:
        """One peering connection, or ``None`` when this account cannot see it.

        Asked by id, not by filter: moto ignores peering filters and would answer with every
        pcx of the region (AWS says NotFound for an id it does not show this account).
        """
        try:
            raw = await self._call(
                region, "describe_vpc_peering_connections", VpcPeeringConnectionIds=[peering_id]
            )
        except AwsError as exc:
            if "NotFound" in exc.code:
                return None
            raise
        found = [
            _peering(item)
            for item in raw.get("VpcPeeringConnections") or ()
            if item.get("VpcPeeringConnectionId") == peering_id
        ]
        return found[0] if found else None

    async def create_peering(
        self,
        region: str,
        *,
        vpc_id: str,
        peer_vpc_id: str,
        peer_owner_id: str,
        tags: dict[str, str] | None = None,
    ) -> AwsPeering:
        """Request a pcx, in one attempt: the call takes no idempotency token, so a retry
        after a lost answer would request a second one (see ``create.request_pcx``)."""
        params: dict[str, Any] = {
            "VpcId": vpc_id,
            "PeerVpcId": peer_vpc_id,
            "PeerOwnerId": peer_owner_id,
            "PeerRegion": region,
        }
        raw = await self._call(
            region,
            "create_vpc_peering_connection",
            retried=False,
            **params,
            **tagged("vpc-peering-connection", tags),
        )
        return _peering(raw["VpcPeeringConnection"])

    async def delete_peering(self, region: str, peering_id: str) -> None:
        await self._call(region, "delete_vpc_peering_connection", VpcPeeringConnectionId=peering_id)

    async def create_tags(
        self, region: str, resource_ids: Sequence[str], tags: dict[str, str]
    ) -> None:
        await self._call(region, "create_tags", Resources=list(resource_ids), Tags=tag_list(tags))

    # --- VPCs, subnets, route tables -----------------------------------------------------

    async def describe_vpcs(self, region: str, vpc_ids: Sequence[str] | None = None) -> list[Vpc]:
        raw = await self._batched(region, "describe_vpcs", "Vpcs", "vpc-id", vpc_ids)
        vpcs = []
        for item in raw:
            cidrs = tuple(
                a["CidrBlock"]
                for a in item.get("CidrBlockAssociationSet") or ()
                if (a.get("CidrBlockState") or {}).get("State", "associated") == "associated"
            )
            vpcs.append(
                Vpc(
                    id=item["VpcId"],
                    region=region,
                    owner_id=item.get("OwnerId", ""),
                    cidr=item["CidrBlock"],
                    cidrs=cidrs or (item["CidrBlock"],),
                    is_default=bool(item.get("IsDefault")),
                    tags=_tags(item.get("Tags")),
                )
            )
        return vpcs

    async def describe_subnets(
        self, region: str, vpc_ids: Sequence[str] | None = None
    ) -> list[Subnet]:
        raw = await self._batched(region, "describe_subnets", "Subnets", "vpc-id", vpc_ids)
        return [
            Subnet(
                id=s["SubnetId"],
                vpc_id=s["VpcId"],
                cidr=s["CidrBlock"],
                availability_zone=s.get("AvailabilityZone", ""),
            )
            for s in raw
        ]

    async def describe_route_tables(
        self,
        region: str,
        *,
        vpc_ids: Sequence[str] | None = None,
        route_table_ids: Sequence[str] | None = None,
    ) -> list[RouteTable]:
        if route_table_ids is not None:
            raw = await self._batched(
                region, "describe_route_tables", "RouteTables", "route-table-id", route_table_ids
            )
        else:
            raw = await self._batched(
                region, "describe_route_tables", "RouteTables", "vpc-id", vpc_ids
            )
        return [_route_table(item) for item in raw]

    async def create_route(
        self, region: str, route_table_id: str, destination: str, peering_id: str
    ) -> None:
        await self._create_route(
            region, route_table_id, destination, VpcPeeringConnectionId=peering_id
        )

    async def _create_route(
        self, region: str, route_table_id: str, destination: str, **target: str
    ) -> None:
        params: dict[str, Any] = {"RouteTableId": route_table_id, **_destination(destination)}
        await self._call(region, "create_route", **(params | target))

    async def replace_route(
        self, region: str, route_table_id: str, destination: str, peering_id: str
    ) -> None:
        await self._call(
            region,
            "replace_route",
            RouteTableId=route_table_id,
            **_destination(destination),
            VpcPeeringConnectionId=peering_id,
        )

    async def delete_route(self, region: str, route_table_id: str, destination: str) -> None:
        """Delete the route to ``destination`` (a CIDR or a prefix list's ``pl-…`` id)."""
        await self._call(
            region, "delete_route", RouteTableId=route_table_id, **_destination(destination)
        )

    # --- prefix lists and network ACLs ----------------------------------------------------

    async def describe_prefix_lists(
        self,
        region: str,
        list_ids: Sequence[str] | None = None,
        *,
        with_entries: Collection[str] = (),
    ) -> list[PrefixList]:
        """The region's managed prefix lists (customer- and AWS-managed), in one paginated
        describe; the entries of those in ``with_entries``, read once per list version."""
        raw = await self._batched(
            region, "describe_managed_prefix_lists", "PrefixLists", "prefix-list-id", list_ids
        )
        lists = [
            PrefixList(
                id=p["PrefixListId"],
                name=p.get("PrefixListName", ""),
                owner_id=p.get("OwnerId", ""),
                version=p.get("Version"),
                address_family=p.get("AddressFamily", "IPv4"),
            )
            for p in raw
        ]
        wanted = [p for p in lists if p.id in with_entries and p.address_family == "IPv4"]
        entries = await asyncio.gather(*(self._prefix_list_entries(region, p) for p in wanted))
        read = {p.id: e for p, e in zip(wanted, entries, strict=True)}
        return [
            PrefixList(
                id=p.id,
                name=p.name,
                owner_id=p.owner_id,
                version=p.version,
                address_family=p.address_family,
                entries=read[p.id],
            )
            if p.id in read
            else p
            for p in lists
        ]

    async def _prefix_list_entries(self, region: str, prefix_list: PrefixList) -> tuple[str, ...]:
        key = (region, prefix_list.id, prefix_list.version)
        kept = self._entries.get(key)
        now = time.monotonic()
        if kept is not None and (
            prefix_list.version is not None or now - kept[1] < UNVERSIONED_ENTRIES_TTL
        ):
            return kept[0]
        params: dict[str, Any] = {"PrefixListId": prefix_list.id}
        if prefix_list.version is not None:
            params["TargetVersion"] = prefix_list.version
        items = [
            item["Cidr"]
            async for item in self._pages(
                region, "get_managed_prefix_list_entries", "Entries", **params
            )
        ]
        entries = tuple(items)
        for old in [k for k in self._entries if k[:2] == key[:2]]:
            del self._entries[old]  # an older version's entries are never asked for again
        self._entries[key] = (entries, now)
        return entries

    async def describe_network_acls(
        self, region: str, vpc_ids: Sequence[str] | None = None
    ) -> list[NetworkAcl]:
        raw = await self._batched(region, "describe_network_acls", "NetworkAcls", "vpc-id", vpc_ids)
        return [_network_acl(item) for item in raw]

    async def create_network_acl_entry(self, region: str, acl_id: str, entry: AclEntry) -> None:
        await self._call(region, "create_network_acl_entry", **_acl_params(acl_id, entry))

    async def replace_network_acl_entry(self, region: str, acl_id: str, entry: AclEntry) -> None:
        await self._call(region, "replace_network_acl_entry", **_acl_params(acl_id, entry))

    # --- security groups and interfaces ---------------------------------------------------

    async def describe_security_groups(
        self,
        region: str,
        *,
        vpc_ids: Sequence[str] | None = None,
        group_ids: Sequence[str] | None = None,
    ) -> list[SecurityGroup]:
        if group_ids is not None:
            raw = await self._batched(
                region, "describe_security_groups", "SecurityGroups", "group-id", group_ids
            )
        else:
            raw = await self._batched(
                region, "describe_security_groups", "SecurityGroups", "vpc-id", vpc_ids
            )
        return [
            SecurityGroup(
                id=g["GroupId"],
                vpc_id=g.get("VpcId", ""),
                name=g.get("GroupName", ""),
                description=g.get("Description", ""),
                tags=_tags(g.get("Tags")),
            )
            for g in raw
        ]

    async def describe_security_group_rules(
        self, region: str, group_ids: Sequence[str] | None = None
    ) -> list[SecurityGroupRule]:
        raw = await self._batched(
            region, "describe_security_group_rules", "SecurityGroupRules", "group-id", group_ids
        )
        return [_rule(item) for item in raw]

    async def authorize_ingress(
        self,
        region: str,
        group_id: str,
        *,
        cidr: str,
        port: int | None,
        description: str,
    ) -> list[SecurityGroupRule]:
        """Allow ``cidr`` in on ``port`` (TCP), or all traffic when ``port`` is ``None``."""
        permission: dict[str, Any] = {
            "IpProtocol": "-1" if port is None else "tcp",
            "IpRanges": [{"CidrIp": cidr, "Description": description}],
        }
        if port is not None:
            permission["FromPort"] = port
            permission["ToPort"] = port
        raw = await self._call(
            region,
            "authorize_security_group_ingress",
            GroupId=group_id,
            IpPermissions=[permission],
        )
        return [_rule(item) for item in raw.get("SecurityGroupRules") or []]

    async def revoke_ingress(self, region: str, group_id: str, rule_ids: Sequence[str]) -> None:
        await self._call(
            region,
            "revoke_security_group_ingress",
            GroupId=group_id,
            SecurityGroupRuleIds=list(rule_ids),
        )

    async def describe_network_interfaces(
        self, region: str, vpc_ids: Sequence[str] | None = None, *, private_ip: str | None = None
    ) -> list[NetworkInterface]:
        """The interfaces of ``vpc_ids`` (or of the region); only the one holding
        ``private_ip`` when it is given."""
        by_ip = (
            {"Filters": [{"Name": "addresses.private-ip-address", "Values": [private_ip]}]}
            if private_ip
            else {}
        )
        raw = await self._batched(
            region, "describe_network_interfaces", "NetworkInterfaces", "vpc-id", vpc_ids, **by_ip
        )
        return [
            NetworkInterface(
                id=n["NetworkInterfaceId"],
                vpc_id=n.get("VpcId", ""),
                subnet_id=n.get("SubnetId", ""),
                private_ips=tuple(a["PrivateIpAddress"] for a in n.get("PrivateIpAddresses") or ())
                or ((n["PrivateIpAddress"],) if n.get("PrivateIpAddress") else ()),
                group_ids=tuple(g["GroupId"] for g in n.get("Groups") or ()),
                description=n.get("Description", ""),
            )
            for n in raw
        ]

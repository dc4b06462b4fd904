"""The platform's peering rules (``peering_core.rules``), as an operator meets them.

Property tests compare every CIDR answer with an independent computation on integer address
ranges; example tests pin the messages an operator reads when the platform says no.
"""

from __future__ import annotations

import contextlib
import ipaddress
import pickle
import re
import string

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from peering_core import rules
from peering_core.errors import RuleViolation

# Pure functions: no deadline, so a loaded CI machine cannot make these flaky.
RELAXED = settings(deadline=None)

ADDRESS_SPACE = 2**32


# --- strategies and an independent model of CIDRs ---------------------------------------


def span(net: ipaddress.IPv4Network) -> tuple[int, int]:
    """First and last address of a network, computed from the prefix alone (no ipaddress)."""
    size = 2 ** (32 - net.prefixlen)
    first = int(net.network_address) // size * size
    return first, first + size - 1


def share_an_address(a: ipaddress.IPv4Network, b: ipaddress.IPv4Network) -> bool:
    (a_first, a_last), (b_first, b_last) = span(a), span(b)
    return a_first <= b_last and b_first <= a_last


@st.composite
def networks(draw: st.DrawFn, min_prefix: int = 0, max_prefix: int = 32) -> ipaddress.IPv4Network:
    prefix = draw(st.integers(min_prefix, max_prefix))
    size = 2 ** (32 - prefix)
    first = draw(st.integers(0, ADDRESS_SPACE // size - 1)) * size
    return ipaddress.IPv4Network((first, prefix))


@st.composite
def networks_inside(draw: st.DrawFn, block: str) -> ipaddress.IPv4Network:
    outer = ipaddress.IPv4Network(block)
    prefix = draw(st.integers(outer.prefixlen, 32))
    size = 2 ** (32 - prefix)
    first = (
        int(outer.network_address) + draw(st.integers(0, outer.num_addresses // size - 1)) * size
    )
    return ipaddress.IPv4Network((first, prefix))


@st.composite
def cidrs_with_host_bits(draw: st.DrawFn) -> str:
    net = draw(networks(max_prefix=31))
    offset = draw(st.integers(1, net.num_addresses - 1))
    return f"{ipaddress.IPv4Address(int(net.network_address) + offset)}/{net.prefixlen}"


HEX = "0123456789abcdef"


def ids(prefix: str) -> st.SearchStrategy[str]:
    return st.text(HEX, min_size=8, max_size=17).map(lambda digits: prefix + digits)


REGIONS = st.builds(
    lambda area, partition, direction, number: f"{area}{partition}-{direction}-{number}",
    st.text(string.ascii_lowercase, min_size=2, max_size=2),
    st.sampled_from(["", "-gov", "-iso", "-isob", "-isof"]),
    st.text(string.ascii_lowercase, min_size=1, max_size=12),
    st.integers(0, 9),
)

ID_CHECKS = {
    "peering": (rules.check_peering_id, ids("pcx-"), "peeringId"),
    "vpc": (rules.check_vpc_id, ids("vpc-"), "vpcId"),
    "route table": (rules.check_route_table_id, ids("rtb-"), "routeTableId"),
    "security group": (rules.check_security_group_id, ids("sg-"), "securityGroupId"),
    "account": (
        rules.check_account_id,
        st.text("0123456789", min_size=12, max_size=12),
        "accountId",
    ),
    "region": (rules.check_region, REGIONS, "region"),
}
ID_PATTERNS = {
    "peering": r"pcx-[0-9a-f]{8,17}",
    "vpc": r"vpc-[0-9a-f]{8,17}",
    "route table": r"rtb-[0-9a-f]{8,17}",
    "security group": r"sg-[0-9a-f]{8,17}",
    "account": r"[0-9]{12}",
    "region": r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]",
}


def refused(fn, *args, **kwargs) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        fn(*args, **kwargs)
    return caught.value


# --- CIDR parsing -----------------------------------------------------------------------


@RELAXED
@given(networks())
def test_every_cidr_an_operator_copies_from_aws_reads_back_unchanged(net):
    parsed = rules.parse_cidr(str(net))
    assert parsed == net
    assert str(parsed) == str(net)


@RELAXED
@given(cidrs_with_host_bits())
@example("10.0.0.1/16")
@example("192.168.1.1/24")
def test_a_cidr_typed_with_host_bits_is_refused_as_invalid(value):
    violation = refused(rules.parse_cidr, value)
    assert violation.code == "INVALID_ARGUMENT"
    assert violation.field == "cidr"
    assert repr(value) in violation.message


@RELAXED
@given(
    st.one_of(st.text(), st.text("0123456789./: abcdefx\n"), st.binary(), st.none(), st.integers())
)
@example("10.0.0.0")
@example("10.0.0.0/33")
@example("10.0.0.0/-1")
@example("256.0.0.0/8")
@example("10.0.0.0/16/16")
@example("010.0.0.0/8")
@example(" 10.0.0.0/16")
@example("10.0.0.0/16\n")
@example("fe80::%eth0/64")
@example("")
def test_garbage_in_the_cidr_field_only_ever_raises_a_rule_violation(value):
    try:
        net = rules.parse_cidr(value)
    except RuleViolation as violation:
        assert violation.code == "INVALID_ARGUMENT"
        assert repr(value) in violation.message
    else:
        assert isinstance(value, str)
        assert isinstance(net, ipaddress.IPv4Network)


@pytest.mark.parametrize("value", ["::/0", "2001:db8::/32", "fd00::/8"])
def test_an_ipv6_cidr_is_refused_because_peering_here_is_ipv4(value):
    violation = refused(rules.parse_cidr, value)
    assert violation.code == "INVALID_ARGUMENT"
    assert "IPv4" in violation.message


def test_the_field_name_the_operator_filled_in_is_named_in_the_refusal():
    violation = refused(rules.parse_cidr, "10.0.0.1/16", "peerCidr")
    assert violation.field == "peerCidr"
    assert violation.message.startswith("peerCidr '10.0.0.1/16'")
    assert str(violation) == violation.message


# --- overlap ----------------------------------------------------------------------------


@RELAXED
@given(networks(), networks())
def test_two_cidrs_overlap_exactly_when_they_share_an_address(a, b):
    expected = share_an_address(a, b)
    assert rules.overlaps(a, b) is expected
    assert rules.overlaps(str(a), str(b)) is expected
    assert rules.overlaps(str(b), a) is expected


@RELAXED
@given(networks(), networks())
def test_overlap_reads_the_same_from_either_side(a, b):
    assert rules.overlaps(a, b) == rules.overlaps(b, a)


@RELAXED
@given(networks())
def test_a_cidr_overlaps_itself_and_everything_that_contains_it(net):
    assert rules.overlaps(net, net)
    for prefix in range(net.prefixlen + 1):
        assert rules.overlaps(net.supernet(new_prefix=prefix), net)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("10.0.0.0/16", "10.0.255.240/28", True),
        ("10.0.0.0/16", "10.1.0.0/16", False),
        ("10.0.0.0/8", "10.255.255.255/32", True),
        ("0.0.0.0/0", "192.168.0.0/16", True),
        ("172.16.0.0/12", "172.32.0.0/12", False),
        ("192.168.0.0/24", "192.168.1.0/24", False),
    ],
)
def test_adjacent_blocks_do_not_overlap_and_nested_blocks_do(a, b, expected):
    assert rules.overlaps(a, b) is expected


def test_overlap_refuses_a_cidr_with_host_bits_instead_of_guessing():
    assert refused(rules.overlaps, "10.0.0.1/16", "10.0.0.0/16").code == "INVALID_ARGUMENT"


# --- reserved ranges --------------------------------------------------------------------


@RELAXED
@given(
    st.sampled_from(rules.DEFAULT_RESERVED_CIDRS).flatmap(
        lambda block: st.tuples(st.just(block), networks_inside(block))
    )
)
def test_a_peer_vpc_inside_a_reserved_range_is_refused_naming_value_and_range(case):
    block, net = case
    violation = refused(rules.check_not_reserved, str(net), rules.DEFAULT_RESERVED_CIDRS)
    assert violation.code == "CIDR_RESERVED"
    assert violation.field == "cidr"
    assert str(net) in violation.message
    assert block in violation.message


@RELAXED
@given(networks())
def test_the_default_reserved_ranges_refuse_exactly_what_touches_100_or_101_slash_8(net):
    reserved = [ipaddress.IPv4Network(b) for b in rules.DEFAULT_RESERVED_CIDRS]
    if any(share_an_address(net, block) for block in reserved):
        assert refused(rules.check_not_reserved, str(net), rules.DEFAULT_RESERVED_CIDRS).code == (
            "CIDR_RESERVED"
        )
    else:
        rules.check_not_reserved(str(net), rules.DEFAULT_RESERVED_CIDRS)


def test_a_peer_vpc_that_swallows_a_reserved_range_is_refused_too():
    violation = refused(rules.check_not_reserved, "96.0.0.0/4", rules.DEFAULT_RESERVED_CIDRS)
    assert violation.code == "CIDR_RESERVED"
    assert "100.0.0.0/8" in violation.message


@pytest.mark.parametrize("cidr", ["99.255.255.0/24", "102.0.0.0/16", "10.0.0.0/16", "100.0.0.0/7"])
def test_neighbours_of_the_reserved_ranges_are_judged_by_address_not_by_first_octet(cidr):
    net = ipaddress.IPv4Network(cidr)
    touches = any(
        share_an_address(net, ipaddress.IPv4Network(b)) for b in rules.DEFAULT_RESERVED_CIDRS
    )
    if touches:
        assert refused(rules.check_not_reserved, cidr, rules.DEFAULT_RESERVED_CIDRS)
    else:
        rules.check_not_reserved(cidr, rules.DEFAULT_RESERVED_CIDRS)


@RELAXED
@given(networks(min_prefix=8), st.lists(networks(max_prefix=24), max_size=5))
def test_a_platform_with_its_own_reserved_list_refuses_by_that_list(net, reserved):
    blocks = [str(b) for b in reserved]
    hits = [b for b in reserved if share_an_address(net, b)]
    if hits:
        violation = refused(rules.check_not_reserved, str(net), blocks, field="peerCidr")
        assert violation.code == "CIDR_RESERVED"
        assert violation.field == "peerCidr"
        assert str(net) in violation.message
        assert str(hits[0]) in violation.message
    else:
        rules.check_not_reserved(str(net), blocks)


@RELAXED
@given(networks())
def test_a_platform_that_reserves_nothing_accepts_any_cidr(net):
    rules.check_not_reserved(str(net), [])


def test_a_later_platform_version_reserving_more_ranges_refuses_them():
    reserved = [*rules.DEFAULT_RESERVED_CIDRS, "198.18.0.0/15"]
    violation = refused(rules.check_not_reserved, "198.19.4.0/24", reserved)
    assert violation.code == "CIDR_RESERVED"
    assert "198.19.4.0/24" in violation.message
    assert "198.18.0.0/15" in violation.message
    rules.check_not_reserved("100.0.0.0/24", ["198.18.0.0/15"])


def test_a_misconfigured_reserved_list_is_reported_as_such():
    violation = refused(rules.check_not_reserved, "10.0.0.0/16", ["100.0.0.1/8"])
    assert violation.code == "INVALID_ARGUMENT"
    assert violation.field == "reservedCidr"


# --- overlap with the deployment and other peerings --------------------------------------


@RELAXED
@given(
    networks(min_prefix=8),
    networks(min_prefix=8),
    st.lists(st.tuples(ids("pcx-"), networks(min_prefix=8)), max_size=4, unique_by=lambda p: p[0]),
)
def test_a_peer_cidr_is_refused_iff_it_overlaps_the_deployment_or_another_peering(
    net, deployment, others
):
    other_peerings = [(pcx, str(cidr)) for pcx, cidr in others]
    if share_an_address(net, deployment):
        violation = refused(rules.check_no_overlap, str(net), str(deployment), other_peerings)
        assert violation.code == "CIDR_OVERLAP"
        assert str(net) in violation.message
        assert str(deployment) in violation.message
        assert "deployment" in violation.message
        return
    clashes = [(pcx, cidr) for pcx, cidr in others if share_an_address(net, cidr)]
    if clashes:
        violation = refused(rules.check_no_overlap, str(net), str(deployment), other_peerings)
        pcx, cidr = clashes[0]
        assert violation.code == "CIDR_OVERLAP"
        assert pcx in violation.message
        assert str(cidr) in violation.message
        assert str(net) in violation.message
    else:
        rules.check_no_overlap(str(net), str(deployment), other_peerings)


def test_a_peer_vpc_overlapping_the_deployment_is_refused_naming_the_deployment_cidr():
    violation = refused(rules.check_no_overlap, "10.0.128.0/20", "10.0.0.0/16")
    assert violation.code == "CIDR_OVERLAP"
    assert violation.message == ("peer CIDR 10.0.128.0/20 overlaps the deployment CIDR 10.0.0.0/16")


def test_a_second_peering_onto_the_same_network_is_refused_naming_the_first_pcx():
    others = [("pcx-0a1b2c3d", "172.16.0.0/16"), ("pcx-0123456789abcdef0", "172.17.0.0/16")]
    violation = refused(rules.check_no_overlap, "172.17.8.0/24", "10.0.0.0/16", others)
    assert violation.code == "CIDR_OVERLAP"
    assert "pcx-0123456789abcdef0" in violation.message
    assert "172.17.0.0/16" in violation.message
    assert "pcx-0a1b2c3d" not in violation.message


def test_a_peer_vpc_next_door_to_everything_is_accepted():
    rules.check_no_overlap("10.1.0.0/16", "10.0.0.0/16", [("pcx-0a1b2c3d", "10.2.0.0/16")])


def test_the_reserved_range_is_reported_before_an_overlap():
    violation = refused(
        rules.check_peer_cidr,
        "100.64.0.0/16",
        deployment_cidr="100.64.0.0/10",
        reserved=rules.DEFAULT_RESERVED_CIDRS,
    )
    assert violation.code == "CIDR_RESERVED"


def test_all_cidr_rules_together_pass_a_good_peer_and_refuse_an_overlapping_one():
    others = [("pcx-11111111", "192.168.0.0/24")]
    rules.check_peer_cidr(
        "192.168.1.0/24",
        deployment_cidr="10.0.0.0/16",
        reserved=rules.DEFAULT_RESERVED_CIDRS,
        other_peerings=others,
    )
    violation = refused(
        rules.check_peer_cidr,
        "192.168.0.0/23",
        deployment_cidr="10.0.0.0/16",
        reserved=rules.DEFAULT_RESERVED_CIDRS,
        other_peerings=others,
    )
    assert violation.code == "CIDR_OVERLAP"
    assert "pcx-11111111" in violation.message


# --- region -----------------------------------------------------------------------------


def test_peering_across_regions_is_refused_naming_both_regions():
    violation = refused(rules.check_same_region, "eu-west-1", "us-east-1")
    assert violation.code == "REGION_MISMATCH"
    assert "eu-west-1" in violation.message
    assert "us-east-1" in violation.message
    rules.check_same_region("ap-southeast-1", "ap-southeast-1")


# --- id formats -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(ID_CHECKS))
@RELAXED
@given(data=st.data())
def test_ids_copied_from_the_aws_console_are_accepted(kind, data):
    check, valid, _field = ID_CHECKS[kind]
    value = data.draw(valid)
    assert check(value) == value


@pytest.mark.parametrize("kind", list(ID_CHECKS))
@RELAXED
@given(value=st.text(max_size=40))
def test_random_text_in_an_id_field_is_refused_and_quoted_back(kind, value):
    check, _valid, field = ID_CHECKS[kind]
    assume(re.fullmatch(ID_PATTERNS[kind], value) is None)
    violation = refused(check, value)
    assert violation.code == "INVALID_ARGUMENT"
    assert violation.field == field
    assert repr(value) in violation.message
    if value.isprintable() and not set("'\"\\") & set(value):
        assert value in violation.message


NEAR_MISSES = {
    "peering": [
        "pcx-1234567",
        "pcx-0123456789abcdef01",
        "PCX-12345678",
        "pcx-1234567G",
        "pcx-ABCDEF12",
        " pcx-12345678",
        "pcx-12345678\n",
        "vpc-12345678",
        "pcx_12345678",
    ],
    "vpc": ["vpc-1234567", "vpc-0123456789abcdef01", "vpc-ABCDEF12", "pcx-12345678", "vpc-"],
    "route table": ["rtb-1234567", "rtb-ABCDEF12", "rtb-12345678 ", "rt-12345678"],
    "security group": ["sg-1234567", "sg-ABCDEF12", "sg-12345678x", "sgr-12345678"],
    "account": ["12345678901", "1234567890123", "1234-5678-9012", "١٢٣٤٥٦٧٨٩٠١٢", " 123456789012"],
    "region": ["us-east", "US-EAST-1", "us-east-1a", "useast-1", "us-east-1 ", "us_east_1", ""],
}


@pytest.mark.parametrize(
    ("kind", "value"), [(kind, v) for kind, values in NEAR_MISSES.items() for v in values]
)
def test_ids_that_almost_look_right_are_refused(kind, value):
    check, _valid, field = ID_CHECKS[kind]
    violation = refused(check, value)
    assert violation.code == "INVALID_ARGUMENT"
    assert repr(value) in violation.message
    assert field in violation.message


@pytest.mark.parametrize(
    "region",
    [
        "us-east-1",
        "eu-central-2",
        "ap-southeast-4",
        "us-gov-west-1",
        "cn-northwest-1",
        "us-iso-east-1",
        "us-isob-east-1",
        "il-central-1",
        "mx-central-1",
    ],
)
def test_real_aws_regions_are_accepted(region):
    assert rules.check_region(region) == region


@pytest.mark.parametrize("kind", list(ID_CHECKS))
@pytest.mark.parametrize("value", [None, 123456789012, b"pcx-12345678", ["us-east-1"]])
def test_an_id_that_is_not_even_a_string_is_refused(kind, value):
    check, _valid, _field = ID_CHECKS[kind]
    violation = refused(check, value)
    assert violation.code == "INVALID_ARGUMENT"
    assert repr(value) in violation.message


def test_the_field_name_is_the_one_the_form_used():
    violation = refused(rules.check_vpc_id, "nope", field="requesterVpcId")
    assert violation.field == "requesterVpcId"
    assert violation.message.startswith("requesterVpcId 'nope'")


# --- VPC CIDR ---------------------------------------------------------------------------


@RELAXED
@given(networks())
def test_a_deployment_vpc_needs_a_prefix_between_16_and_28(net):
    if 16 <= net.prefixlen <= 28:
        assert rules.check_vpc_cidr(str(net)) == net
    else:
        violation = refused(rules.check_vpc_cidr, str(net))
        assert violation.code == "INVALID_ARGUMENT"
        assert f"/{net.prefixlen}" in violation.message
        assert str(net) in violation.message


@pytest.mark.parametrize(
    ("cidr", "accepted"),
    [
        ("10.0.0.0/15", False),
        ("10.0.0.0/16", True),
        ("10.0.0.0/28", True),
        ("10.0.0.0/29", False),
        ("10.0.0.16/28", True),
    ],
)
def test_the_vpc_prefix_bounds_are_inclusive(cidr, accepted):
    if accepted:
        assert str(rules.check_vpc_cidr(cidr)) == cidr
    else:
        assert refused(rules.check_vpc_cidr, cidr).code == "INVALID_ARGUMENT"


@RELAXED
@given(cidrs_with_host_bits())
def test_a_vpc_cidr_with_host_bits_is_refused_before_its_prefix_is_judged(value):
    assert refused(rules.check_vpc_cidr, value).code == "INVALID_ARGUMENT"


# --- contains_ip ------------------------------------------------------------------------


@RELAXED
@given(networks(), st.integers(0, ADDRESS_SPACE - 1))
def test_a_resource_host_is_inside_a_peer_vpc_iff_its_address_is_in_range(net, address):
    first, last = span(net)
    host = str(ipaddress.IPv4Address(address))
    assert rules.contains_ip(str(net), host) is (first <= address <= last)


@RELAXED
@given(networks())
def test_the_first_and_last_addresses_of_a_peer_vpc_are_inside_it(net):
    first, last = span(net)
    assert rules.contains_ip(str(net), str(ipaddress.IPv4Address(first)))
    assert rules.contains_ip(str(net), str(ipaddress.IPv4Address(last)))


@pytest.mark.parametrize(
    "host",
    [
        "orders-db.internal",
        "localhost",
        "10.0.0.1.nip.io",
        "",
        "10.0.0",
        "10.0.0.256",
        " 10.0.0.1",
        "010.0.0.1",
        "::ffff:10.0.0.1",
        "fe80::1%eth0",
        "10.0.0.0/24",
    ],
)
def test_host_names_and_non_ipv4_hosts_are_never_inside_a_peer_vpc(host):
    assert rules.contains_ip("10.0.0.0/8", host) is False


@RELAXED
@given(st.text(max_size=30))
def test_contains_ip_never_raises_for_any_host_text(host):
    assert rules.contains_ip("0.0.0.0/0", host) is (
        re.fullmatch(
            r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}",
            host,
            re.ASCII,
        )
        is not None
    )


# --- the violation itself ---------------------------------------------------------------


@contextlib.contextmanager
def _form_step():
    yield


def test_a_refusal_raised_inside_a_with_block_reaches_the_operator_intact():
    with pytest.raises(RuleViolation) as caught, _form_step():
        rules.check_peering_id("pcx-nope")
    assert caught.value.code == "INVALID_ARGUMENT"


def test_a_refusal_survives_pickling_and_notes():
    violation = refused(rules.check_region, "mars-1")
    copy = pickle.loads(pickle.dumps(violation))  # noqa: S301
    assert (copy.code, copy.message, copy.field) == (
        violation.code,
        violation.message,
        violation.field,
    )
    violation.add_note("while confirming pcx-12345678")

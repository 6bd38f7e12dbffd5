"""The lab's pure parts: names, addressing, inventory, firewall rules, image recipe, and the
supervisor's reboot loop. No root needed."""

from __future__ import annotations

import datetime as dt
import ipaddress
import signal
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from mspctl.errors import BadInput
from mspctl.lab import inventory, network, rootfs
from mspctl.lab.state import (
    LabHost,
    LabState,
    host_ip,
    host_name,
    lab_from_nft_table,
    nft_table,
    preferred_slot,
    slot_order,
    subnet,
    validate_name,
)
from mspctl.lab.supervisor import supervise

names = st.from_regex(r"^[a-z](?:[a-z0-9-]{0,22}[a-z0-9])?$", fullmatch=True)


def make_state(count: int = 4) -> LabState:
    state = LabState(
        name="lab",
        distro="bookworm",
        slot=7,
        image="/img",
        created="now",
        mirror_addresses={"deb.debian.org": "192.0.2.80"},
    )
    state.hosts = [
        LabHost(
            name=host_name("lab", i),
            index=i,
            ip=host_ip(7, i),
            netns=f"ns{i}",
            veth=f"v{i}",
            groups=inventory.groups_for(i),
        )
        for i in range(1, count + 1)
    ]
    return state


@pytest.mark.parametrize("name", ["lab", "pytest-4242", "m-lab-smoke-3fa2c1", "a"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "Lab", "1lab", "lab-", "la_b", "x" * 25, "lab/../x"])
def test_invalid_names_are_bad_input(name: str) -> None:
    with pytest.raises(BadInput):
        validate_name(name)


def test_default_lab_host_names() -> None:
    assert [host_name("lab", i) for i in (1, 2, 10)] == ["lab01", "lab02", "lab10"]
    assert host_name("pytest-4242", 1) == "pytest-4242-01"


@given(names, names, st.integers(1, 50), st.integers(1, 50))
def test_host_names_never_collide_across_labs(a: str, b: str, i: int, j: int) -> None:
    if (a, i) != (b, j):
        assert host_name(a, i) != host_name(b, j)
    assert len(host_name(a, i)) <= 63


@given(names)
def test_nft_table_names_map_back_to_the_lab(name: str) -> None:
    assert lab_from_nft_table(nft_table(name)) == name


@given(names)
def test_slot_order_is_stable_and_covers_every_subnet(name: str) -> None:
    order = slot_order(name)
    assert order[0] == preferred_slot(name)
    assert sorted(order) == list(range(1, 255))
    assert subnet(order[0]).subnet_of(ipaddress.IPv4Network("10.231.0.0/16"))


def test_addresses() -> None:
    state = make_state(2)
    assert state.subnet == "10.231.7.0/24"
    assert state.gateway == "10.231.7.1"
    assert [h.ip for h in state.hosts] == ["10.231.7.11", "10.231.7.12"]


def test_group_mapping() -> None:
    assert inventory.groups_for(1) == ["servers", "msp_monitoring", "backup_repository"]
    assert inventory.groups_for(2) == ["servers"]
    assert inventory.groups_for(3) == inventory.groups_for(9) == ["workstations"]


def test_inventory_and_client_files(tmp_path: Path) -> None:
    state = make_state(3)
    directory = inventory.write(state, tmp_path)
    hosts = yaml.safe_load((directory / "hosts.yml").read_text())
    assert set(hosts["all"]["children"]) == {
        "servers",
        "msp_monitoring",
        "backup_repository",
        "workstations",
    }
    lab01 = hosts["all"]["hosts"]["lab01"]
    assert lab01["ansible_host"] == "10.231.7.11"
    assert lab01["ansible_user"] == "root"
    assert lab01["ansible_python_interpreter"] == "/usr/bin/python3"
    assert lab01["ansible_ssh_private_key_file"] == str(state.ssh_key)
    assert f"UserKnownHostsFile={state.known_hosts}" in lab01["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in lab01["ansible_ssh_common_args"]
    client = yaml.safe_load((directory / "client.yml").read_text())
    assert client["contract"]["tier"] == "gold"
    assert list(client) == ["name", "timezone", "contract", "contacts", "sites"]
    inventory.remove(directory)
    assert not directory.exists()


def test_remove_keeps_files_it_did_not_write(tmp_path: Path) -> None:
    directory = inventory.write(make_state(1), tmp_path)
    (directory / "hosts.yml").write_text("all: {}\n")
    inventory.remove(directory)
    assert (directory / "hosts.yml").exists() and not (directory / "client.yml").exists()


def test_client_document_is_the_contract_shape() -> None:
    text = inventory.client_document(dt.date(2026, 1, 1))
    assert yaml.safe_load(text) == {
        "name": "Lab rehearsal client",
        "timezone": "Europe/Paris",
        "contract": {"tier": "gold", "start": dt.date(2026, 1, 1)},
        "contacts": [
            {"name": "Lab technician", "role": "technical", "email": "lab@example.invalid"}
        ],
        "sites": [{"name": "Lab", "address": "this machine"}],
    }


def test_firewall_allows_the_mirror_and_dns_only() -> None:
    rules = network.firewall_rules(make_state(), ["10.255.255.53"])
    assert "table inet mspctl_lab_lab {" in rules
    assert 'iifname "mspl7" ip daddr { 192.0.2.80 } tcp dport { 80, 443 } accept' in rules
    assert "ip daddr { 10.255.255.53 } meta l4proto { tcp, udp } th dport 53 accept" in rules
    assert 'iifname "mspl7" counter drop' in rules  # anything else from the lab is dropped
    assert "ip saddr 10.231.7.0/24 ip daddr != 10.231.7.0/24 masquerade" in rules


def test_image_key_follows_the_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    key = rootfs.recipe_key("bookworm")
    assert key == rootfs.recipe_key("bookworm") != rootfs.recipe_key("trixie")
    monkeypatch.setattr(rootfs, "PACKAGES", (*rootfs.PACKAGES, "vim"))
    assert rootfs.recipe_key("bookworm") != key
    assert rootfs.image_for("trixie").tarball.name.startswith("trixie-")


def test_supervisor_restarts_the_guest_after_a_reboot(tmp_path: Path) -> None:
    """nspawn exits 133 when the guest reboots: start it again; any other exit ends the loop."""
    counter = tmp_path / "boots"
    script = (
        "import pathlib, sys; p = pathlib.Path(sys.argv[1]); "
        "n = int(p.read_text()) if p.exists() else 0; p.write_text(str(n + 1)); "
        "sys.exit(133 if n < 2 else 7)"
    )
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        code = supervise([sys.executable, "-c", script, str(counter)])
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert counter.read_text() == "3"
    assert code == 7

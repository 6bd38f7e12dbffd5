"""The lab client gets the policies' lab settings (mspctl/lab/group_vars/*.yml) as group vars."""

from __future__ import annotations

from pathlib import Path

import yaml

from mspctl.lab import inventory
from mspctl.lab.state import LabHost, LabState, host_ip, host_name


def make_state() -> LabState:
    state = LabState(name="lab", distro="bookworm", slot=7, image="/img", created="now")
    state.hosts = [
        LabHost(
            name=host_name("lab", 1),
            index=1,
            ip=host_ip(7, 1),
            netns="ns1",
            veth="v1",
            groups=inventory.groups_for(1),
        )
    ]
    return state


def test_every_policy_file_is_copied_and_removed(tmp_path: Path) -> None:
    directory = inventory.write(make_state(), tmp_path)
    sources = sorted(inventory.GROUP_VARS_DIR.glob("*.yml"))
    assert sources, "mspctl/lab/group_vars/ has the lab settings of at least one policy"
    for source in sources:
        copy = directory / "group_vars" / "all" / source.name
        assert copy.read_text().startswith(inventory.HEADER)
        assert yaml.safe_load(copy.read_text()) == yaml.safe_load(source.read_text())
    inventory.remove(directory)
    assert not directory.exists()


def test_remove_keeps_group_vars_it_did_not_write(tmp_path: Path) -> None:
    directory = inventory.write(make_state(), tmp_path)
    mine = directory / "group_vars" / "all" / "zz-by-hand.yml"
    mine.write_text("answer: 42\n")
    inventory.remove(directory)
    assert mine.exists()
    assert not (directory / "hosts.yml").exists()

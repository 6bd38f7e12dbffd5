"""plugins/module_utils/mspctl_netconfig.py: normalisation, masking, controls, fixes.

Data-driven cases on a real IOS configuration (the issue's controls: no telnet on vty lines,
SSH v2, password encryption, enable secret, NTP and logging servers, no public/private SNMP
community), and properties: normalising is idempotent, applying the planned fixes makes every
fixable control pass (so a second apply changes nothing).
"""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_netconfig as nc
from hypothesis import given, settings
from hypothesis import strategies as st

RAW = """\
Building configuration...\r
\r
Current configuration : 1234 bytes\r
!
! Last configuration change at 10:12:01 UTC Mon Nov 30 2026 by admin
! NVRAM config last updated at 10:12:05 UTC Mon Nov 30 2026 by admin
!
version 15.2
no service password-encryption
hostname sw1
!
enable password 7 0822455D0A16
username admin privilege 15 secret 5 $1$abcd$efghijklmnopqrstu
!
ip ssh version 1
snmp-server community public RO
snmp-server community s3cr3tcomm RW
tacacs-server key 7 045802150C2E
ntp clock-period 17179699
ntp server 192.0.2.1
!
interface GigabitEthernet0/1
 description uplink
 shutdown
!
line vty 0 4
 transport input telnet ssh
line vty 5 15
 transport input ssh
!
end
"""

IOS_CONTROLS: list[dict[str, Any]] = [
    {"id": "ios.password_encryption", "type": "required", "line": "service password-encryption"},
    {
        "id": "ios.no_plain_encryption",
        "type": "forbidden",
        "line": "no service password-encryption",
    },
    {"id": "ios.enable_secret", "type": "required", "match": r"^enable secret ", "fix": False},
    {"id": "ios.no_enable_password", "type": "forbidden", "match": r"^enable password "},
    {"id": "ios.ssh_v2", "type": "required", "line": "ip ssh version 2"},
    {"id": "ios.ntp", "type": "required", "match": r"^ntp server ", "fix": False},
    {"id": "ios.logging", "type": "required", "match": r"^logging (host )?\S+$", "fix": False},
    {"id": "ios.snmp", "type": "forbidden", "match": r"^snmp-server community (public|private)\b"},
    {
        "id": "ios.vty_no_telnet",
        "type": "forbidden",
        "section": r"^line vty",
        "match": r"^transport input .*telnet",
    },
    {
        "id": "ios.vty_ssh",
        "type": "required",
        "section": r"^line vty",
        "line": "transport input ssh",
    },
]


def test_normalise_drops_volatile_lines_only() -> None:
    text = nc.normalise(RAW)
    assert text.startswith("version 15.2\n")
    for gone in (
        "Building configuration",
        "Current configuration",
        "Last configuration change",
        "NVRAM config",
        "ntp clock-period",
        "\r",
    ):
        assert gone not in text
    assert "ntp server 192.0.2.1" in text
    assert text.endswith("end\n")
    # a byte count or a timestamp that moves is not a new version
    moved = RAW.replace("1234 bytes", "1240 bytes").replace("10:12:01", "11:00:00")
    assert nc.normalise(moved) == text


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("enable secret 5 $1$abc$def", "enable secret 5 <masked>"),
        ("enable password cleartext", "enable password <masked>"),
        (
            "username admin privilege 15 secret 9 $9$xyz",
            "username admin privilege 15 secret 9 <masked>",
        ),
        ("snmp-server community s3cr3tcomm RW", "snmp-server community <masked> RW"),
        ("tacacs-server key 7 045802150C2E", "tacacs-server key 7 <masked>"),
        (" key-string 7 0822455D", " key-string 7 <masked>"),
        ("hostname sw1", "hostname sw1"),
        ("service password-encryption", "service password-encryption"),
    ],
)
def test_mask(line: str, masked: str) -> None:
    assert nc.mask_line(line) == masked


def test_no_secret_survives_masking() -> None:
    text = nc.mask(nc.normalise(RAW))
    for secret in ("0822455D0A16", "$1$abcd", "s3cr3tcomm", "045802150C2E", "public"):
        assert secret not in text


EXPECTED = {
    "ios.password_encryption": "fail",
    "ios.no_plain_encryption": "fail",
    "ios.enable_secret": "fail",
    "ios.no_enable_password": "fail",
    "ios.ssh_v2": "fail",
    "ios.ntp": "pass",
    "ios.logging": "fail",
    "ios.snmp": "fail",
    "ios.vty_no_telnet": "fail",
    "ios.vty_ssh": "fail",
}


def test_the_issue_controls_on_an_ios_config() -> None:
    controls = nc.validate(IOS_CONTROLS)
    findings, fixes = nc.evaluate(nc.normalise(RAW), controls)
    assert {f["control_id"]: f["status"] for f in findings} == EXPECTED
    vty = next(f for f in findings if f["control_id"] == "ios.vty_ssh")
    assert vty["actual"] == "missing in line vty 0 4"
    snmp = next(f for f in findings if f["control_id"] == "ios.snmp")
    assert snmp["evidence"]["lines"] == ["snmp-server community <masked> RO"]
    assert ["line vty 0 4", "no transport input telnet ssh"] in fixes
    assert ["service password-encryption"] in fixes
    assert ["snmp-server community public RO"] not in fixes
    assert ["no snmp-server community public RO"] in fixes


def test_fixes_make_the_fixable_controls_pass_and_are_then_empty() -> None:
    controls = nc.validate(IOS_CONTROLS)
    _, fixes = nc.evaluate(nc.normalise(RAW), controls)
    after = nc.simulate(nc.normalise(RAW), fixes)
    findings, again = nc.evaluate(after, controls)
    failing = {f["control_id"] for f in findings if f["status"] != "pass"}
    assert failing == {"ios.enable_secret", "ios.logging"}  # fix: false, nothing to push
    assert again == []
    lines = after.splitlines()
    assert lines[lines.index("line vty 0 4") + 1] == " transport input ssh"
    assert "enable password 7 0822455D0A16" not in lines
    assert lines[-1] == "end"


def test_commands_leave_each_section() -> None:
    fixes = [["service password-encryption"], ["line vty 0 4", "transport input ssh"]]
    assert nc.commands(fixes) == [
        "service password-encryption",
        "line vty 0 4",
        "transport input ssh",
        "exit",
    ]


@pytest.mark.parametrize(
    ("control", "key"),
    [
        ({"type": "required", "line": "x"}, "id"),
        ({"id": "a", "type": "wanted", "line": "x"}, "type"),
        ({"id": "a", "type": "required"}, "line"),
        ({"id": "a", "type": "required", "match": "("}, "match"),
        ({"id": "a", "type": "required", "line": "x", "path": "/etc"}, "path"),
    ],
)
def test_invalid_controls_name_the_key(control: dict[str, Any], key: str) -> None:
    with pytest.raises(nc.ControlError) as info:
        nc.validate([control])
    assert info.value.key == key


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(nc.ControlError, match="repeats"):
        nc.validate([{"id": "a", "type": "required", "line": "x"}] * 2)


def test_a_missing_section_fails_a_required_control_and_passes_a_forbidden_one() -> None:
    controls = nc.validate(
        [
            {"id": "r", "type": "required", "section": "^line con", "line": "exec-timeout 5 0"},
            {"id": "f", "type": "forbidden", "section": "^line con", "line": "no login"},
        ]
    )
    findings, fixes = nc.evaluate("hostname a\n", controls)
    assert [f["status"] for f in findings] == ["fail", "pass"]
    assert fixes == []


_LINE = st.from_regex(r"[a-z][a-z0-9 .-]{0,20}", fullmatch=True).map(str.strip).filter(bool)


@settings(max_examples=200, deadline=None)
@given(
    top=st.lists(_LINE, max_size=8),
    children=st.lists(_LINE, max_size=4),
    required=st.lists(_LINE, max_size=3),
)
def test_apply_then_reapply_changes_nothing(
    top: list[str], children: list[str], required: list[str]
) -> None:
    text = nc.normalise("\n".join([*top, "interface Gi0/1", *(" " + c for c in children), "end"]))
    assert nc.normalise(text) == text
    controls = nc.validate(
        [{"id": f"r{i}", "type": "required", "line": line} for i, line in enumerate(required)]
        + [
            {"id": f"s{i}", "type": "required", "section": "^interface ", "line": line}
            for i, line in enumerate(required)
        ]
    )
    _, fixes = nc.evaluate(text, controls)
    after = nc.simulate(text, fixes)
    findings, again = nc.evaluate(after, controls)
    assert again == []
    assert all(f["status"] == "pass" for f in findings)


def test_restore_turns_the_current_config_into_the_stored_one() -> None:
    stored = nc.mask(nc.normalise(RAW))
    current = nc.normalise(RAW).replace(" description uplink", " description changed by hand")
    current = current.replace("ip ssh version 1\n", "ip ssh version 1\nip http server\n")
    current = current.replace("enable password 7 0822455D0A16", "enable password 7 11111111")
    fixes, skipped = nc.restore_fixes(current, stored)
    assert fixes == [
        ["no ip http server"],
        ["interface GigabitEthernet0/1", "no description changed by hand"],
        ["interface GigabitEthernet0/1", "description uplink"],
    ]
    assert skipped == []  # the enable password differs in its secret only: left alone
    restored = nc.mask(nc.simulate(current, fixes)).replace("11111111", "<masked>")
    assert sorted(restored.splitlines()) == sorted(stored.splitlines())  # the device orders
    again, _ = nc.restore_fixes(nc.simulate(current, fixes), stored)
    assert again == []


def test_restore_skips_masked_lines_the_device_lacks() -> None:
    fixes, skipped = nc.restore_fixes("hostname a\n", "hostname a\nenable secret 5 <masked>\n")
    assert fixes == []
    assert skipped == ["enable secret 5 <masked>"]

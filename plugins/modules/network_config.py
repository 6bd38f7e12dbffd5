#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: network_config
short_description: Back up, check and remediate a network device's configuration over SSH
description:
  - Runs on the controller (the play sets C(connection) to C(local)) and talks to the device
    with netmiko.
  - Fetches the running configuration and normalises it (byte counts, "Last configuration
    change" comments and the NTP clock period removed), so the returned C(config) changes only
    when the configuration does; mspctl stores it as the device's versioned backup.
  - Evaluates declarative I(controls) (required and forbidden lines, globally or in every
    section a regular expression selects) and returns one finding per control in mspctl's
    finding schema.
  - With I(remediate), pushes the lines that fix the failing controls (a missing line added, a
    forbidden line negated with C(no)). C(changed) and the diff both come from the one
    before/after pair of normalised configurations; in check mode the after state is computed,
    nothing is sent to the device, and a second apply changes nothing.
  - Parses C(show version) with ntc-templates (TextFSM) into an C(asset) record (model, serial,
    OS version, uptime).
  - Secret values (C(secret), C(password), C(key) arguments and SNMP communities) are masked in
    everything returned.
  - An unreachable device, refused credentials or an unsupported device type fail the task with
    a one-line message; the play goes on with the other hosts.
version_added: "0.2.0"
author: mspctl contributors (@mspctl)
requirements:
  - netmiko >= 4.3 on the controller
  - ntc-templates (with netmiko's TextFSM support) for the asset record
options:
  host:
    description: Address of the device's SSH server.
    type: str
    required: true
  port:
    description: SSH port.
    type: int
    default: 22
  device_type:
    description:
      - The netmiko device type. Supported today - C(cisco_ios); another value fails the task
        with the list of supported types.
    type: str
    default: cisco_ios
  username:
    description: Login user.
    type: str
    required: true
  password:
    description: Login password (from the vault).
    type: str
    required: true
  secret:
    description: Enable secret (from the vault); empty when the login is already privileged.
    type: str
    default: ""
  timeout:
    description: Seconds for connecting, authenticating and each command.
    type: int
    default: 20
  policy:
    description: The policy the findings belong to.
    type: str
    default: network
  remediate:
    description: Push the fixes of the failing controls that have one (C(fix), default true).
    type: bool
    default: true
  restore:
    description:
      - A stored configuration (normalised and masked, as C(config) returns it) to restore
        instead of remediating - lines the device has and it lacks are negated, then its missing
        lines added. Lines with a masked value are left as the device has them (listed in
        C(skipped)). The controls are still evaluated, on the restored configuration.
    type: str
  controls:
    description:
      - The controls, in order; ids must be unique. Keys are validated by the module so an error
        names the control id and the key.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: Unique id of the control, the C(control_id) of its finding.
        type: str
        required: true
      title:
        description: What the control asserts (generated when omitted).
        type: str
      type:
        description: C(required) - a line must be present; C(forbidden) - no line may be.
        type: str
        required: true
        choices: [required, forbidden]
      line:
        description:
          - An exact configuration line (runs of blanks compare equal). For C(required), the
            line pushed when it is missing.
        type: str
      match:
        description:
          - A Python regular expression searched in each line, instead of or with I(line)
            (with both, I(match) decides and I(line) is the fix).
        type: str
      section:
        description:
          - A regular expression selecting top-level lines (C(^line vty), C(^interface
            GigabitEthernet)); the control then applies to the lines of every such section.
        type: str
      fix:
        description: Whether I(remediate) may fix this control.
        type: bool
        default: true
notes:
  - Network devices are hosts of the C(network) group; the C(network) role runs this module with
    C(connection) set to C(local).
extends_documentation_fragment:
  - mspctl.policy.attributes
"""

EXAMPLES = r"""
- name: Back up and check the switch
  mspctl.policy.network_config:
    host: 192.0.2.20
    device_type: cisco_ios
    username: mspctl
    password: "{{ network_password }}"
    secret: "{{ network_enable_secret }}"
    controls:
      - id: ios.password_encryption
        type: required
        line: service password-encryption
      - id: ios.vty_no_telnet
        type: forbidden
        section: ^line vty
        match: ^transport input .*telnet
  register: network_result
"""

RETURN = r"""
config:
  description: The normalised running configuration at the end of the task, secrets masked.
  returned: success
  type: str
  sample: "version 15.2\nhostname sw1\n!\nenable secret 5 <masked>\nend\n"
config_sha256:
  description: SHA-256 of C(config).
  returned: success
  type: str
  sample: 3f0a1c...
commands:
  description: The configuration commands sent (or, in check mode, that would be), masked.
  returned: success
  type: list
  elements: str
  sample: [service password-encryption, line vty 0 4, transport input ssh, exit]
skipped:
  description: Lines of I(restore) not restored because they hold a masked secret value.
  returned: success
  type: list
  elements: str
  sample: ["enable secret 5 <masked>"]
rejected:
  description: Output lines of commands the device refused.
  returned: success
  type: list
  elements: str
  sample: ["No such command : service password-encryption"]
asset:
  description: The asset record parsed from C(show version).
  returned: success
  type: dict
  sample:
    class: network
    device_type: cisco_ios
    hostname: sw1
    vendor: Cisco
    model: WS-C3750G-24TS-1U
    serial: FOC1530X2F7
    os: {name: IOS, version: 12.2(58)SE2, image: C3750-IPSERVICESK9-M}
    uptime: 1 year, 18 weeks, 5 days, 1 hour, 11 minutes
findings:
  description: One finding per control (status pass, fail or error), evaluated on the
    configuration at the end of the task (in check mode, the device's current one).
  returned: success
  type: list
  elements: dict
  sample:
    - policy: network
      control_id: ios.password_encryption
      title: service password-encryption is present
      status: fail
      expected: service password-encryption
      actual: missing in (global)
      evidence: {lines: ["(global)"], fix: [service password-encryption]}
status:
  description: The policy's figures, counted from the findings.
  returned: success
  type: dict
  sample: {policy: network, controls: 6, pass: 5, fail: 1, error: 0}
"""

import contextlib
import re
import traceback
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.mspctl.policy.plugins.module_utils import mspctl_netconfig as netconfig
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import STATUSES

NETMIKO_IMPORT_ERROR = None
try:
    from netmiko import ConnectHandler
    from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException
    from netmiko.utilities import get_structured_data
except ImportError:
    NETMIKO_IMPORT_ERROR = traceback.format_exc()


class DeviceError(Exception):
    """The device could not be used; the message is the task's one-line failure."""


class Device:
    """A netmiko session in privileged mode, with the few operations the module needs."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.info = netconfig.DEVICE_TYPES[params["device_type"]]
        where = f"{params['host']}:{params['port']}"
        timeout = params["timeout"]
        try:
            self.conn = ConnectHandler(
                device_type=params["device_type"],
                host=params["host"],
                port=params["port"],
                username=params["username"],
                password=params["password"],
                secret=params["secret"],
                conn_timeout=timeout,
                auth_timeout=timeout,
                banner_timeout=timeout,
                read_timeout_override=timeout,
            )
        except NetmikoAuthenticationException:
            raise DeviceError(
                f"authentication failed at {where} for user {params['username']}"
            ) from None
        except NetmikoTimeoutException:
            raise DeviceError(f"cannot reach {where}: connection timed out or refused") from None
        except Exception as exc:  # paramiko/socket errors come in many classes
            raise DeviceError(f"cannot connect to {where}: {_one_line(exc)}") from None
        try:
            if not self.conn.check_enable_mode():
                self.conn.enable()
        except Exception as exc:
            self.close()
            raise DeviceError(
                f"cannot enter privileged mode at {where} (enable secret?): {_one_line(exc)}"
            ) from None

    def show(self, command: str) -> str:
        return str(self.conn.send_command(command))

    def config(self) -> str:
        return netconfig.normalise(self.show(self.info["show_config"]))

    def version(self) -> dict[str, Any]:
        raw = self.show(self.info["show_version"])
        try:  # ntc-templates' TextFSM template, on the text already read (no second command)
            parsed = get_structured_data(
                raw, platform=self.info["textfsm_platform"], command=self.info["show_version"]
            )
        except Exception:
            parsed = None
        return asset_record(raw, parsed)

    def push(self, commands: list[str]) -> list[str]:
        """Send configuration commands; the output lines of refused ones."""
        output = self.conn.send_config_set(commands, exit_config_mode=False)
        # some IOS images (and simulators) do not know `end`: leave with `exit` then
        for leave in ("end", "exit"):
            try:
                self.conn.exit_config_mode(exit_config=leave)
                break
            except ValueError:
                continue
        return [
            m.group(0).strip()
            for m in re.finditer(r"^.*$", output, re.MULTILINE)
            if netconfig.REJECTED.match(m.group(0))
        ]

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a session that is gone needs no closing
            self.conn.disconnect()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def asset_record(raw: str, parsed: Any) -> dict[str, Any]:
    """The asset record of a Cisco ``show version``: the TextFSM record when it parsed,
    otherwise what a few regular expressions find in the text."""
    record: dict[str, Any] = {}
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        record = parsed[0]

    def first(value: Any) -> Any:
        if isinstance(value, list):
            return value[0] if value else None
        return value or None

    def search(pattern: str) -> str | None:
        match = re.search(pattern, raw, re.MULTILINE)
        return match.group(1).strip() if match else None

    return {
        "class": "network",
        "vendor": "Cisco",
        "hostname": first(record.get("hostname")) or search(r"^(\S+) uptime is"),
        "model": first(record.get("hardware")) or search(r"^[Cc]isco (\S+) .* processor"),
        "serial": first(record.get("serial")) or search(r"^System serial number\s*:\s*(\S+)"),
        "os": {
            "name": "IOS",
            "version": first(record.get("version")) or search(r"Version ([^,\s]+)"),
            "image": first(record.get("software_image")),
        },
        "uptime": first(record.get("uptime")) or search(r" uptime is (.+)$"),
    }


def run(module: AnsibleModule, device: Device, controls: list[dict[str, Any]]) -> dict[str, Any]:
    """Read, compare, fix (outside check mode), read again: the module's result."""
    params = module.params
    policy = params["policy"]
    asset = device.version()
    asset["device_type"] = params["device_type"]
    before = device.config()
    findings, fixes = netconfig.evaluate(before, controls, policy)
    skipped: list[str] = []
    if params["restore"] is not None:
        fixes, skipped = netconfig.restore_fixes(before, params["restore"])
    elif not params["remediate"]:
        fixes = []
    commands = netconfig.commands(fixes)
    rejected: list[str] = []
    if not commands:
        after = before
    elif module.check_mode:
        after = netconfig.simulate(before, fixes)
    else:
        rejected = device.push(commands)
        after = device.config()
        findings = netconfig.evaluate(after, controls, policy)[0]
        if rejected:
            findings.append(
                netconfig.error_finding(
                    policy,
                    f"{policy}.push",
                    "The device accepts the configuration lines the controls push",
                    "; ".join(netconfig.mask_line(x) for x in rejected)[:1000],
                )
            )
    current = before if module.check_mode else after
    status: dict[str, Any] = {"policy": policy, "controls": len(findings)}
    for name in STATUSES:
        status[name] = sum(1 for item in findings if item["status"] == name)
    masked_before, masked_after = netconfig.mask(before), netconfig.mask(after)
    result: dict[str, Any] = {
        "changed": before != after,
        "config": netconfig.mask(current),
        "config_sha256": netconfig.digest(netconfig.mask(current)),
        "commands": [netconfig.mask_line(c) for c in commands],
        "rejected": [netconfig.mask_line(x) for x in rejected],
        "skipped": skipped,
        "asset": asset,
        "findings": findings,
        "status": status,
    }
    if module._diff and before != after:
        header = f"{params['host']} running-config"
        result["diff"] = {
            "before": masked_before,
            "after": masked_after,
            "before_header": header,
            "after_header": header,
        }
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True),
            port=dict(type="int", default=22),
            device_type=dict(type="str", default="cisco_ios"),
            username=dict(type="str", required=True),
            password=dict(type="str", required=True, no_log=True),
            secret=dict(type="str", default="", no_log=True),
            timeout=dict(type="int", default=20),
            policy=dict(type="str", default="network"),
            remediate=dict(type="bool", default=True),
            restore=dict(type="str"),
            # element keys are validated by netconfig.validate, so an error names the control
            controls=dict(type="list", elements="dict", default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["device_type"] not in netconfig.DEVICE_TYPES:
        supported = ", ".join(sorted(netconfig.DEVICE_TYPES))
        module.fail_json(
            msg=f"unsupported device type {params['device_type']!r} (supported: {supported})"
        )
    try:
        controls = netconfig.validate(params["controls"])
    except netconfig.ControlError as exc:
        module.fail_json(
            msg=f"invalid control definition: {exc}", control_id=exc.control_id, key=exc.key
        )
    if NETMIKO_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("netmiko"), exception=NETMIKO_IMPORT_ERROR)
    try:
        device = Device(params)
    except DeviceError as exc:
        module.fail_json(msg=str(exc))
    try:
        result = run(module, device, controls)
    except Exception as exc:  # a session dropped halfway: one line, never a traceback
        module.fail_json(msg=f"{params['host']}:{params['port']}: {_one_line(exc)}")
    finally:
        device.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()

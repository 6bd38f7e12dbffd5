#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: asset_facts
short_description: Collect a host's hardware and software inventory in one pass
description:
  - Reads DMI, CPU, memory, disks, network interfaces, the OS release and the installed
    package list of a Linux host and returns them as one C(asset) record.
  - The package list itself is not returned, only its size and a SHA-256 digest, so a run's
    artifacts stay small and a package change is still visible as a digest change.
  - Warranty data (purchase date, warranty end, vendor contract) is passed in from host vars and
    validated; the module reports its status relative to today.
  - Read-only; never reports a change.
version_added: "0.1.0"
author: mspctl contributors (@mspctl)
options:
  warranty:
    description: Warranty data of the asset from the inventory.
    type: dict
    default: {}
    suboptions:
      purchase_date:
        description: Purchase date, ISO C(YYYY-MM-DD).
        type: str
      warranty_end:
        description: End of the manufacturer warranty, ISO C(YYYY-MM-DD).
        type: str
      vendor_contract:
        description: Vendor support contract reference.
        type: str
  warranty_warn_days:
    description: A warranty ending within this many days is reported as C(expiring).
    type: int
    default: 90
  collect_packages:
    description: Count and digest the installed packages.
    type: bool
    default: true
  warranty_tracking:
    description:
      - Evaluate the warranty controls (C(assets.warranty_recorded), C(assets.warranty_valid)).
      - Without it only C(assets.inventory_collected) is reported.
    type: bool
    default: false
notes:
  - Linux only; Windows hosts use the role's Windows task file.
extends_documentation_fragment:
  - mspctl.policy.attributes.read_only
"""

EXAMPLES = r"""
- name: Collect the asset record
  mspctl.policy.asset_facts:
    warranty:
      purchase_date: "2024-03-01"
      warranty_end: "2027-03-01"
      vendor_contract: "DELL-PS-1234"
  register: assets_record
"""

RETURN = r"""
findings:
  description: Compliance findings of the assets policy, in mspctl's finding schema.
  returned: always
  type: list
  elements: dict
  sample:
    - policy: assets
      control_id: assets.warranty_valid
      title: Hardware is under warranty
      status: fail
      expected: warranty end in the future
      actual: "expired 2025-01-31"
      evidence: {warranty_end: "2025-01-31", vendor_contract: "DELL-PS-1234"}
asset:
  description: The asset record.
  returned: always
  type: dict
  sample:
    vendor: QEMU
    model: Standard PC
    serial: "ABC123"
    cpu: {model: "Intel Xeon", cores: 2}
    memory_mb: 2048
    disks: [{name: vda, size_bytes: 21474836480, rotational: false}]
    os: {name: Debian GNU/Linux, version: "12", codename: bookworm}
    kernel: 6.1.0-18-amd64
    interfaces: [{name: eth0, mac: "52:54:00:12:34:56", addresses: ["10.0.0.5/24"]}]
    packages: {manager: dpkg, count: 412, digest: "sha256:..."}
    warranty: {status: valid, days_left: 400, purchase_date: "2024-03-01"}
"""

import datetime
import hashlib
import json
import os
import platform
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_assets import (
    evaluate,
    warranty_status,
)


def read(path: str, default: str | None = None) -> str | None:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return default


def dmi() -> dict[str, Any]:
    base = "/sys/class/dmi/id"
    return {
        "vendor": read(os.path.join(base, "sys_vendor")),
        "model": read(os.path.join(base, "product_name")),
        "serial": read(os.path.join(base, "product_serial")),
    }


def cpu() -> dict[str, Any]:
    model: str | None = None
    cores = 0
    for line in (read("/proc/cpuinfo", "") or "").splitlines():
        if line.startswith("model name") and model is None:
            model = line.split(":", 1)[1].strip()
        if line.startswith("processor"):
            cores += 1
    return {"model": model, "cores": cores}


def memory_mb() -> int | None:
    for line in (read("/proc/meminfo", "") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return None


def disks() -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    root = "/sys/block"
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        if name.startswith(("loop", "ram", "zram", "dm-", "sr")):
            continue
        sectors = read(os.path.join(root, name, "size"))
        result.append(
            {
                "name": name,
                "size_bytes": int(sectors) * 512 if sectors and sectors.isdigit() else None,
                "rotational": read(os.path.join(root, name, "queue", "rotational")) == "1",
            }
        )
    return result


def interfaces(module: AnsibleModule) -> list[dict[str, Any]]:
    rc, out, _err = module.run_command(["ip", "-j", "address", "show"])
    if rc != 0:
        return []
    result: list[dict[str, Any]] = []
    for link in json.loads(out or "[]"):
        if link.get("ifname") == "lo":
            continue
        result.append(
            {
                "name": link.get("ifname"),
                "mac": link.get("address"),
                "addresses": sorted(
                    "{}/{}".format(a["local"], a["prefixlen"])
                    for a in link.get("addr_info", [])
                    if a.get("scope") == "global"
                ),
            }
        )
    return sorted(result, key=lambda i: i["name"] or "")


def os_release() -> dict[str, str | None]:
    data: dict[str, str] = {}
    for line in (read("/etc/os-release", "") or "").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            data[key] = value.strip('"')
    return {
        "name": data.get("NAME"),
        "version": data.get("VERSION_ID"),
        "codename": data.get("VERSION_CODENAME"),
    }


def packages(module: AnsibleModule) -> dict[str, Any]:
    rc, out, _err = module.run_command(["dpkg-query", "-W", "-f", "${Package}=${Version}\\n"])
    if rc != 0:
        return {"manager": None, "count": None, "digest": None}
    names = sorted(line for line in out.splitlines() if line)
    digest = hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()
    return {"manager": "dpkg", "count": len(names), "digest": "sha256:" + digest}


def warranty(module: AnsibleModule, data: dict[str, Any], warn_days: int) -> dict[str, Any]:
    try:
        return warranty_status(data, warn_days, datetime.date.today())
    except ValueError as exc:
        module.fail_json(msg=str(exc))
        raise


def main() -> None:

    module = AnsibleModule(
        argument_spec=dict(
            warranty=dict(
                type="dict",
                default={},
                options=dict(
                    purchase_date=dict(type="str"),
                    warranty_end=dict(type="str"),
                    vendor_contract=dict(type="str"),
                ),
            ),
            warranty_warn_days=dict(type="int", default=90),
            collect_packages=dict(type="bool", default=True),
            warranty_tracking=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    asset = dmi()
    asset.update(
        cpu=cpu(),
        memory_mb=memory_mb(),
        disks=disks(),
        os=os_release(),
        kernel=platform.release(),
        interfaces=interfaces(module),
        packages=packages(module) if module.params["collect_packages"] else None,
        warranty=warranty(
            module, module.params["warranty"] or {}, module.params["warranty_warn_days"]
        ),
    )
    module.exit_json(
        changed=False, asset=asset, findings=evaluate(asset, module.params["warranty_tracking"])
    )


if __name__ == "__main__":
    main()

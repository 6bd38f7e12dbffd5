#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin of the same name (plugins/action/win_asset_facts.py):
# a short read-only PowerShell probe through ansible.windows.win_powershell, judged in Python
# on the controller. This file holds its documentation only.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: win_asset_facts
short_description: Collect a Windows host's asset record and evaluate the assets controls
description:
  - The Windows counterpart of M(mspctl.policy.asset_facts), with the same C(asset) record keys
    (vendor, model, serial, cpu, memory_mb, disks, os, kernel, warranty) plus C(bitlocker)
    and C(defender).
  - Runs a short PowerShell probe (through C(ansible.windows.win_powershell)) reading
    C(Win32_ComputerSystem), C(Win32_BIOS), C(Win32_OperatingSystem), the C(CurrentVersion)
    registry key (edition, display version, update build revision), C(Get-Disk),
    C(Get-BitLockerVolume) and C(Get-MpComputerStatus); the record and the findings are made
    on the controller (C(plugins/module_utils/mspctl_winassets.py)).
  - Controls C(assets.inventory_collected), C(assets.warranty_recorded) and
    C(assets.warranty_valid) as on Linux; C(assets.antivirus) (Defender real-time protection
    on, signatures at most 7 days old; passive mode passes) and, with O(bitlocker_required),
    C(assets.disk_encryption).
  - With O(collect_packages), the installed programs from the uninstall registry keys of both
    registry views (64-bit and 32-bit) in C(packages) (C(manager), C(count), C(digest) as on
    Linux, plus C(programs)), what Apps & Features lists, each once; system components, updates
    of another entry and hotfixes are left out.
  - Read-only; never reports a change.
version_added: "0.2.0"
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
  warranty_tracking:
    description: Evaluate the warranty controls.
    type: bool
    default: false
  bitlocker_required:
    description: Evaluate C(assets.disk_encryption) (BitLocker on every OS and fixed data volume).
    type: bool
    default: false
  collect_packages:
    description: Read the installed programs into C(packages).
    type: bool
    default: true
attributes:
  platform:
    platforms: windows
extends_documentation_fragment:
  - mspctl.policy.attributes.read_only
  - mspctl.policy.attributes.windows_action
"""

EXAMPLES = r"""
- name: Collect the Windows asset record
  mspctl.policy.win_asset_facts:
    warranty_tracking: true
    warranty: {purchase_date: "2024-03-01", warranty_end: "2029-03-01"}
    bitlocker_required: true
"""

RETURN = r"""
asset:
  description: The asset record.
  returned: success
  type: dict
  sample:
    vendor: Dell Inc.
    model: PowerEdge T150
    serial: 9XK2QH3
    memory_mb: 32768
    os: {name: Microsoft Windows Server 2022 Standard, version: 21H2, edition: ServerStandard,
         build: "20348.2849"}
    bitlocker: [{mount_point: "C:", volume_type: OperatingSystem, protection: "On"}]
    defender: {realtime: true, mode: Normal, signatures_updated: "2026-11-30T06:12:44.1230000Z"}
    packages:
      manager: windows-uninstall
      count: 1
      digest: "sha256:..."
      programs:
        - {name: 7-Zip 24.09 (x64), version: "24.09", publisher: Igor Pavlov,
           installed: "2026-10-02", architecture: x64, msi_product_code: null}
findings:
  description: Findings in mspctl's schema (C(plugins/module_utils/mspctl_findings.py)).
  returned: success
  type: list
  elements: dict
  sample:
    - policy: assets
      control_id: assets.antivirus
      title: Antivirus protects the host in real time
      status: pass
      expected: Defender real-time protection on, signatures at most 7 days old
      actual: real-time protection on, signatures 0.2 days old
      evidence: {mode: Normal}
"""

#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin of the same name (plugins/action/win_monitoring_status.py):
# a short read-only PowerShell probe through ansible.windows.win_powershell, judged in Python
# on the controller. This file holds its documentation only.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: win_monitoring_status
short_description: Report the monitoring policy's findings on a Windows host
description:
  - The Windows counterpart of M(mspctl.policy.monitoring_status), for windows_exporter.
  - Runs a short PowerShell probe (through C(ansible.windows.win_powershell)) reading the
    exporter's service, its firewall rule and the relevant lines of its C(/metrics); the
    findings are made on the controller (C(plugins/module_utils/mspctl_winmonitoring.py)).
  - Controls C(monitoring.agent_running), C(monitoring.firewall_rule),
    C(monitoring.metrics_exposed) (C(windows_exporter_build_info) and the C(mspctl_*) textfile
    metrics), C(monitoring.disk_usage) (with the C(disk_usage) check) and C(monitoring.msp_hook).
  - Read-only; never reports a change.
version_added: "0.2.0"
author: mspctl contributors (@mspctl)
options:
  service:
    description: The exporter's Windows service name.
    type: str
    default: windows_exporter
  rule:
    description: The name (C(-Name), not the display name) of the exporter's firewall rule.
    type: str
    default: mspctl-windows-exporter
  port:
    description: The port the exporter listens on.
    type: int
    default: 9182
  allowed_addresses:
    description: Addresses the rule must let in (the MSP's Prometheus); empty for any.
    type: list
    elements: str
    default: []
  checks:
    description: The checks the policy enables; C(disk_usage) adds the disk control.
    type: list
    elements: str
    default: []
  disk_crit_percent:
    description: Usage of a volume, in percent, above which it fails the disk control.
    type: int
    default: 95
  msp_hook:
    description: C(server), C(target) and C(target_file) of the host's registration.
    type: dict
    default: {}
attributes:
  platform:
    platforms: windows
extends_documentation_fragment:
  - mspctl.policy.attributes.read_only
  - mspctl.policy.attributes.windows_action
"""

EXAMPLES = r"""
- name: Report the monitoring status (Windows)
  mspctl.policy.win_monitoring_status:
    port: 9182
    checks: [disk_usage]
    allowed_addresses: [192.0.2.5]
  register: monitoring_report
"""

RETURN = r"""
findings:
  description: Findings in mspctl's schema (C(plugins/module_utils/mspctl_findings.py)).
  returned: always
  type: list
  elements: dict
  sample:
    - policy: monitoring
      control_id: monitoring.agent_running
      title: The windows_exporter service is running and starts automatically
      status: pass
      expected: Running, Auto
      actual: Running, Auto
      evidence: {service: windows_exporter}
status:
  description: The policy's figures (C(platform), C(agent), C(disks), C(msp_hook)).
  returned: always
  type: dict
  sample: {platform: windows, disks: [{mountpoint: "C:", used_percent: 41.2}]}
"""

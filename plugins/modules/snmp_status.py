#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: snmp_status
short_description: Report the compliance findings of an SNMP device (NAS, printer)
description:
  - Asks the MSP's snmp_exporter (run it on the MSP monitoring host, where the exporter
    listens) for one device with the monitoring role's exporter module, and turns the samples
    into findings in the schema of mspctl's C(mspctl_findings) module utility; the alert rules
    and the compliance report read the same data.
  - "NAS controls: C(snmp.nas.system), C(snmp.nas.raid) (no volume degraded or crashed),
    C(snmp.nas.disks) (no disk failing), C(snmp.nas.temperature), C(snmp.nas.free_space).
    Printer controls: C(snmp.printer.status) (not in error), C(snmp.printer.supplies) (every
    supply above the threshold). C(snmp.reachable): the exporter could query the device."
  - Read-only; never reports a change.
version_added: "0.1.0"
author: mspctl contributors (@mspctl)
options:
  exporter:
    description: Base URL of the snmp_exporter.
    type: str
    default: http://127.0.0.1:9116
  target:
    description: Address of the device.
    type: str
    required: true
  module:
    description: The exporter module to query it with.
    type: str
    required: true
  kind:
    description: Which controls apply.
    type: str
    required: true
    choices: [nas, printer]
  toner_min_percent:
    description: A supply under this level (percent of its capacity) fails.
    type: float
    default: 10
  nas_temperature_max:
    description: A NAS warmer than this (Celsius) fails.
    type: float
    default: 60
  nas_free_min_percent:
    description: A NAS volume with less free space (percent) fails.
    type: float
    default: 10
  nas_volume_prefixes:
    description: Mount points (hrStorageDescr prefixes) that are data volumes.
    type: list
    elements: str
    default: [/volume]
  timeout:
    description: Seconds to wait for the exporter.
    type: float
    default: 20
extends_documentation_fragment:
  - mspctl.policy.attributes.read_only
"""

EXAMPLES = r"""
- name: Report the SNMP device's findings
  mspctl.policy.snmp_status:
    target: 192.0.2.20
    module: acme_nas
    kind: nas
  delegate_to: "{{ monitoring_server }}"
"""

RETURN = r"""
findings:
  description: One finding per control.
  returned: always
  type: list
  elements: dict
  sample:
    - policy: monitoring
      control_id: snmp.nas.raid
      title: Every RAID volume of the NAS is healthy (not degraded nor crashed)
      status: fail
      expected: raidStatus < 11 for 1 volume(s)
      actual: "degraded or crashed: Volume 1"
      evidence: {raids: {Volume 1: 11}}
status:
  description: The device's figures.
  returned: always
  type: dict
  sample: {kind: nas, target: 192.0.2.20, samples: 17, failed: 1}
"""

from urllib.error import URLError
from urllib.parse import urlencode

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import Findings
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_snmp import (
    nas_findings,
    parse,
    printer_findings,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "exporter": {"type": "str", "default": "http://127.0.0.1:9116"},
            "target": {"type": "str", "required": True},
            "module": {"type": "str", "required": True},
            "kind": {"type": "str", "required": True, "choices": ["nas", "printer"]},
            "toner_min_percent": {"type": "float", "default": 10},
            "nas_temperature_max": {"type": "float", "default": 60},
            "nas_free_min_percent": {"type": "float", "default": 10},
            "nas_volume_prefixes": {"type": "list", "elements": "str", "default": ["/volume"]},
            "timeout": {"type": "float", "default": 20},
        },
        supports_check_mode=True,
    )
    params = module.params
    query = urlencode({"target": params["target"], "module": params["module"]})
    url = "{}/snmp?{}".format(params["exporter"].rstrip("/"), query)
    try:
        with open_url(url, timeout=params["timeout"]) as response:  # the MSP's own exporter
            text = response.read().decode("utf-8", "replace")
        error = None
    except (URLError, OSError) as exc:
        text, error = "", str(exc)
    samples = parse(text)
    reachable = Findings("monitoring")
    if error or not samples:
        reachable.error(
            "snmp.reachable",
            "The MSP's snmp_exporter can query the device",
            error or "no sample",
            evidence={"module": params["module"]},
        )
        findings = reachable.as_list()
    else:
        reachable.check(
            "snmp.reachable",
            "The MSP's snmp_exporter can query the device",
            True,
            expected="samples",
            actual=f"{len(samples)} samples",
        )
        evaluate = nas_findings if params["kind"] == "nas" else printer_findings
        findings = reachable.as_list() + evaluate(samples, params).as_list()
    module.exit_json(
        changed=False,
        findings=findings,
        status={
            "kind": params["kind"],
            "target": params["target"],
            "samples": len(samples),
            "failed": len([f for f in findings if f["status"] != "pass"]),
        },
    )


if __name__ == "__main__":
    main()

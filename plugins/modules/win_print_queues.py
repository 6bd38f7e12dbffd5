#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin of the same name (plugins/action/win_print_queues.py):
# short PowerShell scripts (PrintManagement cmdlets) through ansible.windows.win_powershell, the
# plan made in Python on the controller. This file holds its documentation only.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: win_print_queues
short_description: Windows print drivers, TCP/IP ports and queues from the inventory
description:
  - The Windows counterpart of M(mspctl.policy.cups_queue) and M(mspctl.policy.printer_status)
    in one task.
  - Reads the drivers, ports and queues (C(Get-PrinterDriver), C(Get-PrinterPort),
    C(Get-Printer)), plans the changes on the controller
    (C(plugins/module_utils/mspctl_winprinters.py)) - add the missing drivers (from the Windows
    driver store), the Standard TCP/IP ports and the queues, correct a queue's driver, port,
    sharing, location or comment, remove absent and (with O(remove_unlisted)) unlisted queues.
  - C(changed) and the diff come from the same before/after pair. In check mode nothing is
    written and the findings describe the host as it is.
  - Returns C(findings) (C(printers.queue_present.NAME), C(printers.device_uri.NAME),
    C(printers.queue_absent.NAME), C(printers.unlisted)).
  - Queue URIs are C(socket://HOST[:PORT]) (RAW) or C(lpd://HOST/QUEUE); the port is named
    C(mspctl_HOST_PORT). The default printer is per user on Windows and is not set.
version_added: "0.2.0"
author: mspctl contributors (@mspctl)
options:
  queues:
    description: The host's print queues (the printers role's C(printers_queues)).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Queue name.
        type: str
        required: true
      uri:
        description: The device, C(socket://HOST[:PORT]) or C(lpd://HOST/QUEUE).
        type: str
      driver:
        description: Name of a driver in the Windows driver store; required when present.
        type: str
      description:
        description: The queue's comment.
        type: str
      location:
        description: Where the printer is.
        type: str
      default:
        description: Ignored on Windows (the default printer is per user).
        type: bool
        default: false
      shared:
        description: Share the queue (only with O(sharing)).
        type: bool
        default: false
      error_policy:
        description: Ignored on Windows (a CUPS setting).
        type: str
      state:
        description: C(absent) removes the queue.
        type: str
        choices: [present, absent]
        default: present
  remove_unlisted:
    description: Remove the queues on TCP/IP ports that O(queues) does not name.
    type: bool
    default: false
  sharing:
    description: Allow shared queues.
    type: bool
    default: false
attributes:
  platform:
    platforms: windows
requirements:
  - the PrintManagement module on the host (Windows 8 / Server 2012 and later)
extends_documentation_fragment:
  - mspctl.policy.attributes
  - mspctl.policy.attributes.windows_action
"""

EXAMPLES = r"""
- name: Configure and report the print queues (Windows)
  mspctl.policy.win_print_queues:
    queues:
      - name: office
        uri: socket://192.0.2.40:9100
        driver: Microsoft PCL6 Class Driver
        location: First floor
"""

RETURN = r"""
actions:
  description: The changes planned (and made, outside check mode), in order.
  returned: success
  type: list
  elements: dict
  sample: [{op: add_port, name: mspctl_192.0.2.40_9100, host: 192.0.2.40, port: 9100}]
findings:
  description: Findings in mspctl's schema.
  returned: success
  type: list
  elements: dict
  sample:
    - policy: printers
      control_id: printers.queue_present.office
      title: Queue office is present
      status: pass
      expected: present
      actual: present
      evidence: {queue: office}
"""

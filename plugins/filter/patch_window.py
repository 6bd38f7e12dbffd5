# Copyright: (c) mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible filter ``mspctl.policy.patch_window``: is a patch window open now?"""

# Ansible's plugin layout puts DOCUMENTATION, EXAMPLES and RETURN before the imports.

from __future__ import annotations

DOCUMENTATION = r"""
name: patch_window
short_description: Evaluate a patch window spec at an instant
version_added: historical
description:
  - Validates a patch window spec and reports whether it is open at O(now), the
    current occurrence and the next one.
  - Start times are local wall-clock times in O(_input.timezone); durations are elapsed
    time. A start time skipped by a DST change starts at the end of the gap; an
    ambiguous one uses its first occurrence.
  - Fails with the offending key named when the spec is invalid.
positional: now
options:
  _input:
    description: The window spec.
    type: dict
    required: true
    suboptions:
      days:
        description:
          - C(daily), weekdays (C(mon) .. C(sun)) or Nth weekdays (C(1st) .. C(4th),
            C(last) followed by a weekday, for example C(2nd tue)).
          - Required unless O(_input.date) is given; not both.
        type: list
        elements: str
      date:
        description:
          - A one-off window (a booked maintenance) on this local date C(YYYY-MM-DD),
            instead of O(_input.days); same start, duration and DST rules.
        type: str
      start:
        description: Local start time C(HH:MM). Quote it in YAML, C("22:00").
        type: str
        required: true
      duration:
        description: Length, C(90m), C(4h) or C(1h30m); at most C(24h).
        type: str
        required: true
      timezone:
        description: IANA time zone of the client, for example C(Europe/Paris).
        type: str
        required: true
      blackout_dates:
        description:
          - Local dates (C(YYYY-MM-DD)) or inclusive ranges C({from, to}) on which no
            occurrence starts. Ranges must not overlap.
        type: list
        elements: raw
        default: []
  now:
    description:
      - The instant to evaluate, an ISO 8601 string with an offset or C(Z), or an
        aware datetime. Defaults to the current time.
    type: raw
"""

EXAMPLES = r"""
- name: Check the server patch window
  ansible.builtin.set_fact:
    patching_window_status: "{{ patching_window | mspctl.policy.patch_window }}"
  vars:
    patching_window:
      days: [sat, sun]
      start: "22:00"
      duration: 4h
      timezone: Europe/Paris
      blackout_dates:
        - {from: "2026-12-20", to: "2027-01-02"}

- name: Evaluate Patch Tuesday at a fixed instant
  ansible.builtin.debug:
    msg: >-
      {{ {'days': ['2nd tue'], 'start': '19:00', 'duration': '3h', 'timezone': 'America/New_York'}
         | mspctl.policy.patch_window('2026-03-10T23:30:00Z') }}
"""

RETURN = r"""
_value:
  description: The window status.
  type: dict
  contains:
    open:
      description: Whether the window is open at O(now).
      type: bool
      sample: false
    reason:
      description:
        - C(inside window), C(outside window), or C(blackout) when an occurrence would
          be open but its date is blacked out.
      type: str
      sample: outside window
    now:
      description: The instant evaluated, UTC.
      type: str
      sample: "2026-03-07T20:00:00+00:00"
    timezone:
      description: The window's time zone.
      type: str
      sample: Europe/Paris
    current:
      description:
        - The open occurrence, or null when closed. C(start) and C(end) are UTC,
          C(start_local) and C(end_local) in the window's time zone.
      type: dict
      sample: null
    next_start:
      description:
        - Start (UTC) of the next occurrence starting after O(now), open or not; null
          only if blackouts cover the rest of the calendar.
      type: str
      sample: "2026-03-07T21:00:00+00:00"
    next_end:
      description: End of that occurrence (UTC).
      type: str
      sample: "2026-03-08T01:00:00+00:00"
    next_start_local:
      description: Start of that occurrence in the window's time zone.
      type: str
      sample: "2026-03-07T22:00:00+01:00"
    next_end_local:
      description: End of that occurrence in the window's time zone.
      type: str
      sample: "2026-03-08T02:00:00+01:00"
"""

import datetime
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.mspctl.policy.plugins.module_utils import patch_window as _pw


def patch_window(spec: Any, now: Any = None) -> dict[str, Any]:
    """Evaluate window ``spec`` at ``now`` (default: the current time)."""
    try:
        window = _pw.parse_window(spec)
    except _pw.WindowError as exc:
        raise AnsibleFilterError(f"patch_window: invalid window: {exc}") from exc
    if now is None or now == "":
        instant = datetime.datetime.now(datetime.timezone.utc)
    else:
        try:
            instant = _pw.parse_instant(now)
        except (TypeError, ValueError) as exc:
            raise AnsibleFilterError(f"patch_window: invalid now: {exc}") from exc
    result: dict[str, Any] = _pw.evaluate(window, instant)
    return result


class FilterModule:
    """Patch window filters."""

    def filters(self) -> dict[str, Any]:
        return {"patch_window": patch_window}

#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cups_queue
short_description: Bring the CUPS print queues of a host to a list, in one call
description:
  - Compares the queues of the local CUPS scheduler with the list given and adds, changes or
    removes queues with C(lpadmin) so they match in device URI, driver, description, location,
    sharing, error policy, enabled and accepting jobs. Sets the server's default queue
    (C(lpadmin -d)) and, when O(sharing) is given, whether CUPS publishes shared queues to the
    network (C(cupsctl --[no-]share-printers)).
  - Queues the list does not name are left alone unless O(remove_unlisted=true); a queue with
    O(queues[].state=absent) is always removed. Temporary queues CUPS makes for printers it
    discovers are never touched.
  - The state is read over IPP from the scheduler's local socket, before and after; C(changed)
    and the diff come from that one before/after pair. After a change the module reads the
    state again and fails if CUPS did not take it.
  - CUPS 2.4 warns that raw queues and PPD drivers are deprecated; both still work and are the
    way to reach C(socket://) and C(lpd://) printers. Prefer C(everywhere) for IPP printers.
version_added: "0.1.0"
author: mspctl contributors (@mspctl)
options:
  queues:
    description: The queues the host should have.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Queue name. CUPS compares names ignoring case; an existing queue keeps its case.
        type: str
        required: true
      uri:
        description:
          - Device URI, for example V(socket://10.0.0.20:9100), V(ipp://printer.lan/ipp/print)
            or V(lpd://10.0.0.21/queue). Required when O(queues[].state=present).
          - CUPS never reports the user name or password of a URI, so they are compared without
            them (a changed password alone is not seen).
        type: str
      driver:
        description:
          - V(everywhere) (IPP Everywhere, the driver is made from the printer's own
            description; the printer must answer at setup time and the URI must be
            C(ipp://)/C(ipps://)), V(raw) (bytes are passed unchanged, so the job must already be
            in the printer's language), or a model name from C(lpinfo -m), for example
            V(drv:///sample.drv/generic.ppd).
          - Default V(everywhere) for C(ipp://)/C(ipps://) URIs, V(raw) otherwise.
        type: str
      description:
        description: Human-readable description (C(printer-info)). Left alone when not given.
        type: str
      location:
        description: Where the printer is (C(printer-location)). Left alone when not given.
        type: str
      shared:
        description:
          - Share the queue. Only has an effect when the server publishes shared queues
            (O(sharing=true)).
        type: bool
        default: false
      default:
        description: Make this queue the server's default. At most one queue may say so.
        type: bool
        default: false
      error_policy:
        description: What CUPS does when the printer fails. Left alone when not given.
        type: str
        choices: [abort-job, retry-current-job, retry-job, stop-printer]
      state:
        description: V(absent) removes the queue.
        type: str
        choices: [present, absent]
        default: present
  default:
    description:
      - Name of the default queue; wins over the O(queues[].default) flags. Must be a present
        queue of O(queues). When no queue is named, the default is left alone.
    type: str
  remove_unlisted:
    description: Remove the queues that O(queues) does not name.
    type: bool
    default: false
  sharing:
    description:
      - V(true) publishes shared queues to the local network (CUPS listens on every interface),
        V(false) keeps CUPS local-only. Not given, the setting is left alone.
    type: bool
requirements:
  - CUPS (C(cups-daemon), C(cups-client)); C(cups-filters) for PPD and IPP Everywhere drivers.
notes:
  - A host without a running CUPS has no queue and shares nothing. That is fine when the list
    has no present queue and O(sharing) is not V(true) (nothing to do, so a host that prints
    nowhere needs no CUPS); in check mode every present queue is then reported as to be added;
    otherwise the module fails.
  - Printer options (paper size, duplex) are not managed.
extends_documentation_fragment:
  - mspctl.policy.attributes
"""

EXAMPLES = r"""
- name: Configure the print queues
  mspctl.policy.cups_queue:
    queues:
      - name: office
        uri: ipp://10.0.0.20/ipp/print
        driver: everywhere
        location: 1st floor, copy room
        description: Office MFP
        default: true
      - name: labels
        uri: socket://10.0.0.21:9100
        driver: raw
      - name: old-laser
        state: absent
    remove_unlisted: false
    sharing: false
"""

RETURN = r"""
queues:
  description:
    - The queues after the run (planned ones in check mode), by name, in the terms compared.
      Only the fields the list manages are given for a listed queue.
  returned: always
  type: dict
  sample:
    office:
      uri: ipp://10.0.0.20/ipp/print
      driver: everywhere
      description: Office MFP
      location: 1st floor, copy room
      shared: false
      enabled: true
default:
  description: The server's default queue after the run.
  returned: always
  type: str
  sample: office
sharing:
  description: Whether CUPS publishes shared queues after the run; null when not managed.
  returned: always
  type: bool
  sample: false
commands:
  description: The commands run (or that would run in check mode), passwords of URIs removed.
  returned: always
  type: list
  elements: list
  sample: [["lpadmin", "-p", "office", "-E", "-v", "ipp://10.0.0.20/ipp/print", "-m", "everywhere"]]
diff:
  description:
    - The before and after state, as compared, one key per queue (V(queue NAME)) plus
      V(default) and V(sharing).
  returned: diff mode
  type: dict
  sample:
    before: {"queue office": {"uri": "ipp://10.0.0.20/ipp/print", "enabled": false},
             "default": "office"}
    after: {"queue office": {"uri": "ipp://10.0.0.20/ipp/print", "enabled": true},
            "default": "office"}
    before_header: cups
    after_header: cups
"""

import copy
import time
from typing import TYPE_CHECKING, Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_cups import (
    ENV,
    EVERYWHERE,
    RAW,
    CupsUnavailable,
    default_of,
    find,
    model_scheme,
    normalize_queues,
    observed_driver,
    parse_models,
    read_queues,
    read_sharing,
    sanitize_uri,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_cups import Queue

    # a queue in the terms compared ({uri, driver, description, ...}: view, wanted)
    View = dict[str, Any]
    # the scheduler's state: {queues: {name: View}, default: name or None[, sharing: bool]}
    State = dict[str, Any]

# how long CUPS may take to show a change (an IPP Everywhere driver is made in the background)
SETTLE_SECONDS = 30
# fields of a listed queue that are always managed; description, location and error_policy
# only when the list gives them
ALWAYS = ("uri", "driver", "shared", "enabled")
OPTIONAL = ("description", "location", "error_policy")
UNLISTED = ("uri", "driver", "description", "location", "shared", "enabled")


def view(
    queue: Mapping[str, Any],
    fields: Sequence[str],
    wanted_driver: str | None = None,
    models: Mapping[str, str] | None = None,
) -> View:
    """An existing queue in the terms compared, limited to ``fields``."""
    full = {
        "uri": queue["uri"],
        "driver": observed_driver(queue["make_and_model"], wanted_driver, models),
        "description": queue["description"],
        "location": queue["location"],
        "shared": queue["shared"],
        "enabled": queue["enabled"] and queue["accepting"],
        "error_policy": queue["error_policy"],
    }
    return dict((key, full[key]) for key in fields)


def wanted(queue: Mapping[str, Any]) -> tuple[tuple[str, ...], View]:
    """A listed present queue as the list wants it, and the fields it manages."""
    fields = ALWAYS + tuple(key for key in OPTIONAL if queue.get(key) is not None)
    want: View = {
        "uri": sanitize_uri(queue["uri"]),
        "driver": queue["driver"],
        "shared": queue["shared"],
        "enabled": True,
    }
    for key in OPTIONAL:
        if queue.get(key) is not None:
            want[key] = queue[key]
    return fields, want


def model_argument(driver: str) -> str:
    return driver  # 'raw', 'everywhere' and model names are what `lpadmin -m` takes


def queue_command(
    name: str, queue: Mapping[str, Any], want: View, changed: Collection[str], new: bool
) -> list[str]:
    """The lpadmin command that brings queue ``name`` to ``want`` (``changed``: fields)."""
    command = ["lpadmin", "-p", name]
    if new or "enabled" in changed:
        command.append("-E")
    if new or "uri" in changed or "driver" in changed:
        command += ["-v", queue["uri"]]  # the URI as given, with its credentials
    if new or "driver" in changed:
        command += ["-m", model_argument(want["driver"])]
    if "description" in changed:
        command += ["-D", want["description"]]
    if "location" in changed:
        command += ["-L", want["location"]]
    if new or "shared" in changed:
        command += ["-o", "printer-is-shared=%s" % ("true" if want["shared"] else "false")]
    if "error_policy" in changed:
        command += ["-o", "printer-error-policy={}".format(want["error_policy"])]
    return command


def current_views(
    persistent: Mapping[str, Queue],
    listed: Mapping[str, Queue],
    models: Mapping[str, str] | None,
) -> dict[str, View]:
    """What the scheduler has now: each queue as the list describes it (unlisted: UNLISTED)."""
    views: dict[str, View] = {}
    for name, queue in persistent.items():
        item = listed.get(name.lower())
        if item is not None and item["state"] == "present":
            fields, _want = wanted(item)
            views[name] = view(queue, fields, item["driver"], models)
        else:
            views[name] = view(queue, UNLISTED)
    return views


def plan(
    current: Mapping[str, Queue],
    desired: Sequence[Queue],
    default: str | None,
    remove_unlisted: bool,
    sharing_now: bool | None,
    sharing: bool | None,
    models: Mapping[str, str] | None = None,
) -> tuple[State, State, list[list[str]]]:
    """(before, after, commands) for the scheduler's ``current`` queues and the list.

    ``current`` is {name: queue} as read by ``read_queues``; ``desired`` and ``default`` come
    from ``normalize_queues``. Pure: nothing runs here.
    """
    persistent = {name: queue for name, queue in current.items() if not queue["temporary"]}
    listed = {q["name"].lower(): q for q in desired}
    before: State = {
        "queues": current_views(persistent, listed, models),
        "default": default_of(persistent),
    }
    if sharing is not None:
        before["sharing"] = sharing_now
    after = copy.deepcopy(before)
    removals: list[list[str]] = []
    changes: list[list[str]] = []

    for name in sorted(persistent):
        item = listed.get(name.lower())
        if (item is None and remove_unlisted) or (item is not None and item["state"] == "absent"):
            removals.append(["lpadmin", "-x", name])
            del after["queues"][name]
            if after["default"] == name:
                after["default"] = None

    for item in desired:
        if item["state"] != "present":
            continue
        existing = find(persistent, item["name"])
        fields, want = wanted(item)
        if existing is None:
            after["queues"][item["name"]] = want
            changes.append(queue_command(item["name"], item, want, fields, True))
            continue
        have = before["queues"][existing]
        changed = [key for key in fields if have.get(key) != want[key]]
        if changed:
            after["queues"][existing] = want
            changes.append(queue_command(existing, item, want, changed, False))

    if default is not None:
        target = find(after["queues"], default) or default
        if after["default"] != target:
            after["default"] = target
            changes.append(["lpadmin", "-d", target])

    if sharing is not None and sharing_now != sharing:
        after["sharing"] = sharing
        changes.append(["cupsctl", "--share-printers" if sharing else "--no-share-printers"])
    return before, after, removals + changes


def flat(state: State) -> dict[str, Any]:
    """A state for the diff: one key per queue (``queue NAME``), so a diff names what changed."""
    result = dict((f"queue {name}", queue) for name, queue in state["queues"].items())
    result.update((key, value) for key, value in state.items() if key != "queues")
    return result


def display(command: Sequence[str]) -> list[str]:
    """A command as shown to the user: URIs without their credentials."""
    shown = list(command)
    for index in range(1, len(shown)):
        if shown[index - 1] == "-v":
            shown[index] = sanitize_uri(shown[index])
    return shown


def read_models(module: AnsibleModule, desired: Sequence[Queue]) -> dict[str, str] | None:
    """{model: make and model} of the PPD models the list uses; None when CUPS cannot say."""
    used = sorted(
        set(
            q["driver"]
            for q in desired
            if q["state"] == "present" and q["driver"] not in (RAW, EVERYWHERE)
        )
    )
    if not used:
        return {}
    schemes = sorted(set(model_scheme(model) for model in used))
    lpinfo = module.get_bin_path("lpinfo")
    if lpinfo is None and module.check_mode:
        return None  # CUPS is not installed yet
    if lpinfo is None:
        module.fail_json(msg="lpinfo not found: is CUPS (cups-client) installed?")
    rc, out, err = module.run_command(
        [lpinfo, "--include-schemes", ",".join(schemes), "-m"], environ_update=ENV
    )
    if rc != 0:
        if module.check_mode:
            return None
        module.fail_json(msg=f"cannot list the CUPS models (lpinfo -m): {(err or out).strip()}")
    models = parse_models(out)
    unknown = [model for model in used if model not in models]
    if unknown:
        module.fail_json(
            msg="driver {} is not a model CUPS knows on this host (see `lpinfo -m`; "
            "install its driver package)".format(", ".join(unknown))
        )
    return models


def read_state(
    module: AnsibleModule, sharing: bool | None, needed: bool
) -> tuple[dict[str, Queue], bool | None]:
    """(queues, sharing now). Without a scheduler (not installed, or not yet in check mode) a
    host has no queue and shares nothing: fine when it needs none, else an error."""
    try:
        queues = read_queues()
        sharing_now = read_sharing(module) if sharing is not None else None
        return queues, sharing_now
    except CupsUnavailable as exc:
        if module.check_mode or not needed:
            return {}, False if sharing is not None else None
        module.fail_json(msg=str(exc))
        raise AssertionError("fail_json returned") from exc


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    desired, default, errors = normalize_queues(params["queues"], params["default"])
    if errors:
        module.fail_json(msg="; ".join(errors))
    needed = bool(params["sharing"]) or any(q["state"] == "present" for q in desired)
    current, sharing_now = read_state(module, params["sharing"], needed)
    models = read_models(module, desired)
    before, after, commands = plan(
        current, desired, default, params["remove_unlisted"], sharing_now, params["sharing"], models
    )
    changed = before != after
    result: dict[str, Any] = {
        "changed": changed,
        "queues": after["queues"],
        "default": after["default"],
        "sharing": after.get("sharing"),
        "commands": [display(command) for command in commands],
    }
    if module._diff:
        result["diff"] = {
            "before": flat(before),
            "after": flat(after),
            "before_header": "cups",
            "after_header": "cups",
        }
    if not changed or module.check_mode:
        return result

    failures: list[str] = []
    for command in commands:
        rc, out, err = module.run_command(command, environ_update=ENV)
        if rc != 0:
            failures.append("{}: {}".format(" ".join(display(command)), (err or out).strip()))
    if failures:
        module.fail_json(msg="CUPS refused: " + "; ".join(failures), **result)
    # read back until CUPS holds what was planned: the scheduler makes an IPP Everywhere
    # queue's driver in the background, after lpadmin has returned
    deadline = time.time() + SETTLE_SECONDS
    while True:
        current, sharing_now = read_state(module, params["sharing"], True)
        actual, _after, _remaining = plan(
            current,
            desired,
            default,
            params["remove_unlisted"],
            sharing_now,
            params["sharing"],
            models,
        )
        if actual == after:
            return result
        if time.time() >= deadline:
            module.fail_json(
                msg=f"CUPS did not take every change within {SETTLE_SECONDS} s "
                "(an IPP Everywhere queue needs its printer to answer)",
                expected=after,
                actual=actual,
                **result,
            )
        time.sleep(0.25)


def main() -> None:

    module = AnsibleModule(
        argument_spec=dict(
            queues=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    name=dict(type="str", required=True),
                    uri=dict(type="str"),
                    driver=dict(type="str"),
                    description=dict(type="str"),
                    location=dict(type="str"),
                    shared=dict(type="bool", default=False),
                    default=dict(type="bool", default=False),
                    error_policy=dict(
                        type="str",
                        choices=["abort-job", "retry-current-job", "retry-job", "stop-printer"],
                    ),
                    state=dict(type="str", choices=["present", "absent"], default="present"),
                ),
            ),
            default=dict(type="str"),
            remove_unlisted=dict(type="bool", default=False),
            sharing=dict(type="bool"),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: apt_upgrade
short_description: Apply pending Debian updates in a patch run, with holds, exclusions and hooks
description:
  - One pass of patching on a Debian host. Refreshes the package lists when they are older than
    O(cache_valid_time), finds the pending updates with python3-apt and classifies them
    (security when a newer version comes from a C(-security) suite), applies the package holds
    of the inventory with C(apt-mark), plans the upgrade with C(apt-get -s) and, when
    O(allowed=true), runs the pre hooks, upgrades exactly the planned versions, runs the post
    hooks and records the run.
  - When O(allowed=false) (outside the patch window, in a blackout, no window) it changes
    nothing and reports what is pending, with O(reason) in the message.
  - The plan is the transaction C(apt-get -s) prints, dependencies included, so check mode
    and the diff show exactly the versions a real run installs. C(changed) and the diff come
    from the same before/after pair (package versions and held packages).
  - Holds are managed, not only added; a hold this module set and the inventory no longer
    lists is released. Holds set by hand are never touched.
  - A transaction that would remove a package, or upgrade a held or excluded package as a
    dependency, is refused.
  - Packages matching O(reboot_packages) that were upgraded make the host write
    C(/run/reboot-required), as Debian's kernel hooks do; the module returns the reboot state
    under O(reboot_policy).
  - Bookkeeping that is not a change of the host (refreshing the package lists, the run
    record in O(state_dir), first-seen times of pending updates) is not reported as
    C(changed). The lists are refreshed in check mode too, otherwise a check run could not tell
    what is pending; the run record and first-seen times are written only outside check mode.
version_added: "0.1.0"
author: mspctl contributors (@mspctl)
options:
  scope:
    description:
      - C(security) upgrades only packages with a newer version in a security suite, to that
        version; C(all) upgrades everything to apt's candidate version.
    type: str
    choices: [security, all]
    default: security
  allowed:
    description: Whether this run may change the host (the window is open, or the run is forced).
    type: bool
    default: false
  forced:
    description: The run is allowed only because it was forced; recorded in the run record.
    type: bool
    default: false
  reason:
    description: Why the run may not change the host, for the message (C(outside window)...).
    type: str
    default: outside window
  holds:
    description:
      - Packages to hold (C(apt-mark hold)); never upgraded. Glob patterns match installed packages.
      - A package that is not installed is reported under RV(holds_missing) and not held.
    type: list
    elements: str
    default: []
  exclusions:
    description: Packages (glob patterns) not upgraded by this run, without holding them.
    type: list
    elements: str
    default: []
  pre_hooks:
    description:
      - Shell commands run in order before upgrading, only when something is upgraded.
      - A failing hook stops the run before any package changes.
    type: list
    elements: str
    default: []
  post_hooks:
    description:
      - Shell commands run in order after upgrading, only when something was upgraded.
      - A failing hook fails the task; the upgrade stays recorded.
    type: list
    elements: str
    default: []
  update_cache:
    description: Refresh the package lists (C(apt-get update)) when older than O(cache_valid_time).
    type: bool
    default: true
  cache_valid_time:
    description: Age in seconds under which the package lists are not refreshed.
    type: int
    default: 3600
  reboot_policy:
    description:
      - C(never), C(if_required) (the host says it needs one) or C(always) (after a run that
        changed packages); decides RV(reboot.due).
    type: str
    choices: [never, if_required, always]
    default: if_required
  reboot_packages:
    description: Glob patterns of packages whose upgrade requires a reboot.
    type: list
    elements: str
    default: [linux-image-*, libc6, systemd, dbus, dbus-broker, intel-microcode, amd64-microcode]
  state_dir:
    description: Where the run record and first-seen times are kept.
    type: path
    default: /var/lib/mspctl/patching
attributes:
  platform:
    platforms: debian
requirements:
  - python3-apt on the managed host (installed by the module when missing, as
    ansible.builtin.apt does; not in check mode)
notes:
  - Debian and derivatives only. The window itself is evaluated by the role (filter
    C(mspctl.policy.patch_window)) and passed as O(allowed) and O(reason).
extends_documentation_fragment:
  - mspctl.policy.attributes
"""

EXAMPLES = r"""
- name: Apply security updates inside the window
  mspctl.policy.apt_upgrade:
    scope: security
    allowed: "{{ patching_window_status.open or patching_force }}"
    reason: "{{ patching_window_status.reason }}"
    holds: [postgresql-15]
    exclusions: ["linux-image-*"]
    pre_hooks: ["systemctl stop myapp"]
    post_hooks: ["systemctl start myapp"]
    reboot_policy: if_required
  register: patching_run
"""

RETURN = r"""
msg:
  description: What the run did or would do.
  returned: always
  type: str
  sample: "3 updates pending, outside window: nothing changed"
outcome:
  description: C(patched), C(would patch) (check mode), C(up to date) or C(pending) (not allowed).
  returned: always
  type: str
  sample: patched
allowed:
  description: The O(allowed) input, echoed.
  returned: always
  type: bool
  sample: true
plan:
  description:
    - The transaction as C(packages), name to C([before, after]) (before null for a new
      dependency), and the holds to add (C(hold)) and release (C(unhold)).
    - C(kinds) counts the transaction's packages by kind, C(security) (a newer version from a
      security suite) or C(other) (new dependencies included).
  returned: always
  type: dict
  sample:
    packages: {libssl3: ["3.0.20-1~deb12u2", "3.0.22-1~deb12u2"]}
    hold: []
    unhold: []
    kinds: {security: 1, other: 0}
pending:
  description: Updates still pending after the run, by kind (names); held ones apart.
  returned: always
  type: dict
  sample: {security: [], other: [tzdata], held: [postgresql-15]}
holds:
  description: Packages held by mspctl after the run.
  returned: always
  type: list
  elements: str
  sample: [postgresql-15]
holds_missing:
  description: Hold patterns that match no installed package.
  returned: always
  type: list
  elements: str
  sample: []
hooks:
  description: Hooks run, each with C(stage), C(command), C(rc), the tails of C(stdout), C(stderr).
  returned: always
  type: list
  elements: dict
  sample: [{stage: pre, command: "systemctl stop myapp", rc: 0, stdout: "", stderr: ""}]
reboot:
  description: Reboot state after the run (in check mode, as the run would leave it).
  returned: always
  type: dict
  sample:
    required: true
    due: true
    packages: [libc6]
    policy: if_required
    upgraded_since_boot: true
    boot_time: "2026-11-20T08:00:00+00:00"
  contains:
    required:
      description: C(/run/reboot-required) exists or a new kernel was installed since boot.
      returned: always
      type: bool
      sample: true
    due:
      description:
        - Whether O(reboot_policy) asks for a reboot now; C(if_required) when RV(reboot.required),
          C(always) also when packages were upgraded during the current boot, C(never) never.
      returned: always
      type: bool
      sample: true
    packages:
      description: The packages that asked for the reboot (and the new kernel, if any).
      returned: always
      type: list
      elements: str
      sample: [libc6]
    policy:
      description: The O(reboot_policy) applied.
      returned: always
      type: str
      sample: if_required
    upgraded_since_boot:
      description: Whether the last upgrade happened during the current boot.
      returned: always
      type: bool
      sample: true
    boot_time:
      description: When the host booted (ISO 8601), or null when unknown.
      returned: always
      type: str
      sample: "2026-11-20T08:00:00+00:00"
last_run:
  description:
    - The run record, C(last_run), C(last_upgrade) (with C(upgrade_boot_id)), C(upgraded),
      C(scope), C(holds), C(forced); empty before the first allowed run.
  returned: always
  type: dict
  sample:
    last_run: "2026-11-28T21:05:00+00:00"
    last_upgrade: "2026-11-28T21:05:00+00:00"
    scope: security
cache_updated:
  description: Whether the package lists were refreshed.
  returned: always
  type: bool
  sample: true
"""

import datetime
import os
from typing import TYPE_CHECKING, Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_common import (
    read_json,
    write_json,
)
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_patching import (
    DEFAULT_REBOOT_PACKAGES,
    LAST_RUN,
    SEEN,
    AptBackend,
    PatchingError,
    Update,
    boot_id,
    boot_time,
    expand,
    iso,
    kernel_pending,
    mark_reboot_required,
    matches,
    reboot_state,
    select,
    split_pending,
    update_seen,
    utcnow,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import TypedDict

    from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_patching import Installed

    class Plan(TypedDict):
        """What a run will do (:func:`plan`)."""

        held_after: set[str]
        targets: dict[str, str]
        changes: dict[str, list[str | None]]
        hold: list[str]
        unhold: list[str]
        missing: list[str]
        before: dict[str, Any]
        after: dict[str, Any]


def plural(count: int, word: str) -> str:
    return "{} {}{}".format(count, word, "" if count == 1 else "s")


def plan_holds(
    installed: Mapping[str, Installed], patterns: Sequence[str], managed_before: Iterable[str]
) -> tuple[set[str], list[str], list[str], list[str]]:
    """``(wanted, to_hold, to_unhold, missing)`` for the inventory's hold patterns."""
    wanted = set(expand(patterns, installed))
    missing = sorted(p for p in patterns if not expand([p], installed))
    held_now = set(name for name, info in installed.items() if info.held)
    to_hold = sorted(wanted - held_now)
    to_unhold = sorted((set(managed_before) - wanted) & held_now)
    return wanted, to_hold, to_unhold, missing


def plan(
    backend: AptBackend,
    params: Mapping[str, Any],
    installed: Mapping[str, Installed],
    updates: Sequence[Update],
    record: Mapping[str, Any],
) -> Plan:
    """The run's plan: targets, transaction and hold changes, with its before/after pair."""
    wanted, to_hold, to_unhold, missing = plan_holds(
        installed, params["holds"], record.get("holds") or []
    )
    held_now = set(name for name, info in installed.items() if info.held)
    held_after = (held_now | wanted) - set(to_unhold)
    targets = select(updates, params["scope"], held_after, params["exclusions"])
    changes: dict[str, list[str | None]]
    removed: list[str]
    changes, removed = backend.simulate(targets) if targets else ({}, [])
    if removed:
        raise PatchingError(
            f"the upgrade would remove {', '.join(removed)}: upgrade by hand, or exclude the "
            "packages that need it"
        )
    blocked = sorted(n for n in changes if n in held_after or matches(n, params["exclusions"]))
    if blocked:
        raise PatchingError(
            f"upgrading {', '.join(sorted(targets))} would also upgrade the held or excluded "
            f"package(s) {', '.join(blocked)}"
        )
    managed = wanted | set(record.get("holds") or [])
    before = {
        "packages": dict((n, c[0]) for n, c in changes.items()),
        "holds": sorted(held_now & managed),
    }
    after = {"packages": dict((n, c[1]) for n, c in changes.items()), "holds": sorted(wanted)}
    return {
        "held_after": held_after,
        "targets": targets,
        "changes": changes,
        "hold": to_hold,
        "unhold": to_unhold,
        "missing": missing,
        "before": before,
        "after": after,
    }


def run_hooks(
    backend: AptBackend, commands: Iterable[str], stage: str
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    results: list[dict[str, Any]] = []
    for command in commands:
        result = backend.run_hook(command)
        result["stage"] = stage
        results.append(result)
        if result["rc"] != 0:
            return results, result
    return results, None


def apply_plan(
    module: AnsibleModule,
    backend: AptBackend,
    params: Mapping[str, Any],
    the_plan: Plan,
    installed: Mapping[str, Installed],
    record: dict[str, Any],
    now: datetime.datetime,
    current_boot_id: str | None,
) -> tuple[dict[str, Any], list[dict[str, Any]], str | None]:
    """Carry out the plan (never in check mode). Returns ``(record, hooks, failure)``."""
    backend.mark("hold", the_plan["hold"])
    backend.mark("unhold", the_plan["unhold"])
    hooks: list[dict[str, Any]] = []
    failure = None
    changes = the_plan["changes"]
    upgraded: dict[str, list[str | None]] = {}
    record_path = os.path.join(params["state_dir"], LAST_RUN)
    if changes:
        hooks, failed = run_hooks(backend, params["pre_hooks"], "pre")
        if failed:
            # the holds are in place: remember them, so a later release finds them
            write_json(record_path, dict(record, holds=the_plan["after"]["holds"]))
            return (
                record,
                hooks,
                (f"pre hook {failed['command']!r} failed (rc {failed['rc']}): nothing upgraded"),
            )
        try:
            backend.install(the_plan["targets"])
        except PatchingError as exc:
            # what the pre hooks stopped must come back even if the upgrade failed
            post, _failed = run_hooks(backend, params["post_hooks"], "post")
            write_json(record_path, dict(record, holds=the_plan["after"]["holds"]))
            hooks_run = ", ".join(f"{h['command']!r} rc {h['rc']}" for h in post) or "none"
            raise PatchingError(f"{exc} (post hooks run: {hooks_run})") from exc
        # apt-get install marks what it names as manually installed: restore auto marks.
        backend.mark(
            "auto", sorted(n for n in the_plan["targets"] if n in installed and installed[n].auto)
        )
        mark_reboot_required(list(changes), params["reboot_packages"])
        upgraded = dict((n, list(c)) for n, c in changes.items())
        post, failed = run_hooks(backend, params["post_hooks"], "post")
        hooks.extend(post)
        if failed:
            failure = (
                f"post hook {failed['command']!r} failed (rc {failed['rc']:d}) after the upgrade"
            )
    new_record = {
        "version": 1,
        "last_run": iso(now),
        "last_upgrade": iso(now) if changes else record.get("last_upgrade"),
        "upgrade_boot_id": current_boot_id if changes else record.get("upgrade_boot_id"),
        "upgraded": upgraded if changes else record.get("upgraded") or {},
        "scope": params["scope"],
        "holds": the_plan["after"]["holds"],
        "forced": params["forced"],
    }
    write_json(record_path, new_record)
    return new_record, hooks, failure


def remember_pending(state_dir: str, updates: Iterable[Update], now: datetime.datetime) -> None:
    """Keep when each pending (not held) update was first seen; the file only when it changes."""
    seen_path = os.path.join(state_dir, SEEN)
    seen = read_json(seen_path, {}) or {}
    new_seen = update_seen(seen, [u for u in updates if not u.held], now)
    if new_seen != seen and (new_seen or os.path.exists(seen_path)):
        write_json(seen_path, new_seen)


def predict_reboot(reboot: dict[str, Any], params: Mapping[str, Any], the_plan: Plan) -> None:
    """Check mode: the reboot state as the planned upgrades would leave it."""
    would_mark = expand(params["reboot_packages"], list(the_plan["changes"]))
    reboot["required"] = reboot["required"] or bool(would_mark)
    reboot["packages"] = sorted(set(reboot["packages"]) | set(would_mark))
    reboot["upgraded_since_boot"] = True
    policy = params["reboot_policy"]
    reboot["due"] = policy == "always" or (policy == "if_required" and reboot["required"])


def run(
    module: AnsibleModule,
    backend: AptBackend,
    params: Mapping[str, Any],
    now: datetime.datetime,
    boot: datetime.datetime | None = None,
    kernel: str | None = None,
    current_boot_id: str | None = None,
) -> dict[str, Any]:
    """One patching pass; returns the module result (without failing)."""
    check = module.check_mode
    cache_updated = False
    if params["update_cache"] and backend.lists_age(now) > params["cache_valid_time"]:
        backend.refresh_lists()
        cache_updated = True
    installed, updates = backend.packages()
    record_path = os.path.join(params["state_dir"], LAST_RUN)
    record = read_json(record_path, {}) or {}
    the_plan = plan(backend, params, installed, updates, record)
    changed = the_plan["before"] != the_plan["after"]
    allowed = params["allowed"]
    hooks: list[dict[str, Any]] = []
    failure = None
    count = len(the_plan["changes"])
    kind_of = dict((u.name, u.kind) for u in updates)  # a new dependency counts as other
    kinds = {"security": 0, "other": 0}
    for name in the_plan["changes"]:
        kinds["security" if kind_of.get(name) == "security" else "other"] += 1

    if not allowed:
        outcome = "pending" if changed else "up to date"
        changed = False
        msg = "{} pending, {}: nothing changed".format(plural(count, "update"), params["reason"])
    elif check:
        outcome = "would patch" if changed else "up to date"
        msg = "would upgrade {}".format(plural(count, "package")) if changed else "nothing to do"
    else:
        record, hooks, failure = apply_plan(
            module, backend, params, the_plan, installed, record, now, current_boot_id
        )
        outcome = "patched" if changed else "up to date"
        msg = "upgraded {}".format(plural(count, "package")) if count else "nothing to upgrade"
        if changed and count:
            installed, updates = backend.packages()
            wrong = sorted(
                n
                for n, c in the_plan["changes"].items()
                if (installed[n].version if n in installed else None) != c[1]
            )
            if wrong and failure is None:
                failure = f"after the upgrade {', '.join(wrong)} are not at the planned versions"

    if not check:
        remember_pending(params["state_dir"], updates, now)

    pending = split_pending(updates)
    if allowed and check:
        # as the run would leave the host: planned upgrades done, planned holds set
        done = set(the_plan["changes"])
        pending = split_pending(
            [
                Update(
                    u.name, u.installed, u.candidate, u.security, u.name in the_plan["held_after"]
                )
                for u in updates
                if u.name not in done
            ]
        )
    reboot = reboot_state(
        params["reboot_policy"], record, boot=boot, kernel=kernel, current_boot_id=current_boot_id
    )
    if allowed and check and count:
        predict_reboot(reboot, params, the_plan)

    result: dict[str, Any] = {
        "changed": changed,
        "msg": msg,
        "outcome": outcome,
        "allowed": allowed,
        "plan": {
            "packages": dict((n, list(c)) for n, c in the_plan["changes"].items()),
            "hold": the_plan["hold"],
            "unhold": the_plan["unhold"],
            "kinds": kinds,
        },
        "pending": pending,
        "holds": the_plan["after"]["holds"] if allowed else the_plan["before"]["holds"],
        "holds_missing": the_plan["missing"],
        "hooks": hooks,
        "reboot": reboot,
        "last_run": record,
        "cache_updated": cache_updated,
    }
    if changed and module._diff:
        result["diff"] = {
            "before": the_plan["before"],
            "after": the_plan["after"],
            "before_header": "installed",
            "after_header": "after patching",
        }
    if failure:
        result["failed"] = True
        result["msg"] = failure
    return result


def main() -> None:

    module = AnsibleModule(
        argument_spec=dict(
            scope=dict(type="str", choices=["security", "all"], default="security"),
            allowed=dict(type="bool", default=False),
            forced=dict(type="bool", default=False),
            reason=dict(type="str", default="outside window"),
            holds=dict(type="list", elements="str", default=[]),
            exclusions=dict(type="list", elements="str", default=[]),
            pre_hooks=dict(type="list", elements="str", default=[]),
            post_hooks=dict(type="list", elements="str", default=[]),
            update_cache=dict(type="bool", default=True),
            cache_valid_time=dict(type="int", default=3600),
            reboot_policy=dict(
                type="str", choices=["never", "if_required", "always"], default="if_required"
            ),
            reboot_packages=dict(
                type="list", elements="str", default=list(DEFAULT_REBOOT_PACKAGES)
            ),
            state_dir=dict(type="path", default="/var/lib/mspctl/patching"),
        ),
        supports_check_mode=True,
    )
    backend = AptBackend(
        module, module.params["state_dir"], install_python_apt=not module.check_mode
    )
    now = utcnow()
    boot = boot_time(now)
    try:
        result = run(
            module,
            backend,
            module.params,
            now,
            boot=boot,
            kernel=kernel_pending(boot),
            current_boot_id=boot_id(),
        )
    except PatchingError as exc:
        module.fail_json(msg=str(exc))
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

"""A play whose role has run_once tasks runs with the linear strategy.

mspctl's tuned and Mitogen engines set ansible's free strategy, which does not honour run_once
("This task will still be executed for every host"): the monitoring role's central tasks (one
Prometheus/Alertmanager configuration on the monitoring host) would run once per host, at the
same time, on the same files. The play keyword ``strategy: linear`` overrides the engine's.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _roles_of(play: dict) -> set[str]:
    names = {r["role"] if isinstance(r, dict) else r for r in play.get("roles", [])}
    for task in play.get("tasks", []):
        for key in ("ansible.builtin.import_role", "ansible.builtin.include_role"):
            if key in task:
                names.add(task[key]["name"])
    return names


def _has_run_once(role: str) -> bool:
    for path in (ROOT / "roles" / role / "tasks").glob("*.yml"):
        for task in yaml.safe_load(path.read_text()) or []:
            if isinstance(task, dict) and task.get("run_once"):
                return True
    return False


def test_plays_of_run_once_roles_are_linear() -> None:
    plays = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    checked = []
    for play in plays:
        roles = {r for r in _roles_of(play) if _has_run_once(r)}
        if roles:
            assert play.get("strategy") == "linear", f"{play['name']}: run_once in {roles}"
            checked.append(play["name"])
    # the monitoring role has run_once tasks: its apply and retire plays are the ones checked
    assert checked == ["Retire the monitoring policy", "Monitoring policy"], checked


# Every delegate_to of the roles names a host that is never empty. A task guarded by
# `when: monitoring_server | length > 0` still fails when monitoring_server is '': ansible
# templates delegate_to before `when` ("Empty hostname produced from delegate_to"), which broke
# the first bronze apply of a client without a backup repository host (its backup_agent retire).
SAFE_DELEGATES = {
    '"{{ __monitoring_delegate }}"',
    '"{{ __backup_agent_repository_delegate }}"',
    "localhost",
}


def test_every_delegate_to_names_a_host_that_is_never_empty() -> None:
    found = []
    for path in sorted((ROOT / "roles").glob("*/*/*.yml")):
        if path.parent.name not in ("tasks", "handlers"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            key, _, value = line.strip().partition(":")
            if key == "delegate_to":
                found.append(f"{path.relative_to(ROOT)}:{number}")
                assert value.strip() in SAFE_DELEGATES, f"{found[-1]}: delegate_to {value.strip()}"
    assert len(found) >= 20, found  # the monitoring role's central tasks and handlers, at least

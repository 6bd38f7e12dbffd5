"""Run results: what mspctl keeps of a run's task results, and how it shows them.

Everything that reads ansible's per-task results lives here: masking secret values, the
no_log check, which policy a task belongs to, findings and asset records returned by the
status modules, the store rows of a run, and the diffs (one walker for the three shapes
ansible returns, used by the one-line summaries in the store and the full text of
``mspctl drift``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mspctl.policies import POLICIES

if TYPE_CHECKING:
    from mspctl.runner import RunResult, TaskResult
    from mspctl.store.models import RunHost, TaskRecord

HIDDEN_DIFF = "(hidden: the task handles a secret)"
_ROLE_TO_POLICY = {spec.role: name for name, spec in POLICIES.items()}


_REMEMBERED: set[str] = set()


def remember_secrets(values: frozenset[str] | set[str]) -> None:
    """Secret values this process has read: an unexpected error's message is masked with them
    (:func:`mask_remembered`), wherever it was raised."""
    _REMEMBERED.update(v for v in values if len(v) >= 4)


def mask_remembered(text: str) -> str:
    """``text`` with every secret value this process has read replaced by ********."""
    return str(masker(frozenset(_REMEMBERED))(text))


def masker(secrets: frozenset[str]) -> Callable[[Any], Any]:
    """Replace every secret value in text or JSON-like data by ********."""
    remember_secrets(secrets)
    values = sorted((v for v in secrets if len(v) >= 4), key=len, reverse=True)

    def mask(data: Any) -> Any:
        if not values:
            return data
        if isinstance(data, str):
            for value in values:
                data = data.replace(value, "********")
            return data
        if isinstance(data, dict):
            return {k: mask(v) for k, v in data.items()}
        if isinstance(data, list):
            return [mask(v) for v in data]
        return data

    return mask


def censored(task: TaskResult) -> bool:
    """The task ran with ``no_log``: nothing of its result may be shown or recorded."""
    return "censored" in task.result or bool(task.result.get("_ansible_no_log"))


def policy_of(task: TaskResult) -> str | None:
    return _ROLE_TO_POLICY.get(task.role or "")


def task_message(task: TaskResult) -> str | None:
    """The message of a failed or unreachable task (none of a no_log task)."""
    if task.status not in ("failed", "unreachable") or censored(task):
        return None
    return (task.message or "")[:2000] or None


# pywinrm's transport, then urllib3's pool and its "new connection" failure
_REFUSED = re.compile(
    r"^(?P<transport>\w+): (?P<scheme>HTTPS?)ConnectionPool"
    r"\(host='(?P<host>[^']*)', port=(?P<port>\d+)\)"
    r".*Failed to establish a new connection: (?P<reason>[^\"')]+)"
)


def unreachable_reasons(result: RunResult) -> dict[str, str]:
    """Why each unreachable host could not be reached, in one short line: the connection
    plugin's message without ansible's prefix, and of a pywinrm/urllib3 connection error only
    the transport and the socket's reason (``ntlm: [Errno 111] Connection refused``)."""
    reasons: dict[str, str] = {}
    for task in result.tasks:
        if task.status != "unreachable" or task.host in reasons:
            continue
        message = " ".join((task_message(task) or "unreachable").split())
        message = message.removeprefix("Task failed: ")
        refused = _REFUSED.search(message)
        if refused:
            message = f"{refused['transport']}: {refused['scheme'].lower()}://{refused['host']}:"
            message += refused["port"]
            message += f": {refused['reason'].strip()}"
        reasons[task.host] = message[:200]
    return reasons


# -- findings and assets --------------------------------------------------------------------
def collect_findings(result: RunResult, mask: Callable[[Any], Any]) -> list[dict[str, Any]]:
    """Findings returned by status modules (``res.findings``), tagged with their host."""
    out = []
    for task in result.tasks:
        if task.status in ("failed", "unreachable", "skipped") or censored(task):
            continue
        for item in task.result.get("findings") or []:
            if isinstance(item, dict) and {"control_id", "status", "policy"} <= set(item):
                out.append({**mask(item), "host": task.host, "title": str(item.get("title", ""))})
    return out


def collect_assets(result: RunResult) -> dict[str, dict[str, Any]]:
    """Asset records returned by the assets and network modules, without fields that change
    every day (a warranty's days left; a device's uptime is kept, asset diffs skip it)."""
    out = {}
    for task in result.tasks:
        asset = task.result.get("asset")
        if task.action.endswith(("asset_facts", "network_config")) and isinstance(asset, dict):
            record = dict(asset)
            if isinstance(record.get("warranty"), dict):
                record["warranty"] = {
                    k: v for k, v in record["warranty"].items() if k != "days_left"
                }
            out[task.host] = record
    return out


# -- store rows ------------------------------------------------------------------------------
def host_rows(result: RunResult) -> list[RunHost]:
    from mspctl.store.models import RunHost

    return [RunHost(host=host, **stats.as_dict()) for host, stats in sorted(result.hosts.items())]


def task_rows(result: RunResult, mask: Callable[[Any], Any]) -> list[TaskRecord]:
    from mspctl.store.models import TaskRecord

    return [
        TaskRecord(
            host=task.host,
            policy=policy_of(task),
            role=task.role,
            task=task.task,
            action=task.action,
            status=task.status,
            changed=task.changed,
            message=mask(task_message(task)),
            diff_summary=mask(summarize_diff(task)),
            details=task_details(task),
        )
        for task in result.tasks
    ]


def task_details(task: TaskResult) -> dict[str, Any] | None:
    """The figures reports need from a task's result: a patch run that changed the host, its
    upgraded packages by kind (``{"upgraded": {"security": n, "other": m}}``)."""
    if censored(task) or not task.changed or not task.action.endswith("apt_upgrade"):
        return None
    kinds = (task.result.get("plan") or {}).get("kinds")
    if not isinstance(kinds, dict):
        return None
    return {"upgraded": {k: int(v) for k, v in kinds.items() if isinstance(v, int)}}


# -- diffs -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DiffChunk:
    """One entry of a task's diff, whatever shape ansible gave it: ``prepared`` text (apt,
    templates), a ``mapping`` before/after (the settings modules), or ``text`` before/after."""

    kind: Literal["prepared", "mapping", "text"]
    label: str  # the entry's header, "state" when it has none
    text: str  # the prepared text, "key: before -> after" lines, or a unified diff
    keys: tuple[str, ...] = ()  # the changed keys of a mapping

    def _count(self, sign: str) -> int:
        return sum(
            1 for x in self.text.splitlines() if x.startswith(sign) and not x.startswith(sign * 3)
        )

    @property
    def summary(self) -> str:
        if self.kind == "prepared":
            return f"+{self._count('+')} -{self._count('-')}"
        if self.kind == "mapping":
            return f"{self.label}: {', '.join(self.keys)}"
        return f"{self.label}: +{self._count('+')} -{self._count('-')}"


def diff_chunks(task: TaskResult) -> Iterator[DiffChunk]:
    """The entries of a task's diff; callers check :func:`censored` first."""
    for entry in task.diff:
        label = str(entry.get("after_header") or entry.get("before_header") or "state")
        if "prepared" in entry:
            yield DiffChunk("prepared", label, str(entry["prepared"]).rstrip())
            continue
        before, after = entry.get("before", ""), entry.get("after", "")
        if isinstance(before, dict) or isinstance(after, dict):
            old, new = before or {}, after or {}
            keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            yield DiffChunk(
                "mapping",
                label,
                "\n".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys),
                tuple(map(str, keys)),
            )
            continue
        yield DiffChunk(
            "text",
            label,
            "\n".join(
                difflib.unified_diff(
                    str(before).splitlines(),
                    str(after).splitlines(),
                    fromfile=str(entry.get("before_header", "before")),
                    tofile=str(entry.get("after_header", "after")),
                    lineterm="",
                )
            ),
        )


def summarize_diff(task: TaskResult) -> str | None:
    """One line per changed item: ``path: +added -removed``. Nothing for a no_log task."""
    if not task.diff or censored(task):
        return None
    return "; ".join(chunk.summary for chunk in diff_chunks(task))[:1000] or None


def render_diff(task: TaskResult) -> str:
    """The task's diff as unified text; nothing of a no_log task."""
    if censored(task):
        return HIDDEN_DIFF
    return "\n".join(chunk.text for chunk in diff_chunks(task) if chunk.text)

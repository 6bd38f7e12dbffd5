"""Offboarding: stop serving a client cleanly, and bring an offboarded client back.

``offboard`` runs every policy's retire path on every host of the client (``engine.plan`` with
``retire_all``: the roles' ``tasks/retire.yml``, which also take the client off the MSP
monitoring host), then writes the hand-over package, then moves the inventory folder to
``inventories/.archive/<client>-<date>/`` (never deleted). The run history stays in the store:
``mspctl runs list`` and ``mspctl diff`` keep working on it. An offboarded client is refused by
every command that needs its inventory (exit 3) until ``restore`` moves the folder back.

The hand-over package (``$MSPCTL_HOME/handover/<client>-<date>/`` unless told otherwise) holds:
the asset inventory (``assets.csv``, ``assets.json``), the last compliance report and the
monthly report of the current month (HTML and JSON), the network devices' newest configuration
backups (``network-configs/``), how to reach each host's backup repository
(``backup-access.md``) and its credentials in ``backup-credentials.vault.yml``, sealed with
ansible-vault under the client's vault password; ``manifest.json`` lists every file with its
SHA-256.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mspctl.clients import ARCHIVE_DIR, OFFBOARDED_MARKER, archived_folders
from mspctl.errors import BadInput, ExitCode, MspctlError
from mspctl.results import remember_secrets

if TYPE_CHECKING:
    from mspctl.engine import Outcome
    from mspctl.runner import ProgressEvent
    from mspctl.workspace import Workspace

MARKER = OFFBOARDED_MARKER  # in the archived folder: who, when, which run, where the package went
SEALED = "backup-credentials.vault.yml"
BACKUP_PASSWORD = "backup_agent_password"  # noqa: S105 - the variable's name, not a secret
BACKUP_REPOSITORY = "backup_agent_repository"


@dataclass
class Offboarding:
    client: str
    check: bool
    run_id: str
    exit_code: ExitCode
    removals: list[dict[str, Any]] = field(default_factory=list)  # host, policy, task
    failed_hosts: list[str] = field(default_factory=list)
    handover: Path | None = None
    handover_files: list[str] = field(default_factory=list)
    archive: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "mode": "check" if self.check else "apply",
            "run_id": self.run_id,
            "exit_code": int(self.exit_code),
            "removals": self.removals,
            "failed_hosts": self.failed_hosts,
            "handover": str(self.handover) if self.handover else None,
            "handover_files": self.handover_files,
            "archive": str(self.archive) if self.archive else None,
        }


# -- the archive -----------------------------------------------------------------------------
def archive_root(workspace: Workspace) -> Path:
    return workspace.config.inventories_dir / ARCHIVE_DIR


def archived(workspace: Workspace, slug: str) -> list[Path]:
    """The archived inventory folders of a client, oldest first."""
    return archived_folders(workspace.config.inventories_dir, slug)


def restore(workspace: Workspace, slug: str) -> Path:
    """Move the newest archived inventory folder of a client back into place."""
    folders = archived(workspace, slug)
    if not folders:
        raise BadInput(f"client {slug} has no archived inventory to restore")
    target = workspace.config.inventories_dir / slug
    if target.exists():
        raise BadInput(
            "a client folder of that name exists already",
            file=f"{workspace.config.inventories_dir.name}/{slug}",
        )
    source = folders[-1]
    source.rename(target)
    (target / MARKER).unlink(missing_ok=True)
    return target


def _archive(workspace: Workspace, slug: str, run_id: str, handover: Path | None) -> Path:
    root = archive_root(workspace)
    root.mkdir(exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    base = f"{slug}-{now:%Y-%m-%d}"
    target, n = root / base, 1
    while target.exists():
        n += 1
        target = root / f"{base}-{n}"
    source = workspace.config.inventories_dir / slug
    source.rename(target)  # same file system: atomic, nothing copied, nothing deleted
    marker = {
        "client": slug,
        "offboarded_at": now.isoformat(timespec="seconds"),
        "run_id": run_id,
        "handover": str(handover) if handover else None,
    }
    (target / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return target


# -- offboarding -----------------------------------------------------------------------------
def offboard(
    workspace: Workspace,
    slug: str,
    *,
    check: bool = False,
    vault_password_file: Path | None = None,
    output: Path | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Offboarding:
    """Retire every policy from every host of ``slug``; unless ``check``, then write the
    hand-over package and archive the inventory. A failed run archives nothing."""
    from mspctl import engine as jobs

    client = workspace.clients.get(slug)
    vault_file = workspace.vault_password_file(client.slug, vault_password_file)
    request = jobs.ApplyRequest(
        client=client.slug,
        check=check,
        diff=check,
        retire_all=True,
        vault_password_file=vault_password_file,
    )
    planned = jobs.plan(workspace, request)
    target = scratch = None
    if not check:
        credentials = backup_credentials(workspace, slug, vault_file)
        if credentials and vault_file is None:
            raise BadInput(
                f"no vault password for {slug}: the hand-over seals the backup credentials with "
                "it (--vault-password-file / MSPCTL_VAULT_PASSWORD_FILE, or "
                f"$MSPCTL_HOME/vault/{slug}.pass)",
                key="--vault-password-file",
            )
        target = _handover_dir(workspace, slug, output)
        scratch = target.with_name(f".{target.name}.partial")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        try:
            write_handover(workspace, slug, scratch, credentials, vault_file)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    outcome = jobs.execute(workspace, planned, on_progress=on_progress, on_wait=on_wait)
    result = _summary(outcome, check)
    if target is None or scratch is None:  # a check: nothing written, nothing archived
        return result
    if result.exit_code != ExitCode.OK:  # hosts keep left-overs: the client stays in place
        shutil.rmtree(scratch, ignore_errors=True)
        return result
    _finish_handover(scratch, target, outcome.run_id)
    result.handover = target
    result.handover_files = sorted(
        p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()
    )
    result.archive = _archive(workspace, slug, outcome.run_id, target)
    return result


def _summary(outcome: Outcome, check: bool) -> Offboarding:
    from mspctl.results import policy_of

    removals = [
        {"host": t.host, "policy": policy_of(t), "task": t.task}
        for t in outcome.result.tasks
        if t.changed
    ]
    code = outcome.exit_code
    if check and code == ExitCode.DRIFT:  # a preview lists the removals: that is success
        code = ExitCode.OK
    return Offboarding(
        client=outcome.plan.client.slug,
        check=check,
        run_id=outcome.run_id,
        exit_code=code,
        removals=removals,
        failed_hosts=list(outcome.result.failed_hosts),
    )


def _handover_dir(workspace: Workspace, slug: str, output: Path | None) -> Path:
    if output is not None:
        if output.exists():
            raise BadInput("the hand-over folder exists already", file=output, key="--output")
        if not output.parent.is_dir():
            raise BadInput("directory not found", file=output.parent, key="--output")
        return output
    root = workspace.config.home / "handover"
    root.mkdir(parents=True, exist_ok=True)
    base = f"{slug}-{dt.datetime.now(dt.UTC):%Y-%m-%d}"
    target, n = root / base, 1
    while target.exists():
        n += 1
        target = root / f"{base}-{n}"
    return target


def _finish_handover(scratch: Path, target: Path, run_id: str) -> None:
    files = sorted(p for p in scratch.rglob("*") if p.is_file())
    manifest = {
        "offboarding_run": run_id,
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "files": {
            p.relative_to(scratch).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in files
        },
    }
    (scratch / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    scratch.rename(target)


# -- the hand-over package -------------------------------------------------------------------
def write_handover(
    workspace: Workspace,
    slug: str,
    folder: Path,
    credentials: dict[str, dict[str, str]],
    vault_file: Path | None,
) -> None:
    """Write the package's files into ``folder`` (the client still in place)."""
    notes: list[str] = []
    _write_assets(workspace, slug, folder, notes)
    _write_reports(workspace, slug, folder, notes)
    _write_network_configs(workspace, slug, folder, notes)
    _write_backup_access(workspace, slug, folder, credentials, vault_file, notes)
    client = workspace.clients.get(slug)
    lines = [
        f"# Hand-over package of {client.data.name} ({slug})",
        "",
        f"Written by mspctl on {dt.date.today().isoformat()}, when the MSP stopped serving this "
        "client.",
        "",
        "| file | what it holds |",
        "| --- | --- |",
        "| `assets.csv`, `assets.json` | the asset inventory: every host's newest record |",
        "| `compliance-report.html`, `.json` | the compliance report of the last apply |",
        "| `monthly-report-<month>.html`, `.json` | the monthly service report |",
        "| `network-configs/<device>.cfg` | each network device's newest configuration backup |",
        "| `backup-access.md` | how to reach each host's backup repository |",
        f"| `{SEALED}` | the repositories' credentials, sealed with ansible-vault |",
        "| `manifest.json` | every file with its SHA-256 |",
        "",
        f"Open the credentials with `ansible-vault view {SEALED}` and the client's vault password.",
    ]
    if notes:
        lines += ["", "Not in this package:", "", *[f"- {n}" for n in notes]]
    (folder / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _newest_seq(workspace: Workspace, slug: str, *, mode: str | None = None) -> Any:
    from mspctl.store.queries import recent_runs

    for run in recent_runs(workspace.store, slug, 500):
        if run.status == "successful" and (mode is None or run.mode == mode):
            return run
    return None


def _write_assets(workspace: Workspace, slug: str, folder: Path, notes: list[str]) -> None:
    from mspctl.store.queries import assets_at

    run = _newest_seq(workspace, slug)
    records: dict[str, dict[str, Any]] = {}
    if run is not None:
        with workspace.store.session() as session:
            records = assets_at(session, slug, run.seq)
    if not records:
        notes.append("asset records: no run recorded any")
    (folder / "assets.json").write_text(
        json.dumps(records, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
    )
    rows = [{"host": host, **_flat(record)} for host, record in sorted(records.items())]
    columns = ["host", *sorted({k for row in rows for k in row if k != "host"})]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    (folder / "assets.csv").write_text(text.getvalue(), encoding="utf-8")


def _flat(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A record as CSV cells: nested mappings as dotted columns, lists as JSON."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = json.dumps(value, sort_keys=True, default=str)
        else:
            out[name] = value
    return out


def _write_reports(workspace: Workspace, slug: str, folder: Path, notes: list[str]) -> None:
    from mspctl import reports
    from mspctl.reports.monthly import Month, client_today
    from mspctl.reports.publish import monthly_reports

    run = _newest_seq(workspace, slug, mode="apply")
    if run is None:
        notes.append("compliance report: no successful apply recorded")
    else:
        data = reports.build(workspace, slug, run.id)
        (folder / "compliance-report.json").write_text(reports.render(data, "json"), "utf-8")
        (folder / "compliance-report.html").write_text(reports.render(data, "html"), "utf-8")
    today = client_today(workspace.clients.get(slug))
    month = Month(today.year, today.month)
    for fmt in ("json", "html"):
        target = folder / f"monthly-report-{today:%Y-%m}.{fmt}"

        def into(_slug: str, path: Path = target) -> Path:
            return path

        try:
            monthly_reports(workspace, [slug], month, fmt=fmt, lang=None, targets=into)
        except MspctlError as exc:  # e.g. a branding file that cannot be read
            notes.append(f"monthly report ({fmt}): {exc.message}")


def _write_network_configs(workspace: Workspace, slug: str, folder: Path, notes: list[str]) -> None:
    store = workspace.netconfigs
    devices = store.devices(slug)
    if not devices:
        notes.append("network configuration backups: the client has none")
        return
    target = folder / "network-configs"
    target.mkdir()
    for device in devices:
        versions = store.versions(slug, device)
        if versions:
            (target / f"{device}.cfg").write_text(store.text(slug, versions[0]), "utf-8")


def backup_credentials(
    workspace: Workspace, slug: str, vault_file: Path | None
) -> dict[str, dict[str, str]]:
    """Per backed-up host, its repository (as the last status check read it) and password."""
    from mspctl.store.queries import state_at

    run = _newest_seq(workspace, slug)
    repositories: dict[str, str] = {}
    if run is not None:
        with workspace.store.session() as session:
            for row in state_at(session, slug, run.seq):
                evidence = row.evidence if isinstance(row.evidence, dict) else {}
                if row.policy == "backup_agent" and isinstance(evidence.get("repository"), str):
                    repositories.setdefault(row.host, evidence["repository"])
    from ansible.errors import AnsibleError

    client = workspace.clients.get(slug)
    view = client.inventory_view(vault_file)
    out = {}
    for host, repository in sorted(repositories.items()):
        entry = {"repository": repository}
        value = view.host_vars(host).get(BACKUP_PASSWORD)
        try:
            # decrypts an inline !vault value; a plain str, not Ansible's tagged/encrypted type
            text = None if value is None else str(value).encode("utf-8").decode("utf-8")
        except AnsibleError:  # no vault password: the sealed file cannot be written anyway
            text = None
        if text is not None and "{{" not in text:
            remember_secrets({text})
            entry["password"] = text
        out[host] = entry
    return out


def _write_backup_access(
    workspace: Workspace,
    slug: str,
    folder: Path,
    credentials: dict[str, dict[str, str]],
    vault_file: Path | None,
    notes: list[str],
) -> None:
    if not credentials:
        notes.append("backup repositories: no backup status was ever recorded")
        return
    lines = [
        f"# Backup repositories of {slug}",
        "",
        "Each host was backed up with restic. The repositories stay where they are until their "
        "retention ends (the MSP keeps them; ask it for their transfer or deletion).",
        "",
        "| host | repository |",
        "| --- | --- |",
        *[f"| {h} | `{c['repository']}` |" for h, c in sorted(credentials.items())],
        "",
        f"The repository passwords are in `{SEALED}` (ansible-vault, the client's vault "
        "password). To list a host's snapshots:",
        "",
        "```",
        f"ansible-vault view {SEALED}",
        "restic -r <repository> snapshots   # restic asks for the password",
        "```",
    ]
    (folder / "backup-access.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert vault_file is not None  # offboard() refuses before anything runs
    import yaml
    from ansible.parsing.vault import VaultLib, VaultSecret

    secret = VaultSecret(vault_file.read_text(encoding="utf-8").strip().encode())
    plain = yaml.safe_dump({"backup_repositories": credentials}, sort_keys=True)
    sealed = VaultLib([("default", secret)]).encrypt(plain)
    path = folder / SEALED
    path.touch(mode=0o600)
    path.write_bytes(sealed)

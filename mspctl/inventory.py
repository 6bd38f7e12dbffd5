"""A client's inventory as Ansible sees it (group_vars, host_vars and vault included).

The one reader of client inventories: the client's host list (``Client.hosts``) and the checks
before a run, which only the inventory can tell: that ``--limit`` matches a host, and that
every secret a policy needs (a role option declared ``no_log: true``) is defined for every host
the policy targets. Nothing is templated or sent anywhere.

Ansible only warns and skips an inventory source it cannot parse; mspctl parses strictly: what
Ansible cannot fully parse is bad input naming the file (and the line when Ansible knows it),
never a half-parsed inventory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mspctl.connections import ConnectionReport, is_winrm
from mspctl.errors import BadInput
from mspctl.policies import POLICIES, load_argument_spec


@dataclass(frozen=True)
class Secret:
    policy: str
    variable: str
    required: bool = True  # an option with a default (an empty enable secret) may stay unset


def secrets_of(project_dir: Path, policies: Iterable[str]) -> list[Secret]:
    """Role options declared ``no_log: true`` in the policies' argument specs; one with a
    ``default`` is optional (masked when set, never required)."""
    found = []
    for policy in policies:
        options = load_argument_spec(POLICIES[policy].role_dir(project_dir)) or {}
        found += [
            Secret(policy, name, "default" not in opt)
            for name, opt in sorted(options.items())
            if opt.get("no_log")
        ]
    return found


class InventoryView:
    def __init__(
        self,
        sources: Sequence[Path],
        display_dir: str,
        vault_password_file: Path | None,
        *,
        directory: Path | None = None,
    ) -> None:
        """``directory`` is the client folder that ``display_dir`` names in messages."""
        from ansible.errors import AnsibleError
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.vars.manager import VariableManager

        self.display_dir = display_dir
        self.directory = directory
        self.vault_password_file = vault_password_file
        self._loader = DataLoader()
        secrets: list[Any] = []
        if vault_password_file is not None:
            from ansible.parsing.vault import get_file_vault_secret

            try:
                secret = get_file_vault_secret(str(vault_password_file), loader=self._loader)
                secret.load()
            except (AnsibleError, OSError) as exc:
                raise BadInput(
                    f"cannot read the vault password ({_first_line(exc)})", file=vault_password_file
                ) from None
            secrets = [("default", secret)]
            self._loader.set_vault_secrets(secrets)
        # inline !vault values decrypt through ansible's process-wide secrets context (set once
        # by ansible's own CLIs); mspctl may open several inventories in one process
        from ansible.parsing.vault import VaultSecretsContext

        VaultSecretsContext._current = VaultSecretsContext(secrets)  # private: no public reset
        source = self._display(str(sources[0]))
        with _strict_parsing() as failures:
            try:
                self._inventory = InventoryManager(
                    loader=self._loader, sources=[str(s) for s in sources]
                )
            except AnsibleError as exc:
                errors = [f for f in failures if isinstance(f, BaseException)]
                raise self._bad_input(errors[-1] if errors else exc, default=source) from None
        skipped = [f for f in failures if isinstance(f, str)]
        if skipped:  # the YAML plugin skips what it does not understand: half an inventory
            raise BadInput(skipped[0], file=source)
        self._variables = VariableManager(loader=self._loader, inventory=self._inventory)

    def _display(self, path: str) -> str:
        """A file as messages name it: relative to the client folder when inside it."""
        if self.directory is not None:
            try:
                return f"{self.display_dir.rstrip('/')}/{Path(path).relative_to(self.directory)}"
            except ValueError:
                pass
        return path

    def _error(self, exc: BaseException, *, key: str | None = None) -> BadInput:
        """An ansible error reading variables: a vault problem says which, anything else
        names the file."""
        if _is_vault_error(exc):
            hint = "wrong vault password" if self.vault_password_file else "no vault password"
            return BadInput(
                f"{hint}: set --vault-password-file / MSPCTL_VAULT_PASSWORD_FILE "
                f"({_first_line(exc)})",
                file=self.display_dir,
                key=key,
            )
        return self._bad_input(exc, key=key)

    def _bad_input(
        self, exc: BaseException, *, default: str | None = None, key: str | None = None
    ) -> BadInput:
        """An ansible error as bad input naming the file and line it comes from (the innermost
        one ansible knows), else ``default`` or the client's inventory folder."""
        file, line = default or self.display_dir, None
        cause: BaseException | None = exc
        while cause is not None:
            origin = getattr(cause, "obj", None)
            path = getattr(origin, "path", None)  # an ansible Origin: path, line_num
            if isinstance(path, str):
                file, line = self._display(path), getattr(origin, "line_num", None)
            cause = cause.__cause__ or cause.__context__
        message = _first_line(exc)
        message = _TAGGED_TYPE.sub(lambda m: m[1].lower(), message)
        if line:
            file = f"{file}:{line}"
        return BadInput(message, file=file, key=key)

    def hosts_with_vars(self) -> Iterator[tuple[str, list[str], dict[str, Any]]]:
        """Every host with its groups and variables, for the client's host list. Whole-file
        vaulted variables are left out when there is no vault password (listing hosts needs
        none); a file Ansible cannot parse is bad input naming it."""
        from ansible.errors import AnsibleError
        from ansible.inventory.helpers import get_group_vars
        from ansible.utils.vars import combine_vars

        for host in sorted(self._inventory.get_hosts("all"), key=lambda h: h.name):
            groups = [g.name for g in host.get_groups()]
            try:
                variables = dict(self._variables.get_vars(host=host, include_hostvars=False))
            except AnsibleError as exc:
                if self.vault_password_file is not None or not _is_vault_error(exc):
                    raise self._error(exc) from None
                variables = combine_vars(get_group_vars(host.get_groups()), host.get_vars())
            yield host.name, groups, variables

    def has_group(self, name: str) -> bool:
        return name in self._inventory.groups

    def hosts(self, pattern: str, limit: str | None = None) -> list[str]:
        from ansible import constants

        constants.HOST_PATTERN_MISMATCH = "ignore"  # mspctl reports an empty match itself
        self._inventory.subset(limit)
        try:
            return [h.name for h in self._inventory.get_hosts(pattern or "mspctl_no_hosts")]
        finally:
            self._inventory.subset(None)

    def host_vars(self, host: str) -> dict[str, Any]:
        from ansible.errors import AnsibleError

        try:
            return dict(
                self._variables.get_vars(
                    host=self._inventory.get_host(host), include_hostvars=False
                )
            )
        except AnsibleError as exc:
            raise self._error(exc) from None

    def _resolved(self, host: str, variable: str) -> str | None:
        """A variable's value as text: decrypted, and templated (``"{{ vault_x }}"``)."""
        from ansible.errors import AnsibleError
        from ansible.template import Templar

        hostvars = self.host_vars(host)
        value = hostvars.get(variable)
        if value is None:
            return None
        try:
            text = str(value)  # decrypts an inline !vault value
            if "{{" in text:
                text = str(Templar(loader=self._loader, variables=hostvars).template(text))
        except AnsibleError as exc:
            raise self._error(exc, key=variable) from None
        return text

    def _credential(self, host: str, variable: str) -> str | None:
        """A connection credential as text, decrypted and templated; ``None`` when it is unset
        or refers to a variable that is not defined (a vault file without it)."""
        from ansible.errors import AnsibleError, AnsibleUndefinedVariable
        from ansible.template import Templar

        hostvars = self.host_vars(host)
        value = hostvars.get(variable)
        if value is None:
            return None
        try:
            if isinstance(value, str) and "{{" in value:  # the original keeps ansible's trust
                value = Templar(loader=self._loader, variables=hostvars).template(value)
            return str(value) if value is not None else None
        except AnsibleUndefinedVariable:
            return None
        except AnsibleError as exc:
            raise self._error(exc, key=variable) from None

    def check_secrets(
        self, secrets: Iterable[Secret], targets: dict[str, list[str]]
    ) -> frozenset[str]:
        """Every secret of a policy is defined for every host that policy targets; returns
        their values (to mask them in what mspctl records)."""
        values: set[str] = set()
        for secret in secrets:
            found = {h: self._resolved(h, secret.variable) for h in targets.get(secret.policy, [])}
            values |= {v for v in found.values() if v}
            missing = [h for h, v in found.items() if not v] if secret.required else []
            if missing:
                raise BadInput(
                    f"missing secret for {', '.join(missing)} (policy {secret.policy}; put it in "
                    "an ansible-vault file such as group_vars/all/vault.yml)",
                    file=self.display_dir,
                    key=secret.variable,
                )
        return frozenset(values)

    def check_connections(self, hosts: Iterable[str]) -> ConnectionReport:
        """The connection settings of the hosts a run targets (Windows hosts over WinRM):
        wrong ones are bad input naming the key; returns warnings and the credentials' values
        (to mask them)."""
        from functools import partial

        from mspctl.connections import check_winrm, merge

        reports = []
        for host in sorted(set(hosts)):
            variables = self.host_vars(host)
            if is_winrm(variables):
                reports.append(check_winrm(host, variables, partial(self._credential, host)))
        report = merge(reports)
        if report.problems:
            first = report.problems[0]
            raise BadInput(first.message, file=self.display_dir, key=first.key)
        return report


# ansible 2.19 names the YAML types of its messages by their internal tagged classes
_TAGGED_TYPE = re.compile(r"<class '[\w.]*\._AnsibleTagged(\w+)'>")


def _is_vault_error(exc: BaseException) -> bool:
    message = _first_line(exc).lower()
    return "vault" in message or "decrypt" in message


@contextmanager
def _strict_parsing() -> Iterator[list[BaseException | str]]:
    """Ansible's inventory parsing made strict while mspctl parses a client's ``hosts.yml``:
    only the YAML plugin (a client inventory is YAML), and a source it cannot parse fails
    instead of being skipped with a warning. Yields the plugin's failures (ansible would print
    them as warnings), so the error can name the file and line, and the parts of the file it
    skipped (their warnings' text)."""
    from ansible import constants
    from ansible.utils.display import Display

    display = Display()  # ansible's process-wide singleton
    failures: list[BaseException | str] = []
    saved = {name: getattr(constants, name) for name in _STRICT}
    for name, value in _STRICT.items():
        setattr(constants, name, value)

    def record(msg: str, exception: BaseException, **_kw: Any) -> None:
        failures.append(exception)

    def warning(msg: str, *args: Any, **kwargs: Any) -> None:
        if msg.startswith("Skipping"):  # the YAML plugin leaving out part of the file
            failures.append(msg)
        else:
            type(display).warning(display, msg, *args, **kwargs)

    display.error_as_warning = record
    display.warning = warning
    try:
        yield failures
    finally:
        del display.error_as_warning, display.warning  # the class's methods again
        for name, value in saved.items():
            setattr(constants, name, value)


_STRICT: dict[str, Any] = {
    "INVENTORY_ENABLED": ["yaml"],
    "INVENTORY_UNPARSED_IS_FAILED": True,
    "INVENTORY_ANY_UNPARSED_IS_FAILED": True,
}


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__

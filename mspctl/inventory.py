"""A client's inventory as Ansible sees it (group_vars, host_vars and vault included).

Used before a run to check what only the inventory can tell: that ``--limit`` matches a host,
and that every secret a policy needs (a role option declared ``no_log: true``) is defined for
every host the policy targets. Nothing is templated or sent anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mspctl.errors import BadInput
from mspctl.policies import POLICIES, load_argument_spec


@dataclass(frozen=True)
class Secret:
    policy: str
    variable: str


def secrets_of(project_dir: Path, policies: Iterable[str]) -> list[Secret]:
    """Role options declared ``no_log: true`` in the policies' argument specs."""
    found = []
    for policy in policies:
        options = load_argument_spec(POLICIES[policy].role_dir(project_dir)) or {}
        found += [Secret(policy, name) for name, opt in sorted(options.items())
                  if opt.get("no_log")]
    return found


class InventoryView:
    def __init__(self, sources: Sequence[Path], display_dir: str,
                 vault_password_file: Path | None) -> None:
        from ansible.errors import AnsibleError
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.vars.manager import VariableManager

        self.display_dir = display_dir
        self.vault_password_file = vault_password_file
        self._loader = DataLoader()
        secrets: list[Any] = []
        if vault_password_file is not None:
            from ansible.parsing.vault import get_file_vault_secret

            try:
                secret = get_file_vault_secret(str(vault_password_file), loader=self._loader)
                secret.load()
            except (AnsibleError, OSError) as exc:
                raise BadInput(f"cannot read the vault password ({_first_line(exc)})",
                               file=vault_password_file) from None
            secrets = [("default", secret)]
            self._loader.set_vault_secrets(secrets)
        # inline !vault values decrypt through ansible's process-wide secrets context (set once
        # by ansible's own CLIs); mspctl may open several inventories in one process
        from ansible.parsing.vault import VaultSecretsContext

        VaultSecretsContext._current = VaultSecretsContext(secrets)  # private: no public reset
        self._inventory = InventoryManager(loader=self._loader, sources=[str(s) for s in sources])
        self._variables = VariableManager(loader=self._loader, inventory=self._inventory)

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
            return dict(self._variables.get_vars(host=self._inventory.get_host(host),
                                                 include_hostvars=False))
        except AnsibleError as exc:
            message = _first_line(exc)
            if "vault" in message.lower() or "decrypt" in message.lower():
                hint = "wrong vault password" if self.vault_password_file else "no vault password"
                raise BadInput(
                    f"{hint}: set --vault-password-file / MSPCTL_VAULT_PASSWORD_FILE "
                    f"({message})", file=self.display_dir) from None
            raise BadInput(message, file=self.display_dir) from None

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
            message = _first_line(exc)
            if "vault" in message.lower() or "decrypt" in message.lower():
                hint = "wrong vault password" if self.vault_password_file else "no vault password"
                message = f"{hint}: set --vault-password-file / MSPCTL_VAULT_PASSWORD_FILE " \
                          f"({message})"
            raise BadInput(message, file=self.display_dir, key=variable) from None
        return text

    def check_secrets(
        self, secrets: Iterable[Secret], targets: dict[str, list[str]]
    ) -> frozenset[str]:
        """Every secret of a policy is defined for every host that policy targets; returns
        their values (to mask them in what mspctl records)."""
        values: set[str] = set()
        for secret in secrets:
            found = {h: self._resolved(h, secret.variable) for h in targets.get(secret.policy, [])}
            values |= {v for v in found.values() if v}
            missing = [h for h, v in found.items() if not v]
            if missing:
                raise BadInput(
                    f"missing secret for {', '.join(missing)} (policy {secret.policy}; put it in "
                    "an ansible-vault file such as group_vars/all/vault.yml)",
                    file=self.display_dir, key=secret.variable)
        return frozenset(values)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__

"""The workspace: what domain functions work on, without any output.

Configuration, the tier catalogue, the client registry, the run store and each client's
waivers, each built on first use. The CLI's :class:`mspctl.app.Application` holds one (it adds
the consoles); scripts and tests build their own.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from mspctl.config import Config
from mspctl.errors import BadInput

if TYPE_CHECKING:
    from mspctl.catalogue import Catalogue
    from mspctl.clients import Client, ClientRegistry
    from mspctl.netconfigs import ConfigStore
    from mspctl.store import Store
    from mspctl.waivers import Waivers


class Workspace:
    def __init__(
        self,
        *,
        project_dir: Path | None = None,
        home: Path | None = None,
        db_url: str | None = None,
    ) -> None:
        self._project_dir = project_dir
        self._home = home
        self._db_url = db_url

    @cached_property
    def config(self) -> Config:
        return Config.load(self._project_dir, self._home, self._db_url)

    @cached_property
    def catalogue(self) -> Catalogue:
        from mspctl.catalogue import Catalogue

        return Catalogue.load(self.config.tiers_dir, cache_dir=self.config.home / "cache")

    @cached_property
    def clients(self) -> ClientRegistry:
        from mspctl.clients import ClientRegistry

        return ClientRegistry(
            self.config.inventories_dir,
            self.catalogue,
            lambda slug: self.vault_password_file(slug, None),
        )

    @cached_property
    def store(self) -> Store:
        from mspctl.store import Store

        return Store.open(self.config.db_url)

    @cached_property
    def netconfigs(self) -> ConfigStore:
        """Network device configuration backups: a git repository per client."""
        from mspctl.netconfigs import ConfigStore

        return ConfigStore(self.config.home / "configs")

    def waivers(self, client: Client) -> Waivers:
        """A client's waivers (bad input if the file is invalid)."""
        from mspctl.waivers import Waivers

        # the inventory is read only if a waiver names a host class
        classes = lambda: {host.name: host.classes for host in client.hosts}  # noqa: E731
        return Waivers.load(client.directory, client.display_dir, classes)

    def waivers_of(self, slug: str) -> Waivers | None:
        """The waivers of a client by name; none for a client gone from inventories/ (it keeps
        its history in the store)."""
        if slug not in self.clients.names():
            return None
        return self.waivers(self.clients.get(slug))

    def vault_password_file(self, client: str, given: Path | None) -> Path | None:
        """The vault password file: given (option or MSPCTL_VAULT_PASSWORD_FILE), else
        ``$MSPCTL_HOME/vault/<client>.pass`` when it exists."""
        if given is not None:
            if not given.is_file():
                raise BadInput(
                    "vault password file not found", file=given, key="--vault-password-file"
                )
            return given
        default = self.config.home / "vault" / f"{client}.pass"
        return default if default.is_file() else None

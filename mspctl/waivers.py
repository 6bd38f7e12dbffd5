"""Waivers: knowingly accepted exceptions, in ``inventories/<client>/waivers.yml``.

A waiver names a control (exact id or a glob such as ``printers.*``), the hosts or host
classes it covers, a justification, who approved it and an expiry date — all required. A waived
failing control is reported as *waived* (never as passing); after its expiry date the waiver no
longer applies and is flagged as expired. An invalid file is bad input, never ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mspctl.yamlio import load_model

WAIVERS_FILE = "waivers.yml"


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    control: Annotated[str, Field(min_length=3)]
    hosts: list[str] = Field(min_length=1)
    justification: Annotated[str, Field(min_length=10)]
    approved_by: Annotated[str, Field(min_length=2)]
    expires: Annotated[dt.date, Field(strict=False)]
    ticket: str | None = None

    @field_validator("justification", "approved_by")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    def covers(self, host: str, classes: Callable[[], tuple[str, ...]], control_id: str) -> bool:
        """Whether the waiver names the control and the host (by name, ``all`` or one of its
        classes: ``classes`` gives them, called only when needed)."""
        scope = set(self.hosts)
        return fnmatchcase(control_id, self.control) and (
            "all" in scope or host in scope or bool(scope & set(classes()))
        )

    def active(self, on: dt.date) -> bool:
        return on <= self.expires

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    waivers: list[Waiver] = Field(default_factory=list)


@dataclass(frozen=True)
class WaiverVerdict:
    status: str  # the effective status: pass | fail | error | waived
    waiver: Waiver | None  # the waiver that applies, or the expired one that no longer does
    expired: bool


HostClasses = Mapping[str, tuple[str, ...]]


class Waivers:
    """A client's waivers. ``host_classes`` (host -> its classes) may be a function giving
    them: it reads the client's inventory, which only a waiver naming a class needs, so it is
    called the first time one is checked against a host it does not name."""

    def __init__(
        self, items: list[Waiver], host_classes: HostClasses | Callable[[], HostClasses]
    ) -> None:
        self.items = items
        self._host_classes = host_classes

    @property
    def host_classes(self) -> HostClasses:
        if callable(self._host_classes):
            self._host_classes = self._host_classes()
        return self._host_classes

    @classmethod
    def load(
        cls,
        client_dir: Path,
        display_dir: str,
        host_classes: HostClasses | Callable[[], HostClasses],
    ) -> Waivers:
        path = client_dir / WAIVERS_FILE
        if not path.is_file():
            return cls([], host_classes)
        shown = f"{display_dir}/{WAIVERS_FILE}"
        parsed = load_model(path, WaiverFile, display=shown, empty={})
        return cls(list(parsed.waivers), host_classes)

    def verdict(self, host: str, control_id: str, status: str, on: dt.date) -> WaiverVerdict:
        """The effective status of a finding on a date, with the waiver involved."""
        if status == "pass":
            return WaiverVerdict("pass", None, expired=False)
        matching = [
            w
            for w in self.items
            if w.covers(host, lambda: self.host_classes.get(host, ()), control_id)
        ]
        active = [w for w in matching if w.active(on)]
        if active:
            return WaiverVerdict("waived", max(active, key=lambda w: w.expires), expired=False)
        if matching:
            return WaiverVerdict(status, max(matching, key=lambda w: w.expires), expired=True)
        return WaiverVerdict(status, None, expired=False)

    def expired(self, on: dt.date) -> list[Waiver]:
        return [w for w in self.items if not w.active(on)]

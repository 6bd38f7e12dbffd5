"""Trial offers and client trials: the offers are code (``tiers/offers.yml``), the trials are in
each client's contract (``contract.trial``, or several in ``contract.trials``).

An offer names the tier it lends, its length in days and who may get it (the contract tiers it
is for). A client's trial is bad input (exit 3, naming the file and key) when it names an
unknown offer, lends another tier than its offer, lasts longer than its offer, is offered to a
contract tier the offer is not for, starts before the contract, or overlaps another trial.
``ending`` lists the trials that end within N days, with what the client loses when the
effective tier falls back to the contract (``tiers diff``): ``mspctl clients list --trials`` and
the nightly summary (``mspctl run-due``) show them.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from mspctl.errors import BadInput
from mspctl.yamlio import load_model

if TYPE_CHECKING:
    from mspctl.catalogue import Catalogue
    from mspctl.clients import ClientFile, Trial
    from mspctl.notify import TrialEnding
    from mspctl.workspace import Workspace

OFFERS_FILE = "offers.yml"
NOTICE_DAYS = 14  # the nightly summary announces the trials ending within two weeks


class Offer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    tier: str
    days: Annotated[int, Field(ge=1, le=366)]
    # the contract tiers that may get it; empty: any client
    for_tiers: list[str] = Field(default_factory=list)
    description: str | None = None


class OffersFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    offers: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")], Offer]


def load_offers(tiers_dir: Path, tier_names: list[str]) -> dict[str, Offer]:
    """The catalogue's offers (none when the catalogue has no offers file)."""
    path = tiers_dir / OFFERS_FILE
    if not path.is_file():
        return {}
    shown = f"{tiers_dir.name}/{OFFERS_FILE}"
    data = load_model(path, OffersFile, display=shown)
    for name, offer in data.offers.items():
        for key, tier in [("tier", offer.tier)] + [("for_tiers", t) for t in offer.for_tiers]:
            if tier not in tier_names:
                raise BadInput(f"unknown tier {tier!r}", file=shown, key=f"offers.{name}.{key}")
    return dict(data.offers)


def all_trials(data: ClientFile) -> list[tuple[str, Trial]]:
    """A contract's trials with the key that names each in client.yml."""
    contract = data.contract
    found = [("contract.trial", contract.trial)] if contract.trial is not None else []
    return found + [(f"contract.trials[{i}]", t) for i, t in enumerate(contract.trials)]


def trial_days(trial: Trial) -> int:
    """A trial's length in days, both ends included (1 Nov to 30 Dec is 60 days)."""
    return (trial.end - trial.start).days + 1


def check_trials(data: ClientFile, offers: dict[str, Offer], *, file: str) -> None:
    """A contract's trials against the offers and each other; BadInput names the first problem."""
    trials = all_trials(data)
    contract = data.contract
    for key, trial in trials:
        if trial.start < contract.start:
            raise BadInput(
                f"the trial starts {trial.start}, before the contract ({contract.start})",
                file=file,
                key=f"{key}.start",
            )
        if not offers:
            continue
        offer_name, offer = _offer_of(trial, offers, file=file, key=key)
        if offer.tier != trial.tier:
            raise BadInput(
                f"offer {offer_name} lends tier {offer.tier}, not {trial.tier}",
                file=file,
                key=f"{key}.tier",
            )
        if trial_days(trial) > offer.days:
            raise BadInput(
                f"the trial lasts {trial_days(trial)} days, longer than offer {offer_name} "
                f"({offer.days} days: it may end {trial.start + dt.timedelta(offer.days - 1)})",
                file=file,
                key=f"{key}.end",
            )
        if offer.for_tiers and contract.tier not in offer.for_tiers:
            raise BadInput(
                f"offer {offer_name} is for contracts on {', '.join(offer.for_tiers)}, "
                f"not {contract.tier}",
                file=file,
                key=f"{key}.offer" if trial.offer else key,
            )
    ordered = sorted(trials, key=lambda kt: kt[1].start)
    for (_k1, first), (key, second) in itertools.pairwise(ordered):
        if second.start <= first.end:
            raise BadInput(
                f"the trial {second.start}..{second.end} overlaps the trial "
                f"{first.start}..{first.end}",
                file=file,
                key=f"{key}.start",
            )


def _offer_of(trial: Trial, offers: dict[str, Offer], *, file: str, key: str) -> tuple[str, Offer]:
    """The offer a trial takes: the one it names, else the only offer of its tier."""
    if trial.offer is not None:
        if trial.offer not in offers:
            known = ", ".join(sorted(offers)) or "none"
            raise BadInput(
                f"unknown offer {trial.offer!r} (known: {known})", file=file, key=f"{key}.offer"
            )
        return trial.offer, offers[trial.offer]
    matching = [(n, o) for n, o in sorted(offers.items()) if o.tier == trial.tier]
    if not matching:
        raise BadInput(f"no offer lends tier {trial.tier}", file=file, key=f"{key}.tier")
    if len(matching) > 1:
        names = ", ".join(n for n, _o in matching)
        raise BadInput(f"several offers lend {trial.tier} ({names}): name one", file=file, key=key)
    return matching[0]


# -- trials ending ---------------------------------------------------------------------------
@dataclass(frozen=True)
class EndingTrial:
    client: str
    tier: str  # the tier of the trial
    start: dt.date
    end: dt.date
    days_left: int  # 0: it ends today
    after: str  # the tier the client falls back to: its contract's
    loses: tuple[dict[str, Any], ...]  # `tiers diff` trial tier -> contract tier

    def as_dict(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "tier": self.tier,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "days_left": self.days_left,
            "after": self.after,
            "loses": list(self.loses),
        }


def ending(
    workspace: Workspace, today: dt.date | None = None, *, within: int = 14
) -> tuple[list[EndingTrial], list[str]]:
    """Trials of every client ending between today and ``within`` days (each client's own
    today, in its time zone, unless given); with the messages of clients that cannot be read."""
    from zoneinfo import ZoneInfo

    found, broken = [], []
    catalogue = workspace.catalogue
    for slug in workspace.clients.names():
        try:
            client = workspace.clients.get(slug)
        except BadInput as exc:
            broken.append(exc.message)
            continue
        day = today or dt.datetime.now(ZoneInfo(client.data.timezone)).date()
        for _key, trial in all_trials(client.data):
            left = (trial.end - day).days
            if 0 <= left <= within and trial.start <= day:
                found.append(_ending(catalogue, slug, client.data.contract.tier, trial, left))
    return sorted(found, key=lambda t: (t.end, t.client)), broken


def _ending(catalogue: Catalogue, slug: str, contract: str, trial: Trial, left: int) -> EndingTrial:
    from mspctl.catalogue import diff_tiers

    changes = diff_tiers(catalogue.get(trial.tier), catalogue.get(contract))
    return EndingTrial(slug, trial.tier, trial.start, trial.end, left, contract, tuple(changes))


def notices(
    workspace: Workspace, today: dt.date | None = None, *, within: int = NOTICE_DAYS
) -> tuple[TrialEnding, ...]:
    """The trials ending soon as the nightly summary announces them (unreadable clients are
    the fleet run's to report)."""
    from mspctl.notify import TrialEnding

    found, _broken = ending(workspace, today, within=within)
    return tuple(
        TrialEnding(
            client=t.client,
            tier=t.tier,
            end=t.end.isoformat(),
            days_left=t.days_left,
            after=t.after,
            lost=tuple(c["key"] for c in t.loses if c["kind"] == "lost"),
            changed=sum(1 for c in t.loses if c["kind"] == "changed"),
        )
        for t in found
    )

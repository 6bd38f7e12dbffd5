"""Trial offers and client trials (mspctl.trials): pure checks of dates and offers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mspctl.clients import ClientFile
from mspctl.errors import BadInput
from mspctl.notify import Summary, TrialEnding, render_json, render_text
from mspctl.trials import Offer, check_trials, trial_days

FILE = "inventories/acme/client.yml"
OFFERS = {"platinum-60": Offer(tier="platinum", days=60, for_tiers=["bronze", "silver", "gold"])}
START = dt.date(2026, 1, 5)


def client(*, tier: str = "silver", start: dt.date = START, **contract: Any) -> ClientFile:
    return ClientFile.model_validate(
        {
            "name": "Acme",
            "timezone": "Europe/Paris",
            "contract": {"tier": tier, "start": start, **contract},
        }
    )


def trial(start: dt.date, days: int, **extra: Any) -> dict[str, Any]:
    return {"tier": "platinum", "start": start, "end": start + dt.timedelta(days - 1), **extra}


def bad(data: ClientFile, offers: dict[str, Offer] = OFFERS) -> BadInput:
    with pytest.raises(BadInput) as caught:
        check_trials(data, offers, file=FILE)
    assert caught.value.file == FILE
    return caught.value


def test_the_offer_of_sixty_days_both_ends_included() -> None:
    demo = trial(dt.date(2026, 11, 1), 60)
    assert demo["end"] == dt.date(2026, 12, 30)
    check_trials(client(trial=demo), OFFERS, file=FILE)


def test_a_trial_longer_than_its_offer_names_its_end() -> None:
    error = bad(client(trial=trial(dt.date(2026, 11, 1), 61)))
    assert error.key == "contract.trial.end"
    assert "61 days" in error.message and "platinum-60" in error.message
    assert "2026-12-30" in error.message  # the last day the offer allows


def test_a_trial_before_the_contract_names_its_start() -> None:
    error = bad(client(trial=trial(START - dt.timedelta(1), 10)))
    assert error.key == "contract.trial.start"
    assert "before the contract" in error.message


def test_overlapping_trials_name_the_later_one() -> None:
    first = trial(dt.date(2026, 2, 1), 30)
    second = trial(dt.date(2026, 3, 2), 10)  # 1 Feb + 30 days ends 2 March: the same day
    error = bad(client(trial=first, trials=[second]))
    assert error.key == "contract.trials[0].start"
    assert "overlaps" in error.message
    check_trials(client(trial=first, trials=[trial(dt.date(2026, 3, 3), 10)]), OFFERS, file=FILE)


def test_an_offer_is_only_for_the_tiers_it_names() -> None:
    error = bad(client(tier="platinum", trial=trial(dt.date(2026, 2, 1), 10)))
    assert error.key == "contract.trial"
    assert "for contracts on bronze, silver, gold" in error.message


def test_an_unknown_or_mismatched_offer_is_named() -> None:
    error = bad(client(trial=trial(dt.date(2026, 2, 1), 10, offer="diamond-90")))
    assert error.key == "contract.trial.offer" and "unknown offer 'diamond-90'" in error.message
    error = bad(client(trial={**trial(dt.date(2026, 2, 1), 10), "tier": "gold"}))
    assert error.key == "contract.trial.tier" and "no offer lends tier gold" in error.message


def test_without_offers_only_the_dates_are_checked() -> None:
    check_trials(client(trial=trial(dt.date(2026, 2, 1), 365)), {}, file=FILE)
    assert bad(client(trial=trial(START - dt.timedelta(1), 5)), {}).key == "contract.trial.start"


@given(
    offset=st.integers(min_value=0, max_value=3000),
    days=st.integers(min_value=1, max_value=60),
    extra=st.integers(min_value=1, max_value=400),
)
def test_the_offer_length_is_the_boundary(offset: int, days: int, extra: int) -> None:
    start = START + dt.timedelta(offset)
    check_trials(client(trial=trial(start, days)), OFFERS, file=FILE)
    too_long = client(trial=trial(start, 60 + extra))
    assert trial_days(too_long.contract.trial) == 60 + extra  # type: ignore[arg-type]
    with pytest.raises(BadInput) as caught:
        check_trials(too_long, OFFERS, file=FILE)
    assert caught.value.key == "contract.trial.end"


@given(
    first=st.integers(min_value=0, max_value=400),
    gap=st.integers(min_value=-70, max_value=70),
    length=st.integers(min_value=1, max_value=60),
)
def test_two_trials_overlap_exactly_when_their_days_meet(first: int, gap: int, length: int) -> None:
    a = trial(START + dt.timedelta(first), length)
    b_start = a["end"] + dt.timedelta(gap)
    if b_start < START:
        return
    b = trial(b_start, length)
    overlapping = b_start <= a["end"] and a["start"] <= b["end"]
    data = client(trial=a, trials=[b])
    if overlapping:
        with pytest.raises(BadInput, match="overlaps"):
            check_trials(data, OFFERS, file=FILE)
    else:
        check_trials(data, OFFERS, file=FILE)


def test_the_effective_tier_follows_any_of_the_trials(tmp_path) -> None:
    from mspctl.clients import Client

    data = client(trial=trial(dt.date(2026, 2, 1), 10), trials=[trial(dt.date(2026, 6, 1), 10)])
    one = Client("acme", tmp_path, data, "inventories/acme")
    assert one.effective_tier(dt.date(2026, 6, 5)).name == "platinum"
    assert one.effective_tier(dt.date(2026, 6, 5)).reason == "trial until 2026-06-10"
    assert one.effective_tier(dt.date(2026, 6, 11)).name == "silver"


def test_the_nightly_summary_announces_ending_trials() -> None:
    now = dt.datetime(2026, 12, 20, 3, 0, tzinfo=dt.UTC)
    ending = TrialEnding(
        "acme", "platinum", "2026-12-30", 10, "silver", ("policies.printers.enabled",), 22
    )
    summary = Summary("nightly", "ok", now, now, trials=(ending,))
    text = render_text(summary)
    assert "trials ending soon:" in text
    assert (
        "acme: platinum trial ends 2026-12-30 (in 10 day(s)), then silver; "
        "loses policies.printers.enabled (+22 changed)"
    ) in text
    assert render_json(summary)["trials"] == [
        {
            "client": "acme",
            "tier": "platinum",
            "end": "2026-12-30",
            "days_left": 10,
            "after": "silver",
            "lost": ["policies.printers.enabled"],
            "changed": 22,
        }
    ]
    assert "trials" not in render_text(Summary("nightly", "ok", now, now))

"""A client's SLA clock: its country, and the first-response time of an alert's host."""

from __future__ import annotations

from mspctl.incidents.sla import ClientClock, client_country

PLATINUM = ClientClock({}, {"default": 2.0, "servers": 1.0})


def test_the_country_comes_from_client_yml_else_the_time_zone_else_italy() -> None:
    assert client_country("Europe/Paris", "IT") == "IT"
    assert client_country("Europe/Rome", None) == "IT"
    assert client_country("Europe/Paris", None) == "FR"
    assert client_country("UTC", None) == "IT"


def test_first_response_from_the_target_label_else_the_contract() -> None:
    assert PLATINUM.sla_hours({"sla_hours": "0.5", "mspctl_class": "servers"}) == 0.5
    assert PLATINUM.sla_hours({"sla_hours": "", "mspctl_class": "servers"}) == 1.0
    assert PLATINUM.sla_hours({"mspctl_class": "workstations"}) == 2.0
    assert PLATINUM.sla_hours({"mspctl_class": "workstations,servers"}) == 1.0
    assert PLATINUM.sla_hours({"sla_hours": "soon"}) == 2.0

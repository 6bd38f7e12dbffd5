"""Incidents and the SLA clock: Alertmanager's alerts recorded as incidents, each with its
first-response deadline in the client's business time (support hours, weekends, public holidays
of its country, DST), acknowledged and resolved from the CLI.

``businesstime`` is the pure arithmetic, ``service`` turns alerts into store rows, ``receiver``
is the HTTP endpoint Alertmanager posts to, ``psa`` the outbound hooks."""

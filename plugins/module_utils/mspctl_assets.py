# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The assets policy's controls, shared by the Linux module (``asset_facts``, on the host) and
the Windows action plugin (``win_asset_facts``, on the controller): the warranty's status and
the findings of an asset record. Standard library only (it runs on managed hosts too)."""

from __future__ import annotations

import datetime
from typing import Any

from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import Findings


def parse_date(key: str, value: str | None) -> datetime.date | None:
    if not value:
        return None
    try:
        return datetime.datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ValueError(f"warranty.{key}: expected a date YYYY-MM-DD, got {value!r}") from None


def warranty_status(data: dict[str, Any], warn_days: int, today: datetime.date) -> dict[str, Any]:
    """The warranty record with its status relative to ``today``; ValueError naming the key
    of a wrong date."""
    purchase = parse_date("purchase_date", data.get("purchase_date"))
    end = parse_date("warranty_end", data.get("warranty_end"))
    if purchase and end and end < purchase:
        raise ValueError(f"warranty.warranty_end: {end} is before purchase_date {purchase}")
    result: dict[str, Any] = {
        "purchase_date": purchase.isoformat() if purchase else None,
        "warranty_end": end.isoformat() if end else None,
        "vendor_contract": data.get("vendor_contract"),
    }
    if end is None:
        result.update(status="unknown", days_left=None)
        return result
    days_left = (end - today).days
    if days_left < 0:
        status = "expired"
    elif days_left <= warn_days:
        status = "expiring"
    else:
        status = "valid"
    result.update(status=status, days_left=days_left)
    return result


def evaluate(asset: dict[str, Any], warranty_tracking: bool) -> list[dict[str, Any]]:
    findings = Findings("assets")
    collected = bool(asset.get("os", {}).get("name")) and asset.get("memory_mb") is not None
    findings.check(
        "assets.inventory_collected",
        "Hardware and software inventory collected",
        collected,
        expected="os, memory, disks, interfaces",
        actual="collected" if collected else "incomplete",
        evidence={
            "serial": asset.get("serial"),
            "model": asset.get("model"),
            "packages": (asset.get("packages") or {}).get("count"),
        },
    )
    if warranty_tracking:
        data = asset["warranty"]
        findings.check(
            "assets.warranty_recorded",
            "Warranty end date is recorded",
            data.get("warranty_end") is not None,
            expected="warranty_end set",
            actual=data.get("warranty_end") or "missing",
            evidence={"vendor_contract": data.get("vendor_contract")},
        )
        if data.get("warranty_end") is not None:
            findings.check(
                "assets.warranty_valid",
                "Hardware is under warranty",
                data["status"] != "expired",
                expected="warranty end in the future",
                actual="{} until {}".format(data["status"], data["warranty_end"]),
                evidence={
                    "warranty_end": data["warranty_end"],
                    "vendor_contract": data.get("vendor_contract"),
                },
            )
    return findings.as_list()

"""SARIF 2.1.0 for code-scanning dashboards: one rule per control, one result per host x
control that is not passing (waived results carry an accepted suppression)."""

from __future__ import annotations

import json
from typing import Any

from mspctl import __version__

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"fail": "error", "error": "warning", "waived": "note"}


def render_sarif(data: dict[str, Any]) -> str:
    client = data["client"]["id"]
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for c in data["controls"]:
        rules.setdefault(
            c["control_id"],
            {
                "id": c["control_id"],
                "name": c["control_id"].replace(".", "_"),
                "shortDescription": {"text": c["title"] or c["control_id"]},
                "properties": {"policy": c["policy"]},
            },
        )
        if c["status"] == "pass":
            continue
        result: dict[str, Any] = {
            "ruleId": c["control_id"],
            "level": _LEVEL[c["status"]],
            "message": {
                "text": f"{c['host']}: {c['title']} — expected {c['expected']}, got {c['actual']}"
            },
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f"inventories/{client}/hosts.yml"}
                    },
                    "logicalLocations": [
                        {
                            "name": c["host"],
                            "kind": "host",
                            "fullyQualifiedName": f"{client}/{c['host']}",
                        }
                    ],
                }
            ],
            "properties": {
                "host": c["host"],
                "evidence": c["evidence"],
                "raw_status": c["raw_status"],
            },
        }
        if c["status"] == "waived" and c.get("waiver"):
            waiver = c["waiver"]
            result["suppressions"] = [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": f"{waiver['justification']} (approved by "
                    f"{waiver['approved_by']}, expires {waiver['expires']})",
                }
            ]
        results.append(result)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mspctl",
                        "version": __version__,
                        "informationUri": "https://example.invalid/mspctl",
                        "rules": sorted(rules.values(), key=lambda r: r["id"]),
                    }
                },
                "automationDetails": {"id": f"mspctl/{client}/{data['run']['id']}"},
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"

"""JUnit XML: one testsuite per host, one testcase per control (waived = skipped)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Any

# characters XML 1.0 forbids (C0 controls but tab/newline/CR, surrogates, U+FFFE/U+FFFF) and
# the discouraged DEL/C1 controls: finding values come from hosts and may hold any of them
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: object) -> str:
    """A value as XML-safe text: forbidden characters become visible escapes (``\\x1b``)."""
    return _NOT_XML.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
        ),
        str(value),
    )


def render_junit(data: dict[str, Any]) -> str:
    by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for control in data["controls"]:
        by_host[control["host"]].append(control)
    root = ET.Element(
        "testsuites",
        name=f"mspctl compliance {data['client']['id']}",
        tests=str(len(data["controls"])),
    )
    for host, controls in sorted(by_host.items()):
        suite = ET.SubElement(
            root,
            "testsuite",
            name=host,
            tests=str(len(controls)),
            failures=str(sum(c["status"] == "fail" for c in controls)),
            errors=str(sum(c["status"] == "error" for c in controls)),
            skipped=str(sum(c["status"] == "waived" for c in controls)),
            timestamp=data["run"]["started_at"],
        )
        for c in controls:
            case = ET.SubElement(
                suite,
                "testcase",
                name=f"{c['control_id']}: {c['title']}",
                classname=f"{host}.{c['policy']}",
            )
            detail = json.dumps(
                {"expected": c["expected"], "actual": c["actual"], "evidence": c["evidence"]},
                default=str,
                sort_keys=True,
            )
            if c["status"] == "fail":
                ET.SubElement(
                    case,
                    "failure",
                    message=f"expected {c['expected']}, got {c['actual']}",
                    type="compliance",
                ).text = detail
            elif c["status"] == "error":
                ET.SubElement(
                    case, "error", message=str(c["actual"]), type="evaluation"
                ).text = detail
            elif c["status"] == "waived":
                waiver = c.get("waiver") or {}
                ET.SubElement(
                    case,
                    "skipped",
                    message=(
                        f"waived until {waiver.get('expires')} by {waiver.get('approved_by')}: "
                        f"{waiver.get('justification')}"
                    ),
                )
    for element in root.iter():  # every attribute and text, whatever wrote it
        element.attrib = {key: xml_text(value) for key, value in element.attrib.items()}
        if element.text is not None:
            element.text = xml_text(element.text)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

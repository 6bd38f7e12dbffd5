#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: monitoring_status
short_description: Report the compliance of a host with the monitoring policy
description:
  - Evaluates, on a monitored host, the controls of mspctl's monitoring policy and returns them
    as C(findings) in mspctl's finding schema, plus a C(status) dict of the figures behind them.
  - C(monitoring.agent_running) - the node exporter service is active and enabled.
  - C(monitoring.metrics_exposed) - the node exporter answers on O(address):O(port) and exposes
    mspctl's own metrics (the textfile written by the collector timer), refreshed within
    O(max_metrics_age) seconds.
  - C(monitoring.failed_units) - no systemd unit is in the failed state (when C(failed_units) is
    in O(checks)).
  - C(monitoring.disk_usage) - no data file system is used above O(disk_crit_percent) (when
    C(disk_usage) is in O(checks)).
  - C(monitoring.msp_hook) - the host is registered with the MSP monitoring host (O(msp_hook)).
  - Read-only; never reports a change. A failing control is a finding with status C(fail),
    not a failed task.
version_added: "0.1.0"
author: mspctl contributors (@mspctl)
options:
  service:
    description: The node exporter's systemd service.
    type: str
    default: prometheus-node-exporter
  address:
    description: Address to query the node exporter on, from the host itself.
    type: str
    default: 127.0.0.1
  port:
    description: Port the node exporter listens on.
    type: int
    default: 9100
  timeout:
    description: Seconds to wait for the node exporter's answer.
    type: int
    default: 10
  max_metrics_age:
    description: Age in seconds above which mspctl's metrics are stale (the collector stopped).
    type: int
    default: 300
  checks:
    description: The checks the policy enables on the host; controls of other checks are skipped.
    type: list
    elements: str
    choices: [disk_usage, failed_units, backup_age, pending_updates, reboot_required, smart]
    default: [disk_usage, failed_units]
  disk_crit_percent:
    description: Usage of a data file system, in percent, above which it fails the control.
    type: int
    default: 95
  disk_exclude_mountpoints:
    description: Mount points (and what is mounted below them) left out of the disk control.
    type: list
    elements: str
    default: []
  msp_hook:
    description:
      - The registration of the host with the MSP monitoring host, as the role made it. An empty
        O(msp_hook.server) fails C(monitoring.msp_hook).
    type: dict
    default: {}
    suboptions:
      server:
        description: Inventory name of the MSP monitoring host.
        type: str
      target:
        description: The scrape target (C(address:port)) registered there.
        type: str
      target_file:
        description: The file that registers the target on the MSP monitoring host.
        type: str
notes:
  - Linux with systemd only.
seealso:
  - name: mspctl role contract
    description: The finding schema and how status modules are used.
    link: https://github.com/mspctl/mspctl/blob/main/docs/role-contract.md
extends_documentation_fragment:
  - mspctl.policy.attributes.read_only
"""

EXAMPLES = r"""
- name: Report the monitoring policy status
  mspctl.policy.monitoring_status:
    port: 9100
    checks: [disk_usage, failed_units, backup_age]
    disk_crit_percent: 95
    msp_hook:
      server: msp-prometheus
      target: 10.0.0.5:9100
      target_file: /etc/prometheus/mspctl/targets/acme-srv1.yml
  register: monitoring_report
"""

RETURN = r"""
findings:
  description: The controls of the monitoring policy, in mspctl's finding schema.
  returned: always
  type: list
  elements: dict
  sample:
    - policy: monitoring
      control_id: monitoring.agent_running
      title: The node exporter is running and enabled
      status: pass
      expected: active, enabled
      actual: active, enabled
      evidence: {service: prometheus-node-exporter}
status:
  description: The figures behind the findings.
  returned: always
  type: dict
  contains:
    agent:
      description: The node exporter service, its state and port.
      type: dict
      sample: {service: prometheus-node-exporter, active: true, enabled: true, port: 9100}
    metrics:
      description:
        - What the node exporter exposes of mspctl's metrics. C(age_seconds) is the age of the
          collector's last run; C(check_errors) the checks it could not evaluate.
      type: dict
      sample: {url: "http://127.0.0.1:9100/metrics", reachable: true, mspctl_samples: 24,
               last_run: 1767225600, age_seconds: 31, check_errors: [], maintenance: false}
    failed_units:
      description: The failed systemd units (null when the check is off or failed).
      type: list
      elements: str
      sample: []
    disks:
      description: Usage of the data file systems (empty when the check is off).
      type: list
      elements: dict
      sample: [{mountpoint: /, device: /dev/sda1, fstype: ext4, used_percent: 42.1}]
    msp_hook:
      description: The registration with the MSP monitoring host, as given.
      type: dict
      sample: {server: msp-prometheus, target: "10.0.0.5:9100"}
  sample:
    agent: {service: prometheus-node-exporter, active: true, enabled: true, port: 9100}
"""

import time
from typing import TYPE_CHECKING, Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import open_url
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_findings import Findings
from ansible_collections.mspctl.policy.plugins.module_utils.mspctl_monitoring import (
    CHECKS,
    disk_usage,
    failed_units,
    parse_exposition,
)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import TypedDict

    class Observed(TypedDict):
        """What :func:`observe` saw on the host; a failed observation is its message."""

        agent: tuple[bool | None, bool | None, str | None]  # active, enabled, error
        scrape: tuple[str | None, str | None]  # text, error
        failed_units: list[str] | str | None
        disks: list[dict[str, Any]] | str | None


def agent_state(module: AnsibleModule, service: str) -> tuple[bool | None, bool | None, str | None]:
    """``(active, enabled, error)`` of the node exporter service."""
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None:
        return None, None, "systemctl not found"
    _rc, out, _err = module.run_command([systemctl, "is-active", service])
    active = out.strip()
    _rc, out, _err = module.run_command([systemctl, "is-enabled", service])
    enabled = out.strip()
    return active == "active", enabled in ("enabled", "enabled-runtime", "static", "alias"), None


def scrape(url: str, timeout: float) -> tuple[str | None, str | None]:
    """``(text, error)`` of a GET of the node exporter's metrics."""
    try:
        response = open_url(url, timeout=timeout, validate_certs=False, follow_redirects="none")
        return to_text(response.read(), errors="surrogate_or_strict"), None
    except Exception as exc:  # urllib and socket errors alike: the control reports it
        return None, to_text(exc)


def read_mounts() -> str:
    with open("/proc/self/mounts") as handle:
        return handle.read()


def evaluate(
    params: Mapping[str, Any], observed: Observed, now: float
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Findings and status from what was observed on the host (pure: the unit tests feed it).

    ``observed`` holds ``agent`` (active, enabled, error), ``scrape`` (text, error),
    ``failed_units`` (list or an exception message), ``disks`` (list or a message).
    """
    findings = Findings("monitoring")
    status: dict[str, Any] = {}
    agent_running(findings, status, params, observed)
    metrics_exposed(findings, status, params, observed, now)
    failed_units_control(findings, status, params, observed)
    disk_usage_control(findings, status, params, observed)
    msp_hook(findings, status, params)
    return findings.as_list(), status


def agent_running(
    findings: Findings, status: dict[str, Any], params: Mapping[str, Any], observed: Observed
) -> None:
    service = params["service"]
    active, enabled, agent_error = observed["agent"]
    status["agent"] = {
        "service": service,
        "active": active,
        "enabled": enabled,
        "port": params["port"],
    }
    if agent_error:
        findings.error(
            "monitoring.agent_running",
            "The node exporter is running and enabled",
            agent_error,
            evidence={"service": service},
        )
    else:
        findings.check(
            "monitoring.agent_running",
            "The node exporter is running and enabled",
            ok=bool(active and enabled),
            expected="active, enabled",
            actual=(
                f"{'active' if active else 'inactive'}, {'enabled' if enabled else 'disabled'}"
            ),
            evidence={"service": service},
        )


def metrics_exposed(
    findings: Findings,
    status: dict[str, Any],
    params: Mapping[str, Any],
    observed: Observed,
    now: float,
) -> None:
    url = "http://{}:{}/metrics".format(_host(params["address"]), params["port"])
    text, scrape_error = observed["scrape"]
    metrics: dict[str, Any] = {
        "url": url,
        "reachable": text is not None,
        "mspctl_samples": 0,
        "last_run": None,
        "age_seconds": None,
        "check_errors": [],
        "maintenance": None,
    }
    status["metrics"] = metrics
    title = "mspctl's metrics are exposed and fresh"
    expected = "mspctl_* samples, collected within {} s".format(params["max_metrics_age"])
    if text is None:
        findings.check(
            "monitoring.metrics_exposed",
            title,
            ok=False,
            expected=expected,
            actual=f"no answer: {scrape_error}",
            evidence={"url": url},
        )
        return
    samples = parse_exposition(text, prefix="mspctl_")
    metrics["mspctl_samples"] = len(samples)
    for name, labels, value in samples:
        if name == "mspctl_collector_last_run_timestamp_seconds":
            metrics["last_run"] = int(value)
            metrics["age_seconds"] = int(now - value)
        elif name == "mspctl_check_error" and value:
            metrics["check_errors"].append(labels.get("check"))
        elif name == "mspctl_maintenance":
            metrics["maintenance"] = bool(value)
    metrics["check_errors"].sort()
    if not samples:
        actual = "no mspctl_* sample (is the collector timer running?)"
    elif metrics["age_seconds"] is None:
        actual = f"{len(samples)} samples, no collector timestamp"
    else:
        actual = f"{len(samples)} samples, collected {int(metrics['age_seconds'])} s ago"
    fresh = (
        metrics["age_seconds"] is not None
        and -60 <= metrics["age_seconds"] <= params["max_metrics_age"]
    )
    findings.check(
        "monitoring.metrics_exposed",
        title,
        ok=bool(samples) and fresh,
        expected=expected,
        actual=actual,
        evidence={"url": url, "check_errors": metrics["check_errors"]},
    )


def failed_units_control(
    findings: Findings, status: dict[str, Any], params: Mapping[str, Any], observed: Observed
) -> None:
    status["failed_units"] = None
    if "failed_units" not in params["checks"]:
        return
    units = observed["failed_units"]
    title = "No systemd unit has failed"
    if isinstance(units, list):
        status["failed_units"] = units
        findings.check(
            "monitoring.failed_units",
            title,
            ok=not units,
            expected="none",
            actual=", ".join(units) if units else "none",
            evidence={"units": units},
        )
    else:
        findings.error("monitoring.failed_units", title, units)


def disk_usage_control(
    findings: Findings, status: dict[str, Any], params: Mapping[str, Any], observed: Observed
) -> None:
    status["disks"] = []
    if "disk_usage" not in params["checks"]:
        return
    disks = observed["disks"]
    title = "No data file system is fuller than {} %".format(params["disk_crit_percent"])
    if not isinstance(disks, list):
        findings.error("monitoring.disk_usage", title, disks)
        return
    rows = [
        {
            "mountpoint": d["mountpoint"],
            "device": d["device"],
            "fstype": d["fstype"],
            "used_percent": round(d["used_ratio"] * 100, 1),
        }
        for d in disks
    ]
    status["disks"] = rows
    full = [r for r in rows if r["used_percent"] > params["disk_crit_percent"]]
    fullest = max(rows, key=lambda r: r["used_percent"]) if rows else None
    findings.check(
        "monitoring.disk_usage",
        title,
        ok=not full,
        expected="<= {} %".format(params["disk_crit_percent"]),
        actual=(
            "{} at {} %".format(fullest["mountpoint"], fullest["used_percent"])
            if fullest
            else "no data file system"
        ),
        evidence={"above": [r["mountpoint"] for r in full]},
    )


def msp_hook(findings: Findings, status: dict[str, Any], params: Mapping[str, Any]) -> None:
    hook = {k: v for k, v in (params["msp_hook"] or {}).items() if v}
    status["msp_hook"] = hook
    findings.check(
        "monitoring.msp_hook",
        "The host is registered with the MSP monitoring host",
        ok=bool(hook.get("server")),
        expected="a scrape target on the MSP host",
        actual=(
            f"{hook.get('target')} on {hook['server']}"
            if hook.get("server")
            else "no MSP monitoring host in the inventory"
        ),
        evidence=hook,
    )


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def observe(module: AnsibleModule) -> Observed:
    params = module.params
    agent = agent_state(module, params["service"])
    url = "http://{}:{}/metrics".format(_host(params["address"]), params["port"])
    observed: Observed = {
        "agent": agent,
        "scrape": scrape(url, params["timeout"]),
        "failed_units": None,
        "disks": None,
    }
    if "failed_units" in params["checks"]:
        try:
            observed["failed_units"] = failed_units(module.run_command)
        except OSError as exc:
            observed["failed_units"] = to_text(exc)
    if "disk_usage" in params["checks"]:
        try:
            observed["disks"] = disk_usage(
                read_mounts(), exclude=params["disk_exclude_mountpoints"]
            )
        except OSError as exc:
            observed["disks"] = to_text(exc)
    return observed


def main() -> None:

    module = AnsibleModule(
        argument_spec=dict(
            service=dict(type="str", default="prometheus-node-exporter"),
            address=dict(type="str", default="127.0.0.1"),
            port=dict(type="int", default=9100),
            timeout=dict(type="int", default=10),
            max_metrics_age=dict(type="int", default=300),
            checks=dict(
                type="list",
                elements="str",
                choices=list(CHECKS),
                default=["disk_usage", "failed_units"],
            ),
            disk_crit_percent=dict(type="int", default=95),
            disk_exclude_mountpoints=dict(type="list", elements="str", default=[]),
            msp_hook=dict(
                type="dict",
                default={},
                options=dict(
                    server=dict(type="str"),
                    target=dict(type="str"),
                    target_file=dict(type="str"),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    findings, status = evaluate(module.params, observe(module), time.time())
    module.exit_json(changed=False, findings=findings, status=status)


if __name__ == "__main__":
    main()

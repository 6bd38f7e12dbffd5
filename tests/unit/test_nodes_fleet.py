"""Fleet runs and execution nodes: a client whose site has a node takes one of its node's
slots (its capacity), not one of the controller's ``--parallel`` slots."""

from __future__ import annotations

import threading
import time

from mspctl.fleet import ClientPlan, ClientResult, FleetRunner


class Timed(FleetRunner):
    """The scheduling of FleetRunner, with each client's duties replaced by a short sleep."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__({}, check=False, **kwargs)  # type: ignore[arg-type]
        self.spans: dict[str, tuple[float, float]] = {}
        self.guard = threading.Lock()

    def _run_duties(self, plan: ClientPlan) -> ClientResult:
        start = time.monotonic()
        time.sleep(0.3)
        with self.guard:
            self.spans[plan.client] = (start, time.monotonic())
        return ClientResult(plan)


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] - 0.05 and b[0] < a[1] - 0.05


def _plans(*names: str) -> list[ClientPlan]:
    return [ClientPlan(client=name, drift=True) for name in names]


def test_a_node_runs_at_most_its_capacity_and_spares_the_controller_slots() -> None:
    nodes = {"a1": ("node-a", 1), "a2": ("node-a", 1), "b1": ("node-b", 2), "b2": ("node-b", 2)}
    runner = Timed(parallel=1, nodes=nodes)
    results = runner.run(_plans("a1", "a2", "b1", "b2", "local1", "local2"))
    assert [r.plan.client for r in results] == ["a1", "a2", "b1", "b2", "local1", "local2"]
    spans = runner.spans
    assert not _overlap(spans["a1"], spans["a2"])  # node-a: capacity 1
    assert _overlap(spans["b1"], spans["b2"])  # node-b: capacity 2
    assert not _overlap(spans["local1"], spans["local2"])  # the controller: --parallel 1
    assert _overlap(spans["a1"], spans["local1"]) or _overlap(spans["a1"], spans["local2"])
    total = max(e for _, e in spans.values()) - min(s for s, _ in spans.values())
    assert total < 0.3 * 3  # two rounds of 0.3 s, not six

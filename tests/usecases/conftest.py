"""Fixtures of the use-case tests: a local folder as a bucket, a fake Airflow."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tributary.airflow_rest import AirflowRefused


@dataclass
class FakeAirflow:
    """Stands in for ``AirflowClient``: records what it was asked, answers as told."""

    # As Tributary's DAGs are created (is_paused_upon_creation=False).
    paused: bool = False
    periodic: bool = True  # Airflow's timetable_periodic: a time schedule
    final_state: str = "success"
    refuse: Exception | None = None
    base_url: str = "http://airflow.test"
    calls: list = field(default_factory=list)
    states: dict = field(default_factory=dict)
    """DagRun state by (dag_id, run_id), for ``run_state``."""

    def wait_for_dag(self, dag_id: str) -> dict:
        if self.refuse is not None:
            raise self.refuse
        return {"dag_id": dag_id, "is_paused": self.paused, "timetable_periodic": self.periodic}

    def unpause(self, dag_id: str) -> None:
        self.calls.append(("unpause", dag_id))
        self.paused = False

    def trigger(self, dag_id: str, conf: dict) -> str:
        self.calls.append(("trigger", dag_id, conf))
        triggered = sum(call[0] == "trigger" for call in self.calls)
        return f"manual__{triggered}"

    def run_state(self, dag_id: str, run_id: str) -> str:
        self.calls.append(("run_state", dag_id, run_id))
        if self.refuse is not None:
            raise self.refuse
        if (dag_id, run_id) not in self.states:
            raise AirflowRefused(f"Airflow answered 404 to GET .../dagRuns/{run_id}", 404)
        return self.states[dag_id, run_id]

    def wait(self, dag_id: str, run_id: str) -> str:
        self.calls.append(("wait", dag_id, run_id))
        return self.final_state


@pytest.fixture
def airflow() -> FakeAirflow:
    return FakeAirflow()


@pytest.fixture
def bucket(tmp_path):
    """A local folder with two files, one in a sub-folder."""
    root = tmp_path / "bucket"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.jpg").write_bytes(b"aaaa")
    (root / "b.png").write_bytes(b"bb")
    return root

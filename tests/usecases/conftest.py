"""Fixtures of the use-case tests: a local folder as a bucket, a fake Airflow."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest


@dataclass
class FakeAirflow:
    """Stands in for ``AirflowClient``: records what it was asked, answers as told."""

    paused: bool = True
    final_state: str = "success"
    refuse: Exception | None = None
    base_url: str = "http://airflow.test"
    calls: list = field(default_factory=list)

    def wait_for_dag(self, dag_id: str) -> dict:
        if self.refuse is not None:
            raise self.refuse
        return {"dag_id": dag_id, "is_paused": self.paused}

    def unpause(self, dag_id: str) -> None:
        self.calls.append(("unpause", dag_id))
        self.paused = False

    def trigger(self, dag_id: str, conf: dict) -> str:
        self.calls.append(("trigger", dag_id, conf))
        return f"manual__{len(self.calls)}"

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

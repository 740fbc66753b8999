"""Start real storage emulators on 127.0.0.1 for tests and benchmarks.

moto server (S3), Azurite (Azure Blob, from npm) and gcp-storage-emulator (GCS), each
on a free port, each stopped by its process group when done.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

# Azurite's documented development account (public, identical in every Azurite install).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Emulator:
    """A running emulator process and how to reach it."""

    name: str
    port: int
    process: subprocess.Popen
    env: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def _start(name: str, argv: list[str], port: int, ready_url: str | None, log_dir: Path) -> Emulator:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO
    )
    emulator = Emulator(name, port, process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited at start; see {log_dir / name}.log")
        try:
            if ready_url:
                urllib.request.urlopen(ready_url, timeout=2).read()  # noqa: S310 - loopback
            else:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return emulator
        except OSError:
            time.sleep(0.2)
    emulator.stop()
    raise RuntimeError(f"{name} did not become ready on port {port} within 60 s")


def start_moto(log_dir: Path) -> Emulator:
    """moto server (S3, SQS, IAM …) on a free loopback port."""
    port = free_port()
    argv = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    emulator = _start("moto", argv, port, f"http://127.0.0.1:{port}/moto-api/", log_dir)
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"region_name": "us-east-1", "endpoint_url": emulator.endpoint},
    }
    emulator.env = {"AIRFLOW_CONN_TEST_S3": json.dumps(conn)}
    return emulator


def azurite_connection_string(port: int, *, sas: str | None = None, key: str = AZURITE_KEY) -> str:
    """A connection string for Azurite: account key, or a SAS token instead."""
    endpoint = f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    if sas:
        return f"{endpoint}SharedAccessSignature={sas}"
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};{endpoint}"
    )


def _start_azurite_service(service: str, log_dir: Path) -> Emulator:
    """One Azurite service (blob or queue) from the npm package, run directly so the PID
    is the server's."""
    main_js = REPO / "node_modules" / "azurite" / "dist" / "src" / service / "main.js"
    if not main_js.exists():
        raise RuntimeError("Azurite is not installed: run `npm ci` in the repository")
    port = free_port()
    argv = [
        shutil.which("node") or "node",
        str(main_js),
        f"--{service}Host",
        "127.0.0.1",
        f"--{service}Port",
        str(port),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--silent",
    ]
    return _start(f"azurite-{service}", argv, port, None, log_dir)


def start_azurite(log_dir: Path) -> Emulator:
    """Azurite's blob service."""
    emulator = _start_azurite_service("blob", log_dir)
    connection_string = azurite_connection_string(emulator.port)
    conn = {"conn_type": "wasb", "extra": {"connection_string": connection_string}}
    emulator.env = {"AIRFLOW_CONN_TEST_AZURE": json.dumps(conn)}
    return emulator


def start_azurite_queue(log_dir: Path) -> Emulator:
    """Azurite's queue service (where Event Grid would deliver Blob events)."""
    emulator = _start_azurite_service("queue", log_dir)
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"QueueEndpoint=http://127.0.0.1:{emulator.port}/{AZURITE_ACCOUNT};"
    )
    conn = {"conn_type": "wasb", "extra": {"connection_string": connection_string}}
    emulator.env = {"AIRFLOW_CONN_TEST_AZURE_QUEUE": json.dumps(conn)}
    emulator.connection_string = connection_string
    return emulator


def start_gcs(log_dir: Path) -> Emulator:
    """gcp-storage-emulator, reached by GCSHook through STORAGE_EMULATOR_HOST."""
    port = free_port()
    argv = [
        str(VENV_BIN / "gcp-storage-emulator"),
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--in-memory",
    ]
    emulator = _start("gcs", argv, port, f"http://127.0.0.1:{port}/", log_dir)
    conn = {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": "p"}}
    emulator.env = {
        "AIRFLOW_CONN_TEST_GCS": json.dumps(conn),
        "STORAGE_EMULATOR_HOST": emulator.endpoint,
    }
    return emulator

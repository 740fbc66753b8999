"""A small client for Airflow's REST API (v2): trigger a DAG run, follow it."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from dataclasses import dataclass
from functools import cached_property

import httpx

from tributary.config import airflow_home
from tributary.errors import TributaryError


class AirflowUnreachable(TributaryError):
    """No Airflow API server answers at the configured address."""

    permanent = False


class AirflowRefused(TributaryError):
    """Airflow answered with an HTTP error."""

    permanent = False

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class AirflowLoginRefused(AirflowRefused):
    """Airflow refused the login: wrong user or password."""

    permanent = True  # a person must fix the login


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without the ``user:password@`` it may embed, and that user and password.

    The URL is shown in messages (where the run is, why Airflow cannot be reached): a
    password written into it must never be shown with it.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    bare = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    unquote = urllib.parse.unquote
    return (
        bare,
        unquote(parts.username) if parts.username is not None else None,
        unquote(parts.password) if parts.password is not None else None,
    )


def redact_url(url: str) -> str:
    """``url`` with any embedded credentials left out: safe to show."""
    return split_credentials(url)[0]


def _default_password(username: str) -> str:
    # `airflow standalone` writes generated passwords here for the simple auth manager.
    for name in ("simple_auth_manager_passwords.json.generated", "passwords.json"):
        path = airflow_home() / name
        if path.is_file():
            try:
                return json.loads(path.read_text()).get(username, "")
            except ValueError:
                continue
    return ""


@dataclass
class AirflowClient:
    """Talks to one Airflow API server with a JWT from ``/auth/token``."""

    base_url: str
    username: str
    password: str
    timeout: float = 30.0

    def __post_init__(self) -> None:
        # base_url appears in every message about this Airflow: it never holds a secret.
        self.base_url = redact_url(self.base_url).rstrip("/")

    @classmethod
    def from_env(cls) -> AirflowClient:
        """Address and login from ``TRIBUTARY_AIRFLOW_URL`` / ``_USER`` / ``_PASSWORD``.

        A login written into the URL (``http://user:password@host:8080``) is used when the
        ``_USER`` / ``_PASSWORD`` variables do not give one; it is never shown.
        """
        raw = os.environ.get("TRIBUTARY_AIRFLOW_URL") or os.environ.get(
            "AIRFLOW__API__BASE_URL", "http://localhost:8080"
        )
        base, url_user, url_password = split_credentials(raw)
        username = os.environ.get("TRIBUTARY_AIRFLOW_USER") or url_user or "admin"
        password = (
            os.environ.get("TRIBUTARY_AIRFLOW_PASSWORD")
            or url_password
            or _default_password(username)
        )
        return cls(base, username, password)

    def _request(self, method: str, path: str, **kwargs) -> dict:
        try:
            response = httpx.request(
                method, f"{self.base_url}{path}", timeout=self.timeout, **kwargs
            )
        except httpx.TransportError as exc:
            raise AirflowUnreachable(
                f"Airflow is not reachable at {self.base_url} ({type(exc).__name__}); start it "
                "(see README: scripts/demo.sh runs `airflow standalone`) or set "
                "TRIBUTARY_AIRFLOW_URL"
            ) from exc
        if response.status_code >= 400:
            detail = response.text[:300]
            raise AirflowRefused(
                f"Airflow answered {response.status_code} to {method} {path}: {detail}",
                response.status_code,
            )
        return response.json() if response.content else {}

    @cached_property
    def _auth(self) -> dict:
        """The Authorization header, with one token for this client's lifetime."""
        login = {"username": self.username, "password": self.password}
        try:
            token = self._request("POST", "/auth/token", json=login)["access_token"]
        except AirflowRefused as exc:
            if exc.status_code not in (400, 401, 403):
                raise
            # Said first and plainly: every later request would fail for this reason, and
            # what Airflow answers next (a 401 or 404 on a DAG) would name the wrong cause.
            raise AirflowLoginRefused(
                f"Airflow at {self.base_url} refused the login of user {self.username!r} "
                f"({exc.status_code}): check TRIBUTARY_AIRFLOW_USER and "
                "TRIBUTARY_AIRFLOW_PASSWORD",
                exc.status_code,
            ) from None
        return {"Authorization": f"Bearer {token}"}

    def wait_for_dag(self, dag_id: str, timeout: float = 120, poll: float = 2.0) -> dict:
        """The DAG as Airflow describes it, waiting until Airflow has parsed it (right
        after start-up it may not have)."""
        deadline = time.monotonic() + timeout
        while True:
            headers = self._auth  # outside the try: a refused login is not an unknown DAG
            try:
                return self._request("GET", f"/api/v2/dags/{dag_id}", headers=headers)
            except AirflowRefused as exc:
                if exc.status_code != 404:
                    raise
                if time.monotonic() > deadline:
                    raise TributaryError(
                        f"Airflow does not know DAG {dag_id!r}: is its dags folder this "
                        f"repository's dags/? ({exc})"
                    ) from exc
            time.sleep(poll)

    def trigger(self, dag_id: str, conf: dict) -> str:
        """Start a DAG run now with ``conf``; returns its run id."""
        run = self._request(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            headers=self._auth,
            json={"logical_date": None, "conf": conf},
        )
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        """queued | running | success | failed."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"
        return self._request("GET", path, headers=self._auth)["state"]

    def wait(self, dag_id: str, run_id: str, timeout: float = 3600, poll: float = 2.0) -> str:
        """Block until the run ends; returns its final state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            time.sleep(poll)
        raise TributaryError(f"run {run_id} of {dag_id} did not finish within {timeout:.0f}s")

"""Who is calling, and whether they may: every route depends on ``reader`` or ``writer``.

Plugin routes are not protected by Airflow: this module is what protects them. The token
is Airflow's own JWT, from ``Authorization: Bearer`` (the client, scripts) or from the
cookie that Airflow's UI keeps (pages opened inside the UI). An ``Authorizer`` turns it
into a user and answers "may this user read / write": in Airflow, its auth manager
(``tributary.api.airflow``); in tests, a stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

from fastapi import Depends, HTTPException, Request, status

# Airflow's UI keeps its JWT in this cookie (base_auth_manager.COOKIE_NAME_JWT_TOKEN).
UI_TOKEN_COOKIE = "_token"  # noqa: S105 - a cookie name, not a secret

Access = Literal["read", "write"]


class NotAuthenticated(Exception):
    """The token is missing, forged or expired."""


class Authorizer(Protocol):
    """Turns a token into a user, and says what that user may do."""

    async def user(self, token: str) -> object:
        """The user the token belongs to; raises ``NotAuthenticated``."""

    def allowed(self, user: object, access: Access) -> bool:
        """May ``user`` read Tributary's data ("read"), or change it ("write")?"""


@dataclass(frozen=True)
class Caller:
    """An authenticated request's user and the token it came with (passed on when the
    API asks Airflow to start a run, so Airflow applies the caller's own rights)."""

    user: object
    token: str


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.cookies.get(UI_TOKEN_COOKIE) or None


async def _caller(request: Request, access: Access) -> Caller:
    token = _token(request)
    if token is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "not authenticated: send Airflow's token (POST /auth/token) as a Bearer header",
        )
    authorizer: Authorizer = request.app.state.authorizer
    try:
        user = await authorizer.user(token)
    except NotAuthenticated as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, f"the token was refused ({exc}): log in again"
        ) from None
    if not authorizer.allowed(user, access):
        what = "read Tributary's datasets" if access == "read" else "change Tributary's datasets"
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this user may not {what} (it needs {access} access to Tributary's DAGs)",
        )
    return Caller(user, token)


async def reader(request: Request) -> Caller:
    """A caller allowed to read."""
    return await _caller(request, "read")


async def writer(request: Request) -> Caller:
    """A caller allowed to change data and start runs."""
    return await _caller(request, "write")


Reader = Annotated[Caller, Depends(reader)]
Writer = Annotated[Caller, Depends(writer)]

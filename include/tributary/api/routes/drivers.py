"""Drivers: list, get (with the last permission report), create (kept only when the probe
passes), check again."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from tributary.api.auth import Reader, Writer
from tributary.api.deps import CatalogDep
from tributary.api.errors import one_line
from tributary.errors import NotFound
from tributary.usecases import drivers as usecase

router = APIRouter(tags=["drivers"])


class NewDriver(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    provider: str
    bucket: str
    conn_id: str | None = None
    path: str = ""
    storage_class: str = "standard"
    region: str | None = None
    allow_delete: bool = False


def _status(found: usecase.DriverStatus) -> dict:
    return {**found.as_dict(), "last_check": found.last_check}


def _probed(probed: usecase.ProbedDriver) -> dict:
    return {
        **probed.driver.as_dict(),
        "check_ok": probed.ok,
        "failing_since": probed.failing_since,
        "last_check": probed.check,
    }


@router.get("/drivers")
def list_drivers(catalog: CatalogDep, _: Reader) -> dict:
    """Every driver with whether its last permission probe passed."""
    return {"drivers": [_status(found) for found in usecase.list_drivers(catalog)]}


@router.get("/drivers/{name}")
def get_driver(name: str, catalog: CatalogDep, _: Reader) -> dict:
    """One driver with its last permission report (list / get / put / delete)."""
    for found in usecase.list_drivers(catalog):
        if found.driver.name == name:
            return _status(found)
    raise NotFound(f"no driver {name!r}")


@router.post("/drivers", status_code=status.HTTP_201_CREATED)
def create_driver(body: NewDriver, catalog: CatalogDep, _: Writer):
    """Probe the bucket's permissions and keep the driver only if they hold. A failed
    probe answers 422 with its report (``check``), and nothing is kept."""
    try:
        return _probed(usecase.create_driver(catalog, **body.model_dump()))
    except usecase.DriverNotCreated as exc:
        answer = {"detail": one_line(exc), "check": exc.check}
        return JSONResponse(jsonable_encoder(answer), status_code=422)


@router.post("/drivers/{name}/check")
def check_driver(name: str, catalog: CatalogDep, _: Writer) -> dict:
    """Probe the driver's permissions now and record the report."""
    return _probed(usecase.check_driver(catalog, name))

"""What routes take from the app: the catalog, and the Airflow side (drains, runs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tributary.catalog import Catalog


def catalog(request: Request) -> Catalog:
    found = request.app.state.catalog
    return found if isinstance(found, Catalog) else found.get()


def drains(request: Request):
    return request.app.state.drains


def runs(request: Request):
    return request.app.state.runs


CatalogDep = Annotated[Catalog, Depends(catalog)]
DrainsDep = Annotated[object, Depends(drains)]
RunsDep = Annotated[object, Depends(runs)]

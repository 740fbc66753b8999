"""Uploads through the API into a dataset on each storage kind (moto S3, Azurite, the GCS
emulator, a local folder): a file big enough for the provider's multipart / block /
resumable upload, a form upload, delete with and without ``allow_delete``, and an
upstream sync afterwards that finds nothing new."""

from __future__ import annotations

import os

import pytest

from tests.sync.upstream_steps import upstream_sync
from tributary.usecases.downstream import drain
from tributary.usecases.drivers import create_driver

pytestmark = pytest.mark.timeout(600)
BIG = 9 * 1024 * 1024 + 3  # above boto3's 8 MiB multipart threshold and one Azure block


@pytest.mark.parametrize("allow_delete", [False, True], ids=["keep", "allow-delete"])
def test_uploads_reach_the_bucket_and_a_sync_sees_no_new_file(live, admin, bucket, allow_delete):
    create_driver(
        live.catalog,
        name="drv",
        provider=bucket.provider,
        bucket=bucket.name,
        conn_id=bucket.conn_id,
        allow_delete=allow_delete,
    )
    made = admin.post("/datasets", json={"name": "ext", "driver": "drv", "sync": False})
    assert made.status_code == 201, made.text
    big = os.urandom(BIG)
    put = admin.put("/datasets/ext/files/up/big.bin", content=big)
    assert put.status_code == 200, put.text
    assert put.json()["status"] == "created"
    form = admin.post(
        "/datasets/ext/uploads", params={"to": "/up/"}, files=[("f", ("s.txt", b"small"))]
    )
    assert [o["status"] for o in form.json()["files"]] == ["created"], form.text
    # The API asked Airflow for a downstream run, with the caller's token.
    assert set(live.drains.requests) == {("ext", "token-admin")}
    drain(live.catalog, dataset="ext")  # what tributary_downstream_sync runs

    assert bucket.get("up/big.bin") == big
    assert bucket.get("up/s.txt") == b"small"
    item = put.json()["item"]
    back = admin.get(f"/datasets/ext/items/{item['id']}/content")
    assert back.content == big

    report = upstream_sync(live.catalog, "ext")
    counts = {k: report[f"items_{k}"] for k in ("new", "changed", "renamed", "ghosted")}
    assert counts == {"new": 0, "changed": 0, "renamed": 0, "ghosted": 0}, report
    listed = admin.get("/datasets/ext/items").json()["items"]
    assert sorted(i["path"] for i in listed) == ["/up/big.bin", "/up/s.txt"]

    gone = admin.delete(f"/datasets/ext/items/{item['id']}").json()
    assert gone["bucket_file"] == ("deleting" if allow_delete else "kept")
    drain(live.catalog, dataset="ext")
    if allow_delete:
        with pytest.raises(Exception):  # noqa: B017 - each SDK raises its own
            bucket.get("up/big.bin")
    else:
        assert bucket.get("up/big.bin") == big
    upstream_sync(live.catalog, "ext")
    states = {i["path"]: i["state"] for i in admin.get(
        "/datasets/ext/items", params={"state": "all"}).json()["items"]}  # fmt: skip
    assert states == {"/up/big.bin": "deleted", "/up/s.txt": "active"}  # not brought back

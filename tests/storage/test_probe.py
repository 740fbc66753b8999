"""The permission probe against real emulators, with permissions really denied."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests import emulators
from tests.buckets import azure_service
from tributary.catalog.drivers import build
from tributary.storage import open_store
from tributary.storage.probe import probe

SECRETS = ("testing", emulators.AZURITE_KEY)


def probe_bucket(provider, bucket, conn_id, *, allow_delete=False, path=""):
    driver = build(
        name="t",
        provider=provider,
        bucket=bucket,
        conn_id=conn_id,
        path=path,
        allow_delete=allow_delete,
    )
    return probe(open_store(driver), allow_delete=allow_delete)


def assert_no_secret(report):
    text = json.dumps(report.as_dict())
    for secret in SECRETS:
        assert secret not in text.replace("/testing", "")


def test_probe_passes_and_cleans_up(bucket):
    bucket.put("photo.jpg", b"jpeg")
    report = probe_bucket(bucket.provider, bucket.name, bucket.conn_id, allow_delete=True)

    assert report.ok, report.problems
    assert set(report.results) == {"list", "get", "put", "delete"}
    store = open_store(
        build(name="t", provider=bucket.provider, bucket=bucket.name, conn_id=bucket.conn_id)
    )
    leftovers = [o.key for page in store.list_raw(".tributary/") for o in page]
    assert leftovers == []


def test_missing_bucket_is_named(bucket):
    name = bucket.name + "-missing"
    report = probe_bucket(bucket.provider, name, bucket.conn_id)

    assert not report.ok
    assert len(set(report.problems)) == 1 or all("does not exist" in p for p in report.problems)
    assert all("does not exist" in p and name.rsplit("/", 1)[-1] in p for p in report.problems)
    assert_no_secret(report)


def _sas_connection(monkeypatch, azurite, conn_id, **permissions):
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    sas = generate_account_sas(
        account_name=emulators.AZURITE_ACCOUNT,
        account_key=emulators.AZURITE_KEY,
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(**permissions),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    conn = {
        "conn_type": "wasb",
        "extra": {"connection_string": emulators.azurite_connection_string(azurite.port, sas=sas)},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.fixture
def container(azurite):
    name = f"probe-{dt.datetime.now(dt.UTC):%H%M%S%f}"
    azure_service(azurite).create_container(name)
    azure_service(azurite).get_container_client(name).upload_blob("existing.jpg", b"jpeg")
    return name


def test_write_denied_is_reported(azurite, container, monkeypatch):
    _sas_connection(monkeypatch, azurite, "ro_azure", read=True, list=True)

    report = probe_bucket("azure", container, "ro_azure")

    assert not report.ok
    assert report.results["list"].ok and report.results["get"].ok
    assert not report.results["put"].ok
    assert "put denied" in report.results["put"].message
    assert report.problems == [f"put: {report.results['put'].message}"]
    assert_no_secret(report)


def test_allow_delete_without_delete_permission_fails(azurite, container, monkeypatch):
    _sas_connection(
        monkeypatch, azurite, "nodelete_azure", read=True, list=True, write=True, create=True
    )

    strict = probe_bucket("azure", container, "nodelete_azure", allow_delete=True)
    lenient = probe_bucket("azure", container, "nodelete_azure", allow_delete=False)

    assert not strict.ok
    assert strict.problems[0].startswith("delete: delete denied")
    assert "left behind" in strict.results["delete"].message
    assert lenient.ok  # Delete is optional unless allow_delete is on
    assert not lenient.results["delete"].ok


def test_bad_credentials_are_named_without_the_key(azurite, container, monkeypatch):
    wrong_key = "d3Jvbmcta2V5" * 7 + "AA=="
    conn = {
        "conn_type": "wasb",
        "extra": {
            "connection_string": emulators.azurite_connection_string(azurite.port, key=wrong_key)
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_BAD_AZURE", json.dumps(conn))

    report = probe_bucket("azure", container, "bad_azure")

    assert not report.ok
    assert "rejected the credentials of connection 'bad_azure'" in report.problems[0]
    assert wrong_key not in json.dumps(report.as_dict())


@pytest.mark.slow
def test_unreachable_endpoint_is_named(monkeypatch):
    port = emulators.free_port()  # nothing listens there
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"region_name": "us-east-1", "endpoint_url": f"http://127.0.0.1:{port}"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_DEAD_S3", json.dumps(conn))

    report = probe_bucket("s3", "some-bucket", "dead_s3")

    assert not report.ok
    assert all("S3 endpoint unreachable for bucket 'some-bucket'" in p for p in report.problems)


@pytest.fixture(scope="module")
def moto_with_iam(request, tmp_path_factory):
    """A moto server of its own that enforces IAM, with a bucket and two limited users."""
    import urllib.request

    import boto3

    from tests.conftest import missing

    try:
        server = emulators.start_moto(tmp_path_factory.mktemp("moto-iam"))
    except RuntimeError as exc:
        missing(str(exc))
    request.addfinalizer(server.stop)  # also when the set-up below fails
    admin = {
        "endpoint_url": server.endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    boto3.client("s3", **admin).create_bucket(Bucket="iam-bucket")
    boto3.client("s3", **admin).put_object(Bucket="iam-bucket", Key="existing.jpg", Body=b"x")
    iam = boto3.client("iam", **admin)
    users = {}
    for user, actions in {
        "reader": ["s3:ListBucket", "s3:GetObject"],
        "writer": ["s3:ListBucket", "s3:GetObject", "s3:PutObject"],
    }.items():
        iam.create_user(UserName=user)
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
        iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        users[user] = (key["AccessKeyId"], key["SecretAccessKey"])
    # From now on every request is authenticated and authorised against IAM.
    reset = urllib.request.Request(  # noqa: S310 - loopback
        f"{server.endpoint}/moto-api/reset-auth",
        data=b"0",
        headers={"Content-Type": "text/plain"},  # not a form: moto reads the raw body
    )
    urllib.request.urlopen(reset).read()  # noqa: S310
    return server, users


def _iam_connection(monkeypatch, server, conn_id, keys):
    conn = {
        "conn_type": "aws",
        "login": keys[0],
        "password": keys[1],
        "extra": {"region_name": "us-east-1", "endpoint_url": server.endpoint},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def test_s3_write_denied_by_iam_policy(moto_with_iam, monkeypatch):
    server, users = moto_with_iam
    _iam_connection(monkeypatch, server, "iam_reader", users["reader"])

    report = probe_bucket("s3", "iam-bucket", "iam_reader")

    assert not report.ok
    assert report.results["list"].ok and report.results["get"].ok
    assert report.problems == [f"put: {report.results['put'].message}"]
    assert "put denied on s3://iam-bucket/.tributary/probe/" in report.problems[0]
    assert users["reader"][1] not in json.dumps(report.as_dict())


def test_s3_allow_delete_without_delete_permission(moto_with_iam, monkeypatch):
    server, users = moto_with_iam
    _iam_connection(monkeypatch, server, "iam_writer", users["writer"])

    strict = probe_bucket("s3", "iam-bucket", "iam_writer", allow_delete=True)
    lenient = probe_bucket("s3", "iam-bucket", "iam_writer")

    assert not strict.ok
    assert strict.problems[0].startswith("delete: delete denied on s3://iam-bucket/")
    assert lenient.ok

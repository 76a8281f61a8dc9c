"""``traitflow sync s3://...`` against a real S3-compatible server (moto in server mode,
started by the test) and the real broker: credentials from the AWS environment, never
shown; a replaced object is imported again, its unchanged rows skipped; gzip objects read."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.cli.helpers import global_args
from tests.cli.processes import Command
from tests.conftest import free_port
from tests.support.kafka_helpers import messages_of, read_records
from traitflow.config import Settings
from traitflow.sync.run import SyncOptions, sync_round
from traitflow.sync.sources import Source

pytestmark = pytest.mark.integration
SECRET = "s3cr3t-never-shown"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A bucket on a local S3 server; the AWS variables point every client at it."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    environment = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
    }  # fmt: skip
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3")
    client.create_bucket(Bucket="crm")
    try:
        yield client
    finally:
        server.stop()


def _csv(*rows: str) -> bytes:
    return ("external_id,plan\n" + "".join(f"{row}\n" for row in rows)).encode()


def _round(settings: Settings) -> list[Any]:
    source = Source("s3://crm/daily/")
    return asyncio.run(sync_round(settings, source, SyncOptions()))


def test_objects_are_synced_once_and_a_replaced_one_only_for_its_changes(
    settings: Settings, s3: Any
) -> None:
    s3.put_object(
        Bucket="crm", Key="daily/a.csv.gz", Body=gzip.compress(_csv("ada,pro", "bob,free"))
    )
    s3.put_object(Bucket="crm", Key="daily/notes.txt", Body=b"not a csv")
    [first] = _round(settings)
    assert first.file.name == "a.csv.gz" and first.done
    assert first.report.imported == 2
    assert _round(settings) == []
    s3.put_object(
        Bucket="crm", Key="daily/a.csv.gz", Body=gzip.compress(_csv("ada,pro", "bob,pro"))
    )
    [replaced] = _round(settings)
    assert (replaced.report.imported, replaced.report.unchanged) == (1, 1)
    records = asyncio.run(read_records(settings, settings.topics.events, 1, timeout=3, settle=0.5))
    published = sorted((m["userId"], m["traits"]["plan"]) for m in messages_of(records))
    assert published == [("ada", "pro"), ("bob", "free"), ("bob", "pro")]


def test_the_command_reads_the_bucket_without_printing_credentials(
    settings: Settings, s3: Any, tmp_path: Path
) -> None:
    s3.put_object(Bucket="crm", Key="daily/b.csv", Body=_csv("cy,pro"))
    command = Command(*global_args(settings), "sync", "s3://crm/daily/", "--once")
    command.wait_for("b.csv: imported: 1 rows, 1 published", 60)
    assert command.process.wait(30) == 0
    assert SECRET not in "".join(command.lines)
    missing = Command(*global_args(settings), "sync", "s3://no-such-bucket/x/", "--once")
    assert missing.process.wait(30) == 2
    with pytest.raises(AssertionError):
        missing.wait_for(SECRET, 1)

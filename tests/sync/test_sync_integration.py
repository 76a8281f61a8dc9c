"""``traitflow sync`` on a real broker and local folders: new files are picked up once,
unchanged rows are skipped, changed rows published, absent ids kept or unset, a stopped
file resumed, a corrupt gzip reported without stopping the files after it."""

from __future__ import annotations

import asyncio
import gzip
import re
import shutil
import signal
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import global_args, run_cli
from tests.cli.processes import Command
from tests.conftest import free_port
from tests.support.kafka_helpers import messages_of, read_messages, read_records
from traitflow.config import Settings
from traitflow.exceptions import TraitflowError
from traitflow.importer.run import ACK_WINDOW, ImportReport
from traitflow.sync.run import FileOutcome, SyncOptions, state_dir, sync_round
from traitflow.sync.sources import Source, SourceFile

pytestmark = pytest.mark.integration


def _write(path: Path, rows: list[tuple[str, str, str]]) -> None:
    lines = ["external_id,plan,country", *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")


async def _all_messages(settings: Settings) -> list[dict[str, Any]]:
    records = await read_records(settings, settings.topics.events, 1, timeout=3, settle=0.5)
    return messages_of(records)


def _round(settings: Settings, folder: Path, **options: Any) -> list[FileOutcome]:
    return asyncio.run(sync_round(settings, Source(str(folder)), SyncOptions(**options)))


def test_only_new_files_and_changed_rows_are_published(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    _write(folder / "traits-1.csv", [("ada", "pro", "GB"), ("bob", "free", "FR")])
    [first] = _round(settings, folder)
    assert first.done and first.report is not None
    assert (first.report.imported, first.report.unchanged) == (2, 0)
    assert _round(settings, folder) == []  # nothing new: nothing read, nothing sent

    _write(folder / "traits-2.csv", [("ada", "pro", "GB"), ("bob", "pro", "FR")])
    [second] = _round(settings, folder)
    assert second.report is not None
    assert (second.report.rows, second.report.imported, second.report.unchanged) == (2, 1, 1)
    messages = asyncio.run(_all_messages(settings))
    published = sorted((m["userId"], m["traits"]["plan"]) for m in messages)
    assert published == [("ada", "pro"), ("bob", "free"), ("bob", "pro")]
    assert {m["context"]["traitflow"]["import"] for m in messages} == {"sync-drop"}
    assert len({m["messageId"] for m in messages}) == 3  # rows of each file have ids of their own


def test_absent_ids_are_kept_by_default_and_unset_on_request(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "crm"
    folder.mkdir()
    _write(folder / "a.csv", [("ada", "pro", "GB"), ("bob", "free", "FR")])
    _round(settings, folder)
    _write(folder / "b.csv", [("ada", "pro", "GB")])
    [kept] = _round(settings, folder)
    assert kept.absent == 0 and kept.report is not None and kept.report.unchanged == 1
    _write(folder / "c.csv", [("ada", "pro", "GB")])
    [unset] = _round(settings, folder, absent="unset")
    assert unset.absent == 1
    messages = asyncio.run(_all_messages(settings))
    assert len(messages) == 3
    unsets = [m for m in messages if settings.unset_marker in m["traits"].values()]
    assert [(m["userId"], m["traits"]) for m in unsets] == [
        ("bob", {"country": settings.unset_marker, "plan": settings.unset_marker})
    ]
    _write(folder / "d.csv", [("ada", "pro", "GB")])
    [later] = _round(settings, folder, absent="unset")
    assert later.absent == 0  # bob was forgotten once unset: no second unset
    shutil.rmtree(state_dir(settings, Source(str(folder))))
    lost = _round(settings, folder)  # the state lost: every file read again, each row once
    published = [(o.file.name, o.report.imported if o.report else None) for o in lost]
    assert published == [("a.csv", 2), ("b.csv", 0), ("c.csv", 0), ("d.csv", 0)]


def test_a_snapshot_lacking_most_ids_unsets_none_until_allowed(
    settings: Settings, tmp_path: Path
) -> None:
    """A truncated export must not wipe everyone's traits: past --max-absent (half the
    ids, by default) nothing is unset and the file stays unrecorded, failing each round."""
    folder = tmp_path / "truncated"
    folder.mkdir()
    _write(folder / "1.csv", [("ada", "pro", "GB"), ("bob", "free", "FR"), ("cy", "pro", "US")])
    _round(settings, folder, absent="unset")
    _write(folder / "2.csv", [("ada", "pro", "GB")])  # two thirds gone
    [refused] = _round(settings, folder, absent="unset")
    assert not refused.done and refused.absent == 0
    assert refused.error is not None and "lacks 2 of the 3 ids" in refused.error
    [again] = _round(settings, folder, absent="unset")
    assert again.file.name == "2.csv" and not again.done
    [allowed] = _round(settings, folder, absent="unset", max_absent=1.0)
    assert allowed.done and allowed.absent == 2


def test_a_stopped_file_resumes_where_its_acknowledged_rows_end(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    total = ACK_WINDOW * 2 + 500
    _write(folder / "all.csv", [(f"u{n}", "pro", "GB") for n in range(total)])
    stop = asyncio.Event()

    def halt(file: SourceFile, report: ImportReport) -> None:
        stop.set()  # after the first acknowledged window

    source = Source(str(folder))
    [stopped] = asyncio.run(sync_round(settings, source, SyncOptions(), stop, progress=halt))
    assert stopped.report is not None and not stopped.done
    assert stopped.report.imported == ACK_WINDOW
    [resumed] = _round(settings, folder)
    assert resumed.done and resumed.report is not None
    assert (resumed.report.unchanged, resumed.report.imported) == (ACK_WINDOW, total - ACK_WINDOW)
    assert len(asyncio.run(read_messages(settings, total))) == total


def test_a_corrupt_gzip_or_headless_file_fails_alone_and_is_tried_again(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "gz"
    folder.mkdir()
    whole = gzip.compress(b"".join(b"u%d,pro,GB\n" % n for n in range(5000)))
    (folder / "1.csv.gz").write_bytes(gzip.compress(b"external_id,plan,country\n") + whole[:-2000])
    (folder / "2.csv.gz").write_bytes(gzip.compress(b"external_id,plan,country\nada,pro,GB\n"))
    (folder / "3.csv").write_bytes(b"")
    (folder / "4.csv").write_text("id,plan\nada,pro\n")
    (folder / "5.csv").write_bytes(b"\xff\xfe\x00garbage\n\x00\x01")
    corrupt, good, empty, no_id, garbage = _round(settings, folder)
    assert not corrupt.done and corrupt.error is not None and "gzip" in corrupt.error
    assert good.done
    assert empty.error == "the file has no readable header row"
    assert no_id.error is not None and "no 'external_id' column" in no_id.error
    assert garbage.error == "the file has no readable header row"
    again = _round(settings, folder)  # failed files are not recorded as imported
    assert [outcome.file.name for outcome in again] == ["1.csv.gz", "3.csv", "4.csv", "5.csv"]


def test_the_command_reports_each_file_and_fails_on_rejected_rows(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "cli"
    folder.mkdir()
    _write(folder / "x.csv", [("ada", "pro", "GB"), ("bob", "free", "Francia")])
    metrics = tmp_path / "sync.prom"
    result = run_cli(settings, "sync", str(folder), "--once", "--metrics-file", str(metrics))
    assert result.exit_code == 1, result.output
    assert "x.csv: imported: 2 rows, 1 published, 0 unchanged, 1 rejected" in result.output
    assert "line 3: country" in result.output
    text = metrics.read_text()
    assert 'traitflow_sync_rows_total{result="published"' in text
    assert "traitflow_sync_last_success_timestamp_seconds" in text
    again = run_cli(settings, "sync", str(folder))
    assert again.exit_code == 0 and "no new file" in again.output
    listed = run_cli(settings, "sync", str(folder), "--imported")
    assert listed.exit_code == 0
    assert re.search(
        r"x\.csv: \d+ bytes, finished \S+Z: 2 rows, 1 published, 0 unchanged, 1 rejected, "
        r"0 absent unset",
        listed.output.replace("\n", " "),
    ), listed.output
    wrong = run_cli(settings, "sync", str(folder), "--every", "soon")
    assert isinstance(wrong.exception, TraitflowError)
    assert "expected a duration such as 30m" in str(wrong.exception)


def test_every_keeps_looking_serves_metrics_and_stops_cleanly_on_sigterm(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "daily"
    folder.mkdir()
    _write(folder / "day-1.csv", [("ada", "pro", "GB")])
    port = free_port()
    command = Command(*global_args(settings), "sync", str(folder), "--every", "1s",
                      "--metrics-port", str(port))  # fmt: skip
    try:
        command.wait_for("day-1.csv: imported: 1 rows, 1 published", 60)
        _write(folder / "day-2.csv", [("ada", "pro", "GB"), ("bob", "free", "FR")])
        command.wait_for("day-2.csv: imported: 2 rows, 1 published, 1 unchanged", 30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        assert 'traitflow_sync_files_total{outcome="imported"' in text
        assert 'result="unchanged"' in text
        assert command.interrupt(signal.SIGTERM) == 0
        command.wait_for("stopped", 5)
    finally:
        if command.process.poll() is None:
            command.process.kill()


def test_a_sync_killed_mid_file_resumes_and_loses_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    """kill -9 after the first acknowledged window: the next run skips what was
    acknowledged, publishes the rest, and republishes at most the window in flight (with
    the same message ids, which the worker drops as retries)."""
    folder = tmp_path / "killed"
    folder.mkdir()
    total = ACK_WINDOW * 10
    _write(folder / "all.csv", [(f"u{n}", "pro", "GB") for n in range(total)])
    command = Command(*global_args(settings), "sync", str(folder), "--once")
    try:
        command.wait_for("rows read", 60)
        command.process.kill()
        command.process.wait(10)
    finally:
        if command.process.poll() is None:
            command.process.kill()
    [resumed] = _round(settings, folder)
    assert resumed.done and resumed.report is not None
    assert resumed.report.unchanged >= ACK_WINDOW
    assert resumed.report.unchanged + resumed.report.imported == total

    def count(found: list[Any]) -> int:
        return len(messages_of(found))

    topic = settings.topics.events
    messages = messages_of(asyncio.run(read_records(settings, topic, total, 60, 1.0, count)))
    assert {m["userId"] for m in messages} == {f"u{n}" for n in range(total)}
    repeated = len(messages) - len({m["messageId"] for m in messages})
    assert len(messages) - total == repeated <= 2 * ACK_WINDOW  # repeats are retries only

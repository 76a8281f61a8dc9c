"""``traitflow import`` on a real broker: rows reach profiles, a segment of the import fills."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from subprocess import Popen

import pytest

from tests.cli.helpers import run_cli
from tests.support.kafka_helpers import membership_events, messages_of, read_records
from traitflow.assets import asset_dir
from traitflow.config import Settings
from traitflow.ingest.records import KIND_HEADER

pytestmark = pytest.mark.integration


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    return Path(shutil.copy(asset_dir("examples") / "traits.csv", tmp_path / "traits.csv"))


async def test_import_fills_profiles_and_a_segment_of_the_import(
    settings: Settings, worker: Popen[bytes], csv_file: Path
) -> None:
    result = await asyncio.to_thread(
        run_cli, settings, "import", str(csv_file), "--segment", "from-crm"
    )
    assert result.exit_code == 0, result.output
    assert "3 rows: imported 3, rejected 0" in result.output
    events = await membership_events(settings, 3, settle=1.0)
    assert sorted(e["person"] for e in events) == ["ada", "grace", "linus"]
    profile = await asyncio.to_thread(run_cli, settings, "profile", "ada", "--json")
    assert '"country": "GB"' in profile.output and '"vip": true' in profile.output
    records = await read_records(settings, settings.topics.events, 1, settle=0.5)
    imported = [r for r in records if KIND_HEADER not in dict(r.headers)]  # the worker's
    rows = messages_of(imported)  # identity changes and jobs share the topic
    assert sorted(row["userId"] for row in rows) == ["ada", "grace", "linus"]
    assert len(imported) <= settings.partitions  # a record per partition's rows

    again = await asyncio.to_thread(run_cli, settings, "import", str(csv_file), "--resume")
    assert "skipped 3 already done" in again.output


def test_dry_run_publishes_nothing_and_reports_rejects(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("external_id,country\nu1,FR\nu2,France\n")
    result = run_cli(settings, "import", "--dry-run", str(bad))
    assert result.exit_code == 1
    assert "would import 1, rejected 1" in result.output
    assert "line 3: country: country must be" in result.output
    assert "a dry run writes no error report" in result.output
    assert not (tmp_path / "bad.errors.csv").exists()
    assert asyncio.run(read_records(settings, settings.topics.events, 1, timeout=2)) == []


def test_an_import_reports_rejects_in_a_file_of_its_own(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text('external_id,country,gender\nu1,FR,F\nu2,Francia,robot\nu3,"stray\nu4,US,M\n')
    (tmp_path / "bad.errors.csv").write_text("not ours")
    result = run_cli(settings, "import", str(bad))
    assert result.exit_code == 1
    assert "imported 2, rejected 2" in result.output
    report = tmp_path / "bad-1.errors.csv"
    assert f"rejected rows, with line numbers and reasons: {report}" in result.output.replace(
        "\n", ""
    )
    text = report.read_text()
    assert "country: country must be" in text and "gender: gender must be" in text
    assert "4,unterminated quoted field" in text
    assert (tmp_path / "bad.errors.csv").read_text() == "not ours"

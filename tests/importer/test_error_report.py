"""The error report never overwrites or follows what is not its own."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from traitflow.importer.rows import RowError
from traitflow.importer.run import ErrorReport


def write_one(path: Path | None, fresh: bool = True) -> ErrorReport:
    with ErrorReport(path, fresh) as report:
        report.writerow([3, "country: bad", "u1,Francia"])
    return report


def test_made_at_the_first_rejection_private_and_complete(tmp_path: Path) -> None:
    wanted = tmp_path / "x.errors.csv"
    with ErrorReport(wanted, fresh=True):
        pass
    assert not wanted.exists()  # no rejection, no file
    report = write_one(wanted)
    assert report.path == wanted
    assert wanted.read_text().splitlines() == [
        "line,reason,original",
        '3,country: bad,"u1,Francia"',
    ]
    assert stat.S_IMODE(wanted.stat().st_mode) == 0o600


def test_an_existing_file_or_symlink_is_left_alone_for_a_fresh_name(tmp_path: Path) -> None:
    wanted = tmp_path / "x.errors.csv"
    wanted.write_text("someone's work")
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    (tmp_path / "x-1.errors.csv").symlink_to(victim)
    report = write_one(wanted)
    assert report.path == tmp_path / "x-2.errors.csv"
    assert wanted.read_text() == "someone's work"
    assert victim.read_text() == "keep me"


def test_a_report_path_given_by_hand_is_never_replaced(tmp_path: Path) -> None:
    given = tmp_path / "mine.csv"
    given.write_text("already here")
    with pytest.raises(RowError, match="exists: choose another with --errors"):
        write_one(given, fresh=False)
    assert given.read_text() == "already here"


def test_without_a_path_only_the_first_rejections_are_kept(tmp_path: Path) -> None:
    with ErrorReport(None, fresh=True) as report:
        for line in range(2, 30):
            report.writerow([line, f"bad {line}", "..."])
    assert report.path is None
    assert report.examples[:2] == [(2, "bad 2"), (3, "bad 3")]
    assert len(report.examples) == ErrorReport.EXAMPLES
    assert list(tmp_path.iterdir()) == []


def test_copies_are_cut_and_formulas_never_run(tmp_path: Path) -> None:
    wanted = tmp_path / "x.errors.csv"
    with ErrorReport(wanted, fresh=True) as report:
        report.writerow([2, "plan: bad", '=HYPERLINK("http://x")'])
        report.writerow([3, "-1 is no plan", "@SUM(A1)"])
        report.writerow([4, "too long", "y" * 10_000])
    lines = wanted.read_text().splitlines()
    assert lines[1] == '2,plan: bad,"\'=HYPERLINK(""http://x"")"'
    assert lines[2] == "3,'-1 is no plan,'@SUM(A1)"
    assert len(lines[3]) < 2100 and lines[3].endswith('(10,000 characters, cut)"')

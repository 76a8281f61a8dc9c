"""Streaming records with line numbers; rows to identify messages, or rejected with a reason."""

import io
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traitflow.importer.reader import FileTooLarge, bounded_lines, records
from traitflow.importer.rows import ImportPlan, RowError, check_header, row_message


def read(data: bytes) -> list[tuple[int, list[str] | None, str | None]]:
    return [(r.line, r.cells, r.error) for r in records(io.BytesIO(data))]


def test_records_keep_line_numbers_across_quoted_newlines() -> None:
    data = b'\xef\xbb\xbfid,note\r\n1,"two\nlines"\n2,"say ""hi"""\n'
    assert read(data) == [
        (1, ["id", "note"], None),
        (2, ["1", "two\nlines"], None),
        (4, ["2", 'say "hi"'], None),
    ]


def test_invalid_utf8_and_bad_quoting_reject_one_row_only() -> None:
    data = b'id,note\n1,\xff\n2,a"b"c\n3,fine\n4,"never closed\n'
    found = read(data)
    assert found[1][2] is not None and "invalid UTF-8" in found[1][2]
    assert found[3] == (4, ["3", "fine"], None)
    assert found[4][2] is not None
    assert found[4][2].startswith("unterminated quoted field")
    assert "by the end of the file" in found[4][2]


def test_a_stray_quote_rejects_its_line_and_reading_goes_on_from_the_next() -> None:
    rows = [b"%d,name %d\n" % (n, n) for n in range(20_000)]
    rows[5] = b'5,"stray\n'
    found = read(b"id,name\n" + b"".join(rows))
    rejected = [(line, error) for line, _, error in found if error]
    assert len(found) == 20_001
    assert rejected == [
        (7, "unterminated quoted field: a quote opened on this line is not closed within 50 lines")
    ]
    assert found[7] == (8, ["6", "name 6"], None)
    assert found[-1] == (20_001, ["19999", "name 19999"], None)


def test_a_quoted_field_may_still_span_many_lines() -> None:
    note = "\n".join(f"line {n}" for n in range(40))
    found = read(f'id,note\n1,"{note}"\n2,x\n'.encode())
    assert found[1] == (2, ["1", note], None)
    assert found[2] == (42, ["2", "x"], None)


def plan(**overrides: object) -> ImportPlan:
    values: dict = {
        "header": ["external_id", "country", "score", "notes"],
        "id_column": "external_id",
        "import_id": "crm",
        "file_hash": "ab" * 32,
        "timestamp": "2026-11-23T08:00:00.000Z",
    }
    return ImportPlan(**{**values, **overrides})


def test_a_row_becomes_an_identify_of_its_person() -> None:
    message = row_message(plan(), ["u1", "fr", "12", ""], 7)
    assert message["userId"] == "u1"
    assert message["traits"] == {"country": "FR", "score": 12}  # blank cell: not sent
    assert message["messageId"] == "import-" + "ab" * 8 + "-7"
    assert message["context"] == {"traitflow": {"import": "crm"}}


def test_the_unset_marker_passes_through_to_clear_a_trait() -> None:
    assert row_message(plan(), ["u1", "__null__", "1", ""], 1)["traits"]["country"] == "__null__"


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        (["", "FR", "1", "x"], "no external_id"),
        (["u1", "FR", "1"], "3 cells where the header has 4"),
        (["u1", "Francia", "1", "x"], "country"),
    ],
)
def test_rejected_rows_say_why(cells: list[str], reason: str) -> None:
    with pytest.raises(RowError, match=reason):
        row_message(plan(), cells, 1)


def test_every_problem_of_a_row_is_reported() -> None:
    columns = ["country", "dob", "gender", "email", "language", "time_zone", "email_subscribe"]
    wide = plan(header=["external_id", *columns])
    cells = ["u1", "Francia", "not a date", "robot", "no-at-sign", "klingon", "Mars/Base", "maybe"]
    with pytest.raises(RowError) as caught:
        row_message(wide, cells, 1)
    reason = str(caught.value)
    for column in columns:
        assert f"{column}:" in reason, reason


def test_type_override_and_mixed_columns() -> None:
    typed = plan(types={"score": "string"})
    assert row_message(typed, ["u1", "", "007", ""], 1)["traits"]["score"] == "007"
    mixed = plan()
    row_message(mixed, ["u1", "", "1", ""], 1)
    row_message(mixed, ["u2", "", "high", ""], 2)
    [conflict] = mixed.type_conflicts()
    assert "score" in conflict and "--type score=" in conflict


def test_header_needs_the_id_column_and_unique_names() -> None:
    with pytest.raises(RowError, match="--id-column"):
        check_header(["user", "email"], "external_id")
    with pytest.raises(RowError, match="duplicate"):
        check_header(["external_id", "a", "a"], "external_id")
    assert plan(header=["external_id", "Email"]).warnings() == [
        "column 'Email' is not the standard 'email': imported as custom"
    ]


class CountingStream(io.RawIOBase):
    """A file of ``lines`` made on the fly, that records the largest read asked of it: a
    400 MB line never has to exist in memory."""

    def __init__(self, lines: list[tuple[bytes, int]]) -> None:
        self.parts = [(text, times) for text, times in lines]
        self.largest = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.largest = max(self.largest, len(buffer))
        while self.parts and self.parts[0][1] == 0:
            self.parts.pop(0)
        if not self.parts:
            return 0
        text, times = self.parts[0]
        count = min(times, max(1, len(buffer) // len(text)))
        chunk = text * count
        self.parts[0] = (text, times - count)
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_an_overlong_line_is_rejected_alone_with_bounded_memory() -> None:
    """One 400 MB line once took 3.6 GB of memory and made a 419 MB error report."""
    raw = CountingStream([(b"id,plan\nu1,trial\n", 1), (b"x", 50 * 1024 * 1024),
                          (b"\nu2,monthly\n", 1)])  # fmt: skip
    found = list(records(io.BufferedReader(raw, buffer_size=1 << 16)))
    assert [r.line for r in found] == [1, 2, 3, 4]
    long = found[2]
    assert long.cells is None and long.error is not None and "longer than 1 MiB" in long.error
    assert len(long.text) < 300  # what the error report copies
    assert found[3].cells == ["u2", "monthly"]


def test_a_file_past_its_decompressed_bound_stops_with_a_sentence() -> None:
    stream = io.BytesIO(b"id,plan\n" + b"u1,trial\n" * 1000)
    with pytest.raises(FileTooLarge, match="more than 5,000 bytes"):
        list(records(stream, max_file_bytes=5000))


class Trickle(io.BytesIO):
    """Gives at most 7 bytes a read, as a slow remote file may."""

    def read(self, size: int | None = -1) -> bytes:
        return super().read(7 if size is None or size < 0 else min(size, 7))


@given(st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=20),
       st.booleans())  # fmt: skip
def test_lines_are_the_files_lines_however_it_is_read(lines: list[bytes], last_open: bool) -> None:
    raw = b"\n".join(lines) + (b"" if last_open else b"\n")
    *whole, rest = raw.split(b"\n")  # lines end at a newline only, as a binary file's do
    expected = [line + b"\n" for line in whole] + ([rest] if rest else [])
    found = list(bounded_lines(Trickle(raw)))
    assert found == list(enumerate(expected, start=1))

"""Member pages: cursors round-trip, and a cursor not handed out is refused clearly."""

from __future__ import annotations

import base64

import orjson
import pytest

from traitflow.admin.members import BadCursor, Cursor


def test_a_cursor_round_trips_with_any_key_bytes() -> None:
    cursor = Cursor(3, b"mia@example.com/\x00\xff")
    assert Cursor.decode(cursor.encode()) == cursor
    assert Cursor.decode(None) == Cursor(0, None) == Cursor.decode("")


def handed(partition: object, after: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([partition, after])).decode()


@pytest.mark.parametrize(
    "text",
    ["nonsense", "W10=", "WyJ4IiwienoiXQ==", "%%%", handed(-1, None), handed(1.5, None),
     handed(True, None), handed(0, "zz"), handed(0, 7)],
)  # fmt: skip
def test_a_cursor_not_handed_out_is_refused(text: str) -> None:
    with pytest.raises(BadCursor, match="not one this API handed out"):
        Cursor.decode(text)

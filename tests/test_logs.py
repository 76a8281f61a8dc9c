"""Log lines as JSON objects, exceptions included."""

from __future__ import annotations

import logging

import orjson

from traitflow.logs import JsonFormatter


def test_a_record_becomes_one_json_object() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "traitflow.worker", logging.WARNING, __file__, 1, "lag %d", (3,), exc_info=True
        )
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = orjson.loads(line)
    assert (parsed["level"], parsed["logger"], parsed["message"]) == (
        "warning",
        "traitflow.worker",
        "lag 3",
    )
    assert "ValueError: boom" in parsed["exception"]
    assert parsed["time"].endswith("+00:00")

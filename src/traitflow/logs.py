"""Log output: readable text, or one JSON object per line for log pipelines.

What traitflow logs carries no secrets and no personal data: ids of people, traits and
message bodies stay out of log lines (offsets and partitions say where to look instead).
"""

from __future__ import annotations

import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

import orjson

from traitflow.broker.denials import RefusalFilter, principal
from traitflow.config import Settings

LIBRARIES = ("faust", "mode", "aiokafka", "aiohttp", "kafka")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"}`` plus ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def logging_config(settings: Settings) -> dict[str, Any]:
    """A ``dictConfig`` for the settings' level and format (Faust's worker takes one too)."""
    formatter = (
        {"()": f"{__name__}.JsonFormatter"}
        if settings.log_format == "json"
        else {"format": TEXT_FORMAT}
    )
    level = settings.log_level.upper()
    library_level = max(logging.getLevelNamesMapping()[level], logging.INFO)
    who, setting = principal(settings)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "filters": {"refusals": {"()": RefusalFilter, "who": who, "setting": setting}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["refusals"],
            },
        },
        "root": {"level": level, "handlers": ["default"]},
        # Their debug lines print records' keys and values: personal data.
        "loggers": {name: {"level": library_level} for name in LIBRARIES},
    }


def configure_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))

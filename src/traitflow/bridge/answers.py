"""The bridge's JSON answers, as types: mypy checks the server fills them, and the OpenAPI
document (``traitflow.bridge.openapi``) is generated from them."""

from __future__ import annotations

from typing import (
    Literal,
    NotRequired,  # pydantic reads it on Python < 3.12
)

from aiohttp import web
from typing_extensions import TypedDict


class Accepted(TypedDict):
    """Every message accepted and acknowledged by Kafka."""

    success: Literal[True]
    accepted: int


class Rejection(TypedDict):
    """A message of the request refused: its index in the batch, and why."""

    index: int
    reason: str


class Refusal(TypedDict):
    """What went wrong: a code for programs, a sentence for people; with messages refused,
    how many of the others were accepted."""

    success: Literal[False]
    code: str
    message: str
    accepted: NotRequired[int]
    rejected: NotRequired[list[Rejection]]


def accepted_response(accepted: int) -> web.Response:
    body: Accepted = {"success": True, "accepted": accepted}
    return web.json_response(body)


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    rejected: list[Rejection] | None = None,
    accepted: int | None = None,
) -> web.Response:
    body: Refusal = {"success": False, "code": code, "message": message}
    if accepted is not None:
        body["accepted"] = accepted
    if rejected is not None:
        body["rejected"] = rejected
    return web.json_response(body, status=status, headers=headers)

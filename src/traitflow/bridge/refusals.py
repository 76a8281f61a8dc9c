"""A request the bridge refuses as a whole, with its HTTP status and a reason."""

from __future__ import annotations

from traitflow.exceptions import TraitflowError


class RequestRefused(TraitflowError):
    """Answered with ``status`` and a JSON body ``{"code", "message"}``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers

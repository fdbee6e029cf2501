"""The errors this package raises, all under one root.

::

    InsiderWAError
    ├── APIError                   the API answered with an error status
    │   ├── RequestParseError      400 / 3001: the body could not be parsed
    │   ├── RequestValidationError 400 / 3002, or the same rule checked locally
    │   ├── AuthenticationError    401: missing, unknown or expired credential
    │   ├── ProductNotActiveError  403 / 3007: WhatsApp is not enabled
    │   ├── UnprocessableEntityError  422: e.g. unknown tag names
    │   ├── RateLimitError         429 / 2021, once retries are spent
    │   └── ServerError            5xx, once retries are spent
    ├── ResponseShapeError         a 200 whose body is not the documented shape
    ├── TransportError             no usable answer: connection failures
    │   └── RequestTimeoutError    an attempt or the whole call ran out of time
    └── ClientStateError           the client is closed, unopened or on another loop

``RequestValidationError`` is also a :class:`ValueError`, ``RequestTimeoutError``
also the builtin :class:`TimeoutError` and ``ClientStateError`` a
:class:`RuntimeError`. When a piece of a split range fails, ``time_range``
holds that piece's ``(start, end)`` in Unix seconds and the message names it.
Messages carry the status, the API's code and a short excerpt of the body,
never a credential.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

__all__ = [
    "APIError",
    "AuthenticationError",
    "ClientStateError",
    "InsiderWAError",
    "ProductNotActiveError",
    "RateLimitError",
    "RequestParseError",
    "RequestTimeoutError",
    "RequestValidationError",
    "ResponseShapeError",
    "ServerError",
    "TransportError",
    "UnprocessableEntityError",
]


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class InsiderWAError(Exception):
    """Root of every error raised by this package.

    Attributes:
        message: What went wrong, in one line.
        time_range: The ``(start, end)`` Unix seconds of the piece of a split
            range that failed, or None when the failure is not tied to one.
    """

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.time_range: tuple[int, int] | None = fields.pop("time_range", None)
        self._fields = fields
        for name, value in fields.items():
            setattr(self, name, value)

    def __str__(self) -> str:
        if self.time_range is None:
            return self.message
        start, end = self.time_range
        return f"{self.message} (range {_iso(start)}..{_iso(end)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self._state()))

    def _state(self) -> dict[str, Any]:
        return {"time_range": self.time_range, **self._fields}

    def with_time_range(self, start: int, end: int) -> InsiderWAError:
        """Return this error, marked as the failure of the piece ``start..end``."""
        self.time_range = (start, end)
        return self


def _rebuild(cls: type[InsiderWAError], message: str, state: dict[str, Any]) -> Any:
    return cls(message, **state)


def _flatten(errors: Any, path: str = "") -> list[str]:
    """Spell nested error detail as ``path: message`` lines."""
    if isinstance(errors, dict):
        return [
            line
            for key, value in errors.items()
            for line in _flatten(value, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(errors, list):
        return [line for item in errors for line in _flatten(item, path)]
    if errors is None or errors == "":
        return []
    return [f"{path}: {errors}" if path else str(errors)]


class APIError(InsiderWAError):
    """The API answered with an error status.

    Attributes:
        status: The HTTP status, or None for a rule checked before sending.
        code: The API's error code (``"3002"``, ``"2021"``...) or None.
        errors: The API's ``errors`` field: a string, or nested detail (422).
        body: A short excerpt of the response body.
        retry_after: The server's wait hint in seconds (``Retry-After``), or
            None when it gave none.
    """

    status: int | None
    code: str | None
    errors: Any
    body: str
    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        errors: Any = None,
        body: str = "",
        retry_after: float | None = None,
        time_range: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(
            message,
            status=status,
            code=code,
            errors=errors,
            body=body,
            retry_after=retry_after,
            time_range=time_range,
        )

    def __str__(self) -> str:
        parts = [f"HTTP {self.status}" if self.status else "rejected locally"]
        if self.code:
            parts.append(f"code {self.code}")
        head = f"{', '.join(parts)}: {self.message.rstrip('.')}"
        detail = "; ".join(_flatten(self.errors))
        if detail:
            head = f"{head}: {detail}"
        elif self.body and self.status and self.message not in self.body:
            head = f"{head} (body: {self.body})"
        if self.time_range is None:
            return head
        start, end = self.time_range
        return f"{head} (range {_iso(start)}..{_iso(end)})"


class RequestParseError(APIError):
    """The API could not parse the request body (400 / 3001)."""


class RequestValidationError(APIError, ValueError):
    """The request breaks a rule of the endpoint (400 / 3002).

    Raised before any request is sent for every rule the client can check
    itself; ``errors`` then holds the same message the API would give.
    """


class AuthenticationError(APIError):
    """The credential is missing, unknown or expired (401)."""


class ProductNotActiveError(APIError):
    """The partner does not have the WhatsApp product enabled (403 / 3007)."""


class UnprocessableEntityError(APIError):
    """A downstream service refused the filter (422); ``errors`` holds its detail."""


class RateLimitError(APIError):
    """The API refused for the rate limit (429 / 2021) and retries are spent."""


class ServerError(APIError):
    """The API or a gateway failed (5xx) and retries are spent."""


class ResponseShapeError(InsiderWAError):
    """A 200 response whose body is not the documented shape.

    Attributes:
        body: A short excerpt of the body.
    """

    body: str

    def __init__(
        self,
        message: str,
        *,
        body: str = "",
        time_range: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(message, body=body, time_range=time_range)


class TransportError(InsiderWAError):
    """No usable answer came back: the connection failed, reset or was cut short."""


class RequestTimeoutError(TransportError, TimeoutError):
    """An attempt, or the whole call, ran past its time limit."""


class ClientStateError(InsiderWAError, RuntimeError):
    """The client is used outside ``async with``, after closing, or on another loop."""

"""Turning response bodies into results or into the package's errors."""

from __future__ import annotations

import json
import operator
from typing import Any

import msgspec

from ._errors import (
    APIError,
    AuthenticationError,
    ProductNotActiveError,
    RateLimitError,
    RequestParseError,
    RequestValidationError,
    ResponseShapeError,
    ServerError,
    UnprocessableEntityError,
)
from ._models import Chart, OverallStatistics, Summary

__all__ = ["decode_statistics", "error_from_response", "excerpt"]

_decoder = msgspec.json.Decoder(OverallStatistics)
_any_decoder = msgspec.json.Decoder()
_EMPTY_SUMMARY = Summary()
_KEYS = ("chart", "summary", "details")
_SERIES = tuple(
    f for f in Chart.__struct_fields__ if f not in ("dates", "dates_as_timestamp")
)
_series_of = operator.attrgetter(*_SERIES)
EXCERPT_CHARS = 200


def _masks(secret: str) -> list[str]:
    """Return the forms a secret takes in a body: raw and JSON-escaped ones."""
    ascii_json = json.dumps(secret)[1:-1]
    utf8_json = json.dumps(secret, ensure_ascii=False)[1:-1]
    forms = {secret, ascii_json, utf8_json}
    for form in (ascii_json, utf8_json):
        # Go's encoder also escapes <, > and & for HTML safety.
        forms.add(
            form.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        )
    return sorted(forms, key=len, reverse=True)


def excerpt(body: bytes, secrets: tuple[str, ...] = ()) -> str:
    """Return the start of a body as one line of text, with secrets masked.

    Secrets are masked before anything is cut or folded, in their raw form
    and as JSON (and Go) would escape them inside a string.
    """
    longest = max((len(secret) for secret in secrets), default=0)
    text = body[: EXCERPT_CHARS * 4 + longest * 12].decode("utf-8", "replace")
    for secret in secrets:
        if secret:
            for form in _masks(secret):
                text = text.replace(form, "***")
    text = " ".join(text.split())
    if len(text) > EXCERPT_CHARS:
        text = text[:EXCERPT_CHARS] + "…"
    return text


def decode_statistics(body: bytes, secrets: tuple[str, ...] = ()) -> OverallStatistics:
    """Decode a 200 body of ``statistics/overall``.

    Args:
        body: The response body.
        secrets: Credentials to mask in the excerpt an error carries.

    Raises:
        ResponseShapeError: Not JSON, not the documented shape, or a chart
            whose series disagree in length with its dates.
    """
    problem: str | None
    try:
        result = _decoder.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        problem = f"response is not the documented statistics shape: {exc}"
    else:
        problem = _shape_problem(result, body)
        if problem is None:
            return result
    raise ResponseShapeError(problem, body=excerpt(body, secrets))


def _shape_problem(result: OverallStatistics, body: bytes) -> str | None:
    if _looks_empty(result) and not _has_known_key(body):
        return "response has none of chart, summary or details"
    return _chart_problem(result.chart)


def _looks_empty(result: OverallStatistics) -> bool:
    return (
        not result.details
        and not result.chart.dates
        and not result.chart.dates_as_timestamp
        and result.summary == _EMPTY_SUMMARY
    )


def _has_known_key(body: bytes) -> bool:
    # Only reached for bodies that decoded to nothing, which are small. The
    # typed decode skips unknown keys unchecked, so this one may still fail.
    try:
        whole = _any_decoder.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return False
    return isinstance(whole, dict) and any(key in whole for key in _KEYS)


def _chart_problem(chart: Chart) -> str | None:
    """Check the series against the dates; fill missing series with zeros."""
    days = len(chart.dates)
    if len(chart.dates_as_timestamp) != days:
        return f"chart has {days} dates but {len(chart.dates_as_timestamp)} timestamps"
    columns: tuple[list[int], ...] = _series_of(chart)
    if all(len(series) == days for series in columns):
        return None
    for name, series in zip(_SERIES, columns, strict=True):
        if series and len(series) != days:
            return f"chart series {name!r} has {len(series)} values for {days} days"
        if not series:
            series.extend([0] * days)
    return None


_BY_STATUS: dict[int, type[APIError]] = {
    401: AuthenticationError,
    403: ProductNotActiveError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}
_BY_CODE: dict[str, type[APIError]] = {
    "3001": RequestParseError,
    "3002": RequestValidationError,
    "3007": ProductNotActiveError,
    "2021": RateLimitError,
}


def error_from_response(
    status: int,
    body: bytes,
    secrets: tuple[str, ...] = (),
    retry_after: float | None = None,
) -> APIError:
    """Build the error for a non-200 answer, reading whichever code is present."""
    fields = _error_fields(body)
    code = fields.get("code")
    cls = _BY_CODE.get(code or "") or _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else APIError
    message = fields.get("message")
    if message:
        message = excerpt(message.encode("utf-8", "replace"), secrets)
    return cls(
        message or f"unexpected HTTP status {status}",
        status=status,
        code=code,
        errors=_masked(fields.get("errors"), secrets),
        body=excerpt(body, secrets),
        retry_after=retry_after,
    )


def _masked(value: Any, secrets: tuple[str, ...]) -> Any:
    """Return ``value`` (decoded JSON) with every secret in its text masked."""
    if value is None or not any(secrets):
        return value
    text = msgspec.json.encode(value).decode()
    masked = text
    for secret in filter(None, secrets):
        masked = masked.replace(msgspec.json.encode(secret).decode()[1:-1], "***")
    if masked == text:
        return value
    try:
        return _any_decoder.decode(masked)
    except msgspec.DecodeError:
        return excerpt(masked.encode(), secrets)


def _error_fields(body: bytes) -> dict[str, Any]:
    try:
        data = _any_decoder.decode(body) if body else None
    except (msgspec.DecodeError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    inner = data.get("error")
    code: Any = data.get("errorCode")
    if code is None and isinstance(inner, dict):
        code = inner.get("code")
    message = data.get("message")
    if message is None and isinstance(inner, dict):
        message = inner.get("message")
    return {
        "code": None if code is None else str(code),
        "message": message if isinstance(message, str) else None,
        "errors": data.get("errors"),
    }

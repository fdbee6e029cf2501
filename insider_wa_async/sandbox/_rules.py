"""Parse and validate a statistics request body the way the real server does.

The real server is written in Go: a body is first decoded into typed structs (a
value of the wrong JSON type fails with 400 / 3001 and Go's ``json: cannot
unmarshal ...`` text), and only then validated (400 / 3002, the first failing rule
in the page's order). This module does no I/O: it maps bytes to a `Query` or raises
`RequestError` carrying the status and the JSON body to answer with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

YEAR_SECONDS = 31_536_000
MIN_TIMESTAMP = 1_000_000_000
MAX_TIMESTAMP = 9_999_999_999
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

ALLOWED_TYPE_IDS = frozenset({1, 2, 3, 5, 6})
ALLOWED_STATUSES = (
    "all",
    "active",
    "test",
    "passive",
    "completed",
    "failed",
    "scheduled",
    "draft",
    "stop",
)

_REQUEST_STRUCT = "OverallRequest"
_FILTER_STRUCT = "CampaignFilter"
_FILTER_TYPE = "request.CampaignFilter"
_ANY_LIST = "[]interface {}"
_BYTE_OFFSET = re.compile(r"\(byte (\d+)\)")


class RequestError(Exception):
    """Carry an HTTP status and the JSON body the server answers with."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


@dataclass(frozen=True, slots=True)
class RawFilter:
    """Hold a decoded campaign filter; ``None`` means no filtering on a dimension."""

    type_ids: frozenset[int] | None = None
    statuses: frozenset[str] | None = None
    accounts: frozenset[str] | None = None
    tags: tuple[int | str, ...] | None = None
    show_architect: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """Hold a valid request: the range (seconds, both ends inclusive) and filter."""

    start_time: int
    end_time: int
    filter: RawFilter


def parse_error(text: str) -> RequestError:
    """Build the 400 / 3001 error for a body that cannot be decoded."""
    body = {"message": "failed to parse request", "errorCode": "3001", "errors": text}
    return RequestError(400, body)


def validation_error(text: str) -> RequestError:
    """Build the 400 / 3002 error carrying one validation message."""
    body = {"message": "validation failed", "errorCode": "3002", "errors": text}
    return RequestError(400, body)


def _type_error(value_kind: str, struct: str, field: str, go_type: str) -> RequestError:
    """Build a 3001 error worded like Go's ``UnmarshalTypeError``."""
    return parse_error(
        f"json: cannot unmarshal {value_kind} into Go struct field "
        f"{struct}.{field} of type {go_type}"
    )


def _json_kind(value: object) -> str:
    """Name the JSON type of a decoded value the way Go's decoder does."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _go_value(value: object) -> str:
    """Format a decoded value like Go's ``%v`` of an ``interface{}``."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict)):
        return msgspec.json.encode(value).decode()
    return str(value)


def _syntax_message(raw: bytes, exc: msgspec.DecodeError) -> str:
    """Translate a msgspec syntax error into Go's wording."""
    found = _BYTE_OFFSET.search(str(exc))
    trailing = "trailing characters" in str(exc)
    offset = -1 if found is None else int(found.group(1)) - trailing
    if not 0 <= offset < len(raw):
        return "unexpected end of JSON input"
    char = chr(raw[offset])
    if trailing:
        return f"invalid character {char!r} after top-level value"
    return f"invalid character {char!r} looking for beginning of value"


def _int64(value: object, field: str) -> int:
    """Decode an ``int64`` field; null leaves Go's zero value."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        if INT64_MIN <= value <= INT64_MAX:
            return value
        raise _type_error(f"number {value}", _REQUEST_STRUCT, field, "int64")
    kind = _json_kind(value)
    if isinstance(value, float):
        kind = f"number {_go_value(value)}"
    raise _type_error(kind, _REQUEST_STRUCT, field, "int64")


def _list(value: object, field: str, go_type: str) -> list[Any] | None:
    """Decode a list field of the filter; null or absent gives ``None``."""
    if value is None:
        return None
    if not isinstance(value, list):
        path = f"campaign_filter.{field}"
        raise _type_error(_json_kind(value), _FILTER_STRUCT, path, go_type)
    return value


def _strings(value: object, field: str) -> list[str] | None:
    """Decode a ``[]string`` field; null elements become empty strings."""
    items = _list(value, field, "[]string")
    if items is None:
        return None
    for item in items:
        if item is not None and not isinstance(item, str):
            path = f"campaign_filter.{field}"
            raise _type_error(_json_kind(item), _FILTER_STRUCT, path, "string")
    return ["" if item is None else item for item in items]


def _decode_filter(value: object) -> dict[str, Any]:
    """Decode ``campaign_filter`` into typed fields, in document order."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _type_error(
            _json_kind(value), _REQUEST_STRUCT, "campaign_filter", _FILTER_TYPE
        )
    fields: dict[str, Any] = {}
    for key, item in value.items():
        if key in ("campaign_type_ids", "tags"):
            fields[key] = _list(item, key, _ANY_LIST)
        elif key in ("statuses", "accounts"):
            fields[key] = _strings(item, key)
        elif key == "show_architect":
            if item is not None and not isinstance(item, bool):
                path = "campaign_filter.show_architect"
                raise _type_error(_json_kind(item), _FILTER_STRUCT, path, "bool")
            fields[key] = bool(item)
    return fields


def _decode(raw: bytes) -> tuple[int, int, dict[str, Any]]:
    """Decode a body into start, end and filter fields, or raise a 3001 error."""
    try:
        document = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise parse_error(_syntax_message(raw, exc)) from exc
    if not isinstance(document, dict):
        kind = "null" if document is None else _json_kind(document)
        target = f"Go value of type request.{_REQUEST_STRUCT}"
        raise parse_error(f"json: cannot unmarshal {kind} into {target}")
    start = end = 0
    fields: dict[str, Any] = {}
    for key, value in document.items():
        if key == "start_time":
            start = _int64(value, key)
        elif key == "end_time":
            end = _int64(value, key)
        elif key == "campaign_filter":
            fields = _decode_filter(value)
    return start, end, fields


def _check_range(start: int, end: int, *, year_limit: bool) -> None:
    """Apply the range rules in the page's order."""
    if start == 0:
        raise validation_error("start_time is required")
    if end == 0:
        raise validation_error("end_time is required")
    if not MIN_TIMESTAMP <= start <= MAX_TIMESTAMP:
        raise validation_error("start_time must be a 10-digit unix timestamp")
    if not MIN_TIMESTAMP <= end <= MAX_TIMESTAMP:
        raise validation_error("end_time must be a 10-digit unix timestamp")
    if end <= start:
        raise validation_error("end_time must be greater than start_time")
    if year_limit and end - start > YEAR_SECONDS:
        raise validation_error("date range cannot exceed 1 year")


def _type_ids(items: list[Any] | None) -> frozenset[int] | None:
    """Validate ``campaign_type_ids``; ``None`` means every type."""
    chosen: set[int] = set()
    every = False
    for item in items or ():
        if isinstance(item, str) and item == "all":
            every = True
        elif _is_type_id(item):
            chosen.add(int(item))
        else:
            raise validation_error(
                f"invalid campaign_type_id: {_go_value(item)}, "
                "allowed values are: all, 1, 2, 3, 5, 6"
            )
    return None if every or not chosen else frozenset(chosen)


def _is_type_id(item: object) -> bool:
    """Tell whether a list element is one of the allowed numeric type ids."""
    if isinstance(item, bool) or not isinstance(item, (int, float)):
        return False
    return item in ALLOWED_TYPE_IDS


def _statuses(items: list[str] | None) -> frozenset[str] | None:
    """Validate ``statuses``; ``None`` means every status."""
    for item in items or ():
        if item not in ALLOWED_STATUSES:
            raise validation_error(
                f"invalid status: {item}, allowed values are: "
                + ", ".join(ALLOWED_STATUSES)
            )
    if not items or "all" in items:
        return None
    return frozenset(items)


def _tags(items: list[Any] | None) -> tuple[int | str, ...] | None:
    """Validate ``tags`` (integer ids or string names); ``None`` means any tag."""
    for index, item in enumerate(items or ()):
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise validation_error(f"tag at index {index} must be a string or integer")
    if not items or "all" in items:
        return None
    return tuple(dict.fromkeys(items))


def _accounts(items: list[str] | None) -> frozenset[str] | None:
    """Normalise ``accounts``; ``None`` means every sender number."""
    if not items or "all" in items:
        return None
    return frozenset(items)


def read_request(raw: bytes, *, year_limit: bool = True) -> Query:
    """Decode and validate a statistics request body.

    Args:
        raw: The request body.
        year_limit: Whether a span over 365 days is refused.

    Returns:
        The valid request, with its filter normalised.

    Raises:
        RequestError: The body cannot be decoded (3001) or breaks a rule (3002).
    """
    start, end, fields = _decode(raw)
    _check_range(start, end, year_limit=year_limit)
    raw_filter = RawFilter(
        type_ids=_type_ids(fields.get("campaign_type_ids")),
        statuses=_statuses(fields.get("statuses")),
        tags=_tags(fields.get("tags")),
        accounts=_accounts(fields.get("accounts")),
        show_architect=fields.get("show_architect", False),
    )
    return Query(start_time=start, end_time=end, filter=raw_filter)

"""What a request says: the campaign filter, the time bounds, the API's rules.

Everything here is pure: the rules run before any request is sent, with the
API's own messages, so that a request the API would refuse never leaves.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from datetime import date, datetime, time, timezone
from typing import Literal

import msgspec

from ._errors import RequestValidationError

__all__ = [
    "STATUSES",
    "CampaignFilter",
    "CampaignType",
    "TimeBound",
    "to_unix_seconds",
    "validate_range",
]

MIN_TIMESTAMP = 1_000_000_000
MAX_TIMESTAMP = 9_999_999_999
ONE_YEAR = 365 * 86_400
DAY = 86_400

STATUSES = frozenset(
    {"all", "active", "test", "passive", "completed", "failed"}
    | {"scheduled", "draft", "stop"}
)
_STATUS_ORDER = "all, active, test, passive, completed, failed, scheduled, draft, stop"
_TYPE_ORDER = "all, 1, 2, 3, 5, 6"

TimeBound = int | datetime | date
"""A bound of a range: Unix seconds, an aware ``datetime`` or a ``date``."""


class CampaignType(enum.IntEnum):
    """Campaign types the filter accepts (there is no type 4)."""

    STANDARD = 1
    AB_TEST = 2
    SPLIT = 3
    TRANSACTIONAL = 5
    OTHER = 6


_TYPE_IDS = frozenset(int(t) for t in CampaignType)
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def _invalid(message: str) -> RequestValidationError:
    return RequestValidationError("validation failed", code="3002", errors=message)


def _as_tuple(name: str, value: object) -> tuple[object, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a list or tuple, not {type(value).__name__}")
    return tuple(value)


class CampaignFilter(
    msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True, gc=False
):
    """Which campaigns to count; every field is optional.

    A field left as None, or given as an empty sequence, does not filter. The
    value ``"all"`` in a sequence also means no filtering on that field.
    Values are checked when the filter is made, with the API's messages.

    Attributes:
        campaign_type_ids: ``"all"`` or :class:`CampaignType` values (ints).
        statuses: Any of ``all, active, test, passive, completed, failed,
            scheduled, draft, stop``.
        accounts: Sender phone numbers in E.164 form (``"+905..."``); any
            other text is refused, as it could only match nothing.
        tags: Tag ids (int) and tag names (str), mixed as needed; a campaign
            matches when it carries any of them.
        show_architect: Include campaigns made by Architect journeys (the API
            leaves them out by default).

    Raises:
        RequestValidationError: A value the API would refuse.
        TypeError: A field that is not a sequence, or a status, account or
            show_architect of the wrong type.
    """

    campaign_type_ids: tuple[Literal["all"] | int, ...] | None = None
    statuses: tuple[str, ...] | None = None
    accounts: tuple[str, ...] | None = None
    tags: tuple[int | str, ...] | None = None
    show_architect: bool | None = None

    def __post_init__(self) -> None:
        for name in ("campaign_type_ids", "statuses", "accounts", "tags"):
            value = _as_tuple(name, getattr(self, name))
            msgspec.structs.force_setattr(self, name, value or None)
        self._check_types()
        self._check_statuses()
        self._check_tags()
        self._check_accounts()
        if self.show_architect is not None and not isinstance(
            self.show_architect, bool
        ):
            raise TypeError("show_architect must be a bool")
        # Once here, since the filter is frozen: no call has to encode it twice.
        try:
            msgspec.json.encode(self)
        except (UnicodeError, msgspec.EncodeError, OverflowError) as exc:
            raise RequestValidationError(
                "validation failed",
                code="3002",
                errors="campaign_filter holds a value that cannot be sent as JSON",
            ) from exc

    def _check_types(self) -> None:
        for value in self.campaign_type_ids or ():
            if value == "all" and isinstance(value, str):
                continue
            valid = isinstance(value, int) and not isinstance(value, bool)
            if not (valid and value in _TYPE_IDS):
                raise _invalid(
                    f"invalid campaign_type_id: {value}, "
                    f"allowed values are: {_TYPE_ORDER}"
                )
        if self.campaign_type_ids:
            ids = tuple(
                v if isinstance(v, str) else int(v) for v in self.campaign_type_ids
            )
            msgspec.structs.force_setattr(self, "campaign_type_ids", ids)

    def _check_statuses(self) -> None:
        for value in self.statuses or ():
            if not isinstance(value, str):
                raise TypeError(f"statuses must hold str, not {type(value).__name__}")
            if value not in STATUSES:
                raise _invalid(
                    f"invalid status: {value}, allowed values are: {_STATUS_ORDER}"
                )
        if self.statuses:
            plain = tuple(str(value) for value in self.statuses)
            msgspec.structs.force_setattr(self, "statuses", plain)

    def _check_tags(self) -> None:
        for index, value in enumerate(self.tags or ()):
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise _invalid(f"tag at index {index} must be a string or integer")
        if self.tags:
            # Plain int and str, so that subclasses encode like their bases.
            plain = tuple(int(v) if isinstance(v, int) else str(v) for v in self.tags)
            msgspec.structs.force_setattr(self, "tags", plain)

    def _check_accounts(self) -> None:
        for index, value in enumerate(self.accounts or ()):
            if not isinstance(value, str):
                raise TypeError(f"accounts must hold str, not {type(value).__name__}")
            if value != "all" and not _E164.fullmatch(value):
                # The API would match nothing and answer with zeros.
                raise _invalid(
                    f"account at index {index} must be a phone number in E.164 "
                    f"form such as +905551112233, not {value!r}"
                )
        if self.accounts:
            plain = tuple(str(value) for value in self.accounts)
            msgspec.structs.force_setattr(self, "accounts", plain)


def to_unix_seconds(value: TimeBound, *, end: bool) -> int:
    """Convert a range bound to Unix seconds.

    A ``date`` stands for its whole UTC day: 00:00:00 as a start, 23:59:59 as
    an end. A ``datetime`` must be timezone-aware; sub-second parts are cut.

    Raises:
        RequestValidationError: A naive ``datetime``.
        TypeError: Any other type (``bool`` and ``float`` included).
    """
    if isinstance(value, bool):
        raise TypeError("a range bound must be int, datetime or date, not bool")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, datetime):
        which = "end" if end else "start"
        try:
            offset = value.utcoffset()
            if offset is not None:
                return int(value.timestamp() // 1)
        except (ValueError, OverflowError) as exc:
            raise _invalid(
                f"{which} has a time zone that gives no time: {exc}"
            ) from exc
        raise _invalid(f"{which} must be a timezone-aware datetime, not naive")
    if isinstance(value, date):
        moment = time(23, 59, 59) if end else time(0, 0, 0)
        aware = datetime.combine(value, moment, tzinfo=timezone.utc)
        return int(aware.timestamp())
    raise TypeError(
        f"a range bound must be int, datetime or date, not {type(value).__name__}"
    )


def validate_range(start_time: int, end_time: int) -> None:
    """Check a range by the API's rules, in the API's order (the year limit aside).

    Raises:
        RequestValidationError: With the API's own message.
    """
    # The API reads a zero as a missing field.
    if start_time == 0:
        raise _invalid("start_time is required")
    if end_time == 0:
        raise _invalid("end_time is required")
    if not MIN_TIMESTAMP <= start_time <= MAX_TIMESTAMP:
        raise _invalid("start_time must be a 10-digit unix timestamp")
    if not MIN_TIMESTAMP <= end_time <= MAX_TIMESTAMP:
        raise _invalid("end_time must be a 10-digit unix timestamp")
    if end_time <= start_time:
        raise _invalid("end_time must be greater than start_time")

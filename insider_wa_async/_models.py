"""Response models of ``statistics/overall``, as msgspec Structs.

Attributes are snake_case; on the wire they are the API's camelCase, so
``msgspec.json.encode(result)`` gives back the API's own JSON shape. Unknown
fields are ignored and a missing counter decodes as 0, as the API may grow.

The Structs are mutable so that merging can add in place, and they are
created with ``gc=False``: they never form reference cycles, and leaving them
out of the cyclic collector makes large results faster to decode and to hold.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "ButtonStats",
    "CampaignDetail",
    "Chart",
    "DropDetails",
    "OverallStatistics",
    "ResponseSummary",
    "Summary",
    "Tag",
    "UndeliveredDetails",
]


class _Model(msgspec.Struct, rename="camel", gc=False, repr_omit_defaults=True):
    """Base of every response model: camelCase on the wire, untracked by gc."""


class DropDetails(_Model):
    """Why messages were dropped before sending; the parts add up to ``drop``."""

    frequency_capped: int = 0
    duplicates: int = 0
    invalid_phone_numbers: int = 0
    tier_limitation: int = 0
    template_failures: int = 0
    paused_templates: int = 0
    recipient_related_errors: int = 0
    meta_temporary_errors: int = 0
    account_integration_errors: int = 0
    internal_errors: int = 0
    rate_limits: int = 0
    policy_failures: int = 0


class UndeliveredDetails(_Model):
    """Why sent messages were not delivered; the parts add up to ``undelivered``."""

    recipient_related_errors: int = 0
    account_verification_errors: int = 0
    media_errors: int = 0
    held_messages: int = 0
    meta_experiment: int = 0
    meta_errors: int = 0
    invalid_messages: int = 0
    meta_recipient_limits_errors: int = 0
    delivery_report_missing: int = 0


class Chart(_Model):
    """Daily time series: one entry per covered UTC day, in ascending order.

    ``dates`` are ``YYYY-MM-DD`` strings and ``dates_as_timestamp`` the Unix
    seconds of each day's 00:00:00 UTC; every series has one value per day.
    """

    dates: list[str] = msgspec.field(default_factory=list)
    dates_as_timestamp: list[int] = msgspec.field(default_factory=list)
    sent: list[int] = msgspec.field(default_factory=list)
    delivered: list[int] = msgspec.field(default_factory=list)
    open: list[int] = msgspec.field(default_factory=list)
    click: list[int] = msgspec.field(default_factory=list)
    conversion: list[int] = msgspec.field(default_factory=list)
    verified: list[int] = msgspec.field(default_factory=list)
    responses: list[int] = msgspec.field(default_factory=list)
    click_from_responses: list[int] = msgspec.field(default_factory=list)
    conversion_from_responses: list[int] = msgspec.field(default_factory=list)


class Summary(_Model):
    """Totals over the whole range, with both failure breakdowns.

    ``targeted = sent + drop`` and ``sent = delivered + undelivered +
    delivery_pending``. ``revenue`` is a float; every other counter an int.
    """

    sent: int = 0
    delivered: int = 0
    open: int = 0
    click: int = 0
    conversion: int = 0
    revenue: float = 0.0
    drop: int = 0
    targeted: int = 0
    unsubscribe: int = 0
    undelivered: int = 0
    delivery_pending: int = 0
    drop_details: DropDetails = msgspec.field(default_factory=DropDetails)
    undelivered_details: UndeliveredDetails = msgspec.field(
        default_factory=UndeliveredDetails
    )


class Tag(_Model):
    """A campaign tag."""

    id: int = 0
    name: str = ""


class ButtonStats(_Model):
    """Counters of one button (card) of a conversational campaign."""

    card_id: int = 0
    button_name: str = ""
    sent: int = 0
    delivered: int = 0
    open: int = 0
    click: int = 0
    conversion: int = 0
    revenue: float = 0.0
    is_no_reply_message: bool = False


class ResponseSummary(_Model):
    """Totals of the responses to a conversational campaign."""

    sent: int = 0
    open: int = 0
    click: int = 0
    conversion: int = 0
    button_click: int = 0


class CampaignDetail(Summary):
    """One campaign's counters over the range, with what describes it now.

    ``status``, the names, ``tags`` and the phone fields describe the campaign
    as it is now, not as it was in the range. ``campaign_last_delivery_date``
    is the start of the last covered day with a delivery, or 0 when none.
    ``responses`` and ``response_summary`` are present only for
    conversational campaigns; elsewhere they are ``msgspec.UNSET`` (falsy)
    and left out when encoding.
    """

    id: int = 0
    status: str = ""
    camp_name: str = ""
    is_conversational: bool = False
    campaign_type: str = ""
    starts_on: int = 0
    ends_on: int = 0
    campaign_last_delivery_date: int = 0
    tags: list[Tag] = msgspec.field(default_factory=list)
    phone_number: str = ""
    phone_number_name: str = ""
    responses: list[ButtonStats] | UnsetType = UNSET
    response_summary: ResponseSummary | UnsetType = UNSET


class OverallStatistics(_Model):
    """The answer of ``statistics/overall``: chart, summary and per-campaign details.

    The order of ``details`` carries no meaning.
    """

    chart: Chart = msgspec.field(default_factory=Chart)
    summary: Summary = msgspec.field(default_factory=Summary)
    details: list[CampaignDetail] = msgspec.field(default_factory=list)

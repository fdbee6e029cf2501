"""Build the sandbox's deterministic campaign data set.

The data set is made once per seed and then only read. Each campaign keeps one
counter vector per UTC day of its active period plus running (prefix) sums of
those vectors, so the totals of any run of days cost one subtraction per counter.

Vector layout (see the ``*_SLICE`` and ``IDX_*`` constants): the base counters, the
drop details, the undelivered details, the chart-only series, the response summary
and then six counters per button. Revenue is stored in quarters (an integer), so it
sums exactly and converts to a float with a division by four.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from itertools import accumulate

DAY = 86_400
FIRST_DAY = 17_897  # 2019-01-01 as days since the Unix epoch
LAST_DAY = 20_818  # 2026-12-31

CAMPAIGN_TYPES: dict[int, str] = {
    1: "standard",
    2: "ab_test",
    3: "split",
    5: "transactional",
    6: "other",
}
STATUSES = (
    "active",
    "test",
    "passive",
    "completed",
    "failed",
    "scheduled",
    "draft",
    "stop",
)

BASE_KEYS = (
    "sent",
    "delivered",
    "open",
    "click",
    "conversion",
    "revenue",
    "drop",
    "targeted",
    "unsubscribe",
    "undelivered",
    "deliveryPending",
)
DROP_KEYS = (
    "frequencyCapped",
    "duplicates",
    "invalidPhoneNumbers",
    "tierLimitation",
    "templateFailures",
    "pausedTemplates",
    "recipientRelatedErrors",
    "metaTemporaryErrors",
    "accountIntegrationErrors",
    "internalErrors",
    "rateLimits",
    "policyFailures",
)
UNDELIVERED_KEYS = (
    "recipientRelatedErrors",
    "accountVerificationErrors",
    "mediaErrors",
    "heldMessages",
    "metaExperiment",
    "metaErrors",
    "invalidMessages",
    "metaRecipientLimitsErrors",
    "deliveryReportMissing",
)
CHART_EXTRA_KEYS = (
    "verified",
    "responses",
    "clickFromResponses",
    "conversionFromResponses",
)
RESPONSE_SUMMARY_KEYS = ("sent", "open", "click", "conversion", "buttonClick")
BUTTON_KEYS = ("sent", "delivered", "open", "click", "conversion", "revenue")

DROP_SLICE = slice(len(BASE_KEYS), len(BASE_KEYS) + len(DROP_KEYS))
UNDELIVERED_SLICE = slice(DROP_SLICE.stop, DROP_SLICE.stop + len(UNDELIVERED_KEYS))
CHART_EXTRA_SLICE = slice(
    UNDELIVERED_SLICE.stop, UNDELIVERED_SLICE.stop + len(CHART_EXTRA_KEYS)
)
RESPONSE_SUMMARY_SLICE = slice(
    CHART_EXTRA_SLICE.stop, CHART_EXTRA_SLICE.stop + len(RESPONSE_SUMMARY_KEYS)
)
BUTTONS_START = RESPONSE_SUMMARY_SLICE.stop
IDX_REVENUE = BASE_KEYS.index("revenue")
IDX_TARGETED = BASE_KEYS.index("targeted")
IDX_DELIVERED = BASE_KEYS.index("delivered")

# Vector indices of the chart series, in the order of CHART_KEYS.
CHART_KEYS = (
    "sent",
    "delivered",
    "open",
    "click",
    "conversion",
    *CHART_EXTRA_KEYS,
)
CHART_INDICES = (0, 1, 2, 3, 4, *range(CHART_EXTRA_SLICE.start, CHART_EXTRA_SLICE.stop))

TAG_NAMES = (
    "promo",
    "newsletter",
    "black-friday",
    "vip",
    "cart-reminder",
    "welcome",
    "loyalty",
    "flash-sale",
    "winback",
    "seasonal",
    "onboarding",
    "survey",
)
PHONES = (
    ("+905321000101", "Main Number"),
    ("+905321000202", "Support Line"),
    ("+905321000303", "Promotions"),
    ("+905321000404", "Transactional"),
    ("+905321000505", "Backup Sender"),
)
BUTTON_NAMES = (
    "Yes, I'm interested",
    "No, thanks",
    "Tell me more",
    "Talk to an agent",
    "Remind me later",
)
_NAME_WORDS = ("Spring", "Summer", "Autumn", "Winter", "Weekend", "Holiday", "Daily")
_NAME_NOUNS = ("Sale", "Reminder", "Update", "Offer", "Digest", "Launch", "Survey")

CAMPAIGN_COUNT = 400


@dataclass(frozen=True, slots=True)
class Button:
    """Describe one card button of a conversational campaign."""

    card_id: int
    name: str
    no_reply: bool


@dataclass(frozen=True, slots=True)
class Campaign:
    """Hold one campaign's attributes and its per-day counters.

    ``days[i]`` is the counter vector of UTC day ``first_day + i``; ``prefix[i]`` is
    the sum of ``days[:i]``, so ``prefix`` has one more entry than ``days``.
    """

    id: int
    name: str
    status: str
    type_id: int
    conversational: bool
    architect: bool
    tags: tuple[tuple[int, str], ...]
    tag_ids: frozenset[int]
    phone: str
    phone_name: str
    starts_on: int
    ends_on: int
    first_day: int
    buttons: tuple[Button, ...]
    days: tuple[tuple[int, ...], ...]
    prefix: tuple[tuple[int, ...], ...]
    delivery_days: tuple[int, ...]

    @property
    def last_day(self) -> int:
        """Return the last UTC day (days since the epoch) of the active period."""
        return self.first_day + len(self.days) - 1


@dataclass(frozen=True, slots=True)
class Dataset:
    """Hold the whole sandbox data set: the catalogs and every campaign."""

    seed: int
    tags: dict[int, str]
    phones: tuple[tuple[str, str], ...]
    campaigns: tuple[Campaign, ...]

    tag_ids_by_name: dict[str, int]


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` non-negative integers, some of them zero."""
    weights = [rng.random() if rng.random() < 0.6 else 0.0 for _ in range(parts)]
    weight_sum = sum(weights)
    if weight_sum == 0.0:
        weights[0] = weight_sum = 1.0
    shares = [int(total * w / weight_sum) for w in weights]
    shares[weights.index(max(weights))] += total - sum(shares)
    return shares


def _button_counters(rng: random.Random, sent: int) -> list[int]:
    """Make one button's day counters from the responses it sent."""
    delivered = sent - rng.randint(0, sent // 20)
    opened = int(delivered * rng.uniform(0.3, 0.9))
    click = int(opened * rng.uniform(0.1, 0.5))
    conversion = int(click * rng.uniform(0.0, 0.4))
    return [
        sent,
        delivered,
        opened,
        click,
        conversion,
        rng.randint(0, conversion * 400),
    ]


def _conversational_counters(
    rng: random.Random, delivered: int, buttons: int
) -> list[int]:
    """Make the response summary and the button counters of one day."""
    answered = int(delivered * rng.uniform(0.05, 0.4))
    per_button = [
        _button_counters(rng, sent) for sent in _split(rng, answered, buttons)
    ]
    summary = [
        sum(b[0] for b in per_button),
        sum(b[2] for b in per_button),
        sum(b[3] for b in per_button),
        sum(b[4] for b in per_button),
        answered - rng.randint(0, answered // 10),
    ]
    return summary + [value for counters in per_button for value in counters]


def _day_vector(rng: random.Random, scale: int, buttons: int) -> tuple[int, ...]:
    """Make one active day's counter vector that obeys the response identities."""
    targeted = rng.randint(scale // 4 + 1, scale)
    drops = _split(rng, int(targeted * rng.uniform(0.0, 0.08)), len(DROP_KEYS))
    sent = targeted - sum(drops)
    failures = _split(rng, int(sent * rng.uniform(0.0, 0.06)), len(UNDELIVERED_KEYS))
    pending = rng.randint(0, sent // 100)
    delivered = sent - sum(failures) - pending
    opened = int(delivered * rng.uniform(0.2, 0.7))
    click = int(opened * rng.uniform(0.05, 0.4))
    conversion = int(click * rng.uniform(0.0, 0.3))
    revenue = rng.randint(0, conversion * 800)
    unsubscribe = rng.randint(0, delivered // 200)
    base = [sent, delivered, opened, click, conversion, revenue, sum(drops), targeted]
    base += [unsubscribe, sum(failures), pending]
    verified = rng.randint(0, delivered // 20)
    if not buttons:
        rest = [verified, 0, 0, 0] + [0] * len(RESPONSE_SUMMARY_KEYS)
        return tuple(base + drops + failures + rest)
    conv = _conversational_counters(rng, delivered, buttons)
    extra = [verified, conv[0], conv[2], conv[3]]
    return tuple(base + drops + failures + extra + conv)


def _campaign_days(
    rng: random.Random, first_day: int, length: int, buttons: int, quiet: set[int]
) -> list[tuple[int, ...]]:
    """Make the day vectors of one campaign, leaving pauses and quiet days empty."""
    width = BUTTONS_START + len(BUTTON_KEYS) * buttons
    zero = (0,) * width
    scale = rng.choice((200, 1_000, 5_000, 20_000))
    days = []
    for day in range(first_day, first_day + length):
        idle = day in quiet or rng.random() < 0.12
        days.append(zero if idle else _day_vector(rng, scale, buttons))
    return days


def _make_buttons(rng: random.Random, conversational: bool) -> tuple[Button, ...]:
    """Make two to four card buttons; only conversational campaigns keep them."""
    names = rng.sample(BUTTON_NAMES, rng.randint(2, 4))
    buttons = tuple(
        Button(card_id=card + 1, name=name, no_reply=rng.random() < 0.2)
        for card, name in enumerate(names)
    )
    return buttons if conversational else ()


def _make_campaign(
    rng: random.Random, index: int, type_id: int, status: str, quiet: set[int]
) -> Campaign:
    """Make one campaign with its attributes and counters."""
    length = rng.randint(1, 60)
    first_day = rng.randint(FIRST_DAY, LAST_DAY - length + 1)
    conversational = rng.random() < 0.2
    buttons = _make_buttons(rng, conversational)
    tag_ids = sorted(rng.sample(range(1, len(TAG_NAMES) + 1), rng.randint(0, 3)))
    phone, phone_name = rng.choice(PHONES)
    days = _campaign_days(rng, first_day, length, len(buttons), quiet)
    prefix = list(accumulate(days, lambda a, b: tuple(map(int.__add__, a, b))))
    width = len(days[0])
    return Campaign(
        id=100_000 + index * 13 + rng.randint(0, 12),
        name=f"{rng.choice(_NAME_WORDS)} {rng.choice(_NAME_NOUNS)} {index + 1}",
        status=status,
        type_id=type_id,
        conversational=conversational,
        architect=rng.random() < 0.1,
        tags=tuple((tag_id, TAG_NAMES[tag_id - 1]) for tag_id in tag_ids),
        tag_ids=frozenset(tag_ids),
        phone=phone,
        phone_name=phone_name,
        starts_on=first_day * DAY + rng.randint(0, 23) * 3_600,
        ends_on=(first_day + length - 1) * DAY + rng.randint(0, 23) * 3_600,
        first_day=first_day,
        buttons=buttons,
        days=tuple(days),
        prefix=((0,) * width, *prefix),
        delivery_days=tuple(
            first_day + i for i, vec in enumerate(days) if vec[IDX_DELIVERED] > 0
        ),
    )


@functools.lru_cache(maxsize=4)
def build_dataset(seed: int) -> Dataset:
    """Build the data set for ``seed``; equal seeds give equal data sets.

    Args:
        seed: The seed of the pseudo-random generator.

    Returns:
        The data set, shared between callers (it is never modified).
    """
    rng = random.Random(seed)
    all_days = range(FIRST_DAY, LAST_DAY + 1)
    quiet = set(rng.sample(all_days, len(all_days) // 12))
    type_ids = [
        list(CAMPAIGN_TYPES)[i % len(CAMPAIGN_TYPES)] for i in range(CAMPAIGN_COUNT)
    ]
    statuses = [STATUSES[i % len(STATUSES)] for i in range(CAMPAIGN_COUNT)]
    rng.shuffle(type_ids)
    rng.shuffle(statuses)
    campaigns = tuple(
        _make_campaign(rng, i, type_ids[i], statuses[i], quiet)
        for i in range(CAMPAIGN_COUNT)
    )
    tags = {i + 1: name for i, name in enumerate(TAG_NAMES)}
    return Dataset(
        seed=seed,
        tags=tags,
        tag_ids_by_name={name: tag_id for tag_id, name in tags.items()},
        phones=PHONES,
        campaigns=campaigns,
    )

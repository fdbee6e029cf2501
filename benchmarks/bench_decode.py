"""Measure decoding a ``statistics/overall`` body, against the usual alternatives.

What is measured: the time of ``insider_wa_async._decode.decode_statistics(body)``
(the product: msgspec Structs plus its shape checks) on bytes as they come off
the socket. Bodies are generated deterministically: 365 chart days and N = 100,
1,000 and 10,000 campaigns, a quarter of them conversational with three buttons,
with tags and both failure breakdowns (about 1.1 KB a campaign).

Against what, in the same run and interleaved: ``json.loads`` to dicts;
``orjson.loads`` to dicts; pydantic v2 models of the same schema
(``model_validate_json``); ``json.loads`` then slotted dataclasses; msgspec to
untyped dicts; and msgspec Structs in every configuration that reads the same
JSON (default ``gc=True``; ``gc=False``; frozen; frozen with ``cache_hash``;
camelCase attribute names instead of ``rename``; required fields instead of
defaults; and the product's own models through a bare decoder). The fastest of
the Struct configurations is the bar the product must keep within 5 % of.

Targets at N >= 1,000: at least 3x as fast as ``json.loads``, 2x ``orjson`` and
6x pydantic, and at least 0.95x the speed of the fastest msgspec configuration.
The ratio column is the alternative's time over the product's (median of the
per-round ratios). Prints a table per N and writes
``benchmarks/results/decode.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pydantic
from pydantic.alias_generators import to_camel

# The repository root, after site-packages: `benchmarks._common` comes from the
# checkout, `insider_wa_async` from the installed package when there is one.
sys.path.append(str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    Row,
    interleave,
    make_body,
    paired_ratio,
    print_table,
    row,
    write_results,
)
from insider_wa_async import _models
from insider_wa_async._decode import decode_statistics

PRODUCT = "product decode_statistics"
SIZES = (100, 1_000, 10_000)
TARGETS = {"json.loads": 3.0, "orjson.loads": 2.0, "pydantic v2": 6.0}
FASTEST_TARGET = 0.95


# ----------------------------------------------------------------------------
# pydantic v2 models of the same schema


class _P(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(alias_generator=to_camel, populate_by_name=True)


class PDropDetails(_P):
    """Drop breakdown."""

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


class PUndeliveredDetails(_P):
    """Undelivered breakdown."""

    recipient_related_errors: int = 0
    account_verification_errors: int = 0
    media_errors: int = 0
    held_messages: int = 0
    meta_experiment: int = 0
    meta_errors: int = 0
    invalid_messages: int = 0
    meta_recipient_limits_errors: int = 0
    delivery_report_missing: int = 0


class PChart(_P):
    """Daily series."""

    dates: list[str] = []
    dates_as_timestamp: list[int] = []
    sent: list[int] = []
    delivered: list[int] = []
    open: list[int] = []
    click: list[int] = []
    conversion: list[int] = []
    verified: list[int] = []
    responses: list[int] = []
    click_from_responses: list[int] = []
    conversion_from_responses: list[int] = []


class PSummary(_P):
    """Totals."""

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
    drop_details: PDropDetails = PDropDetails()
    undelivered_details: PUndeliveredDetails = PUndeliveredDetails()


class PTag(_P):
    """A tag."""

    id: int = 0
    name: str = ""


class PButtonStats(_P):
    """One button."""

    card_id: int = 0
    button_name: str = ""
    sent: int = 0
    delivered: int = 0
    open: int = 0
    click: int = 0
    conversion: int = 0
    revenue: float = 0.0
    is_no_reply_message: bool = False


class PResponseSummary(_P):
    """Response totals."""

    sent: int = 0
    open: int = 0
    click: int = 0
    conversion: int = 0
    button_click: int = 0


class PCampaignDetail(PSummary):
    """One campaign."""

    id: int = 0
    status: str = ""
    camp_name: str = ""
    is_conversational: bool = False
    campaign_type: str = ""
    starts_on: int = 0
    ends_on: int = 0
    campaign_last_delivery_date: int = 0
    tags: list[PTag] = []
    phone_number: str = ""
    phone_number_name: str = ""
    responses: list[PButtonStats] | None = None
    response_summary: PResponseSummary | None = None


class POverallStatistics(_P):
    """The whole answer."""

    chart: PChart = PChart()
    summary: PSummary = PSummary()
    details: list[PCampaignDetail] = []


# ----------------------------------------------------------------------------
# json.loads + dataclasses, built from the product's field lists


def _dataclass_family() -> Callable[[bytes], Any]:
    """Build slotted dataclasses mirroring the models, and a converter."""
    made: dict[type, tuple[type, Callable[[Any], Any]]] = {}

    def build(cls: type[msgspec.Struct]) -> Callable[[Any], Any]:
        if cls in made:
            return made[cls][1]
        specs, nested = [], {}
        for f in msgspec.structs.fields(cls):
            specs.append((f.name, Any, dataclasses.field(default=None)))
            inner = _struct_in(f.type)
            if inner is not None:
                convert = build(inner)
                listed = typing.get_origin(_strip_unset(f.type)) is list
                nested[f.name] = _listed(convert) if listed else convert
        data_cls = dataclasses.make_dataclass("D" + cls.__name__, specs, slots=True)
        names = {f.encode_name: f.name for f in msgspec.structs.fields(cls)}
        convert = _converter(data_cls, names, nested)
        made[cls] = (data_cls, convert)
        return convert

    top = build(_models.OverallStatistics)
    return lambda body: top(json.loads(body))


def _converter(
    cls: type, names: dict[str, str], nested: dict[str, Callable[[Any], Any]]
) -> Callable[[Any], Any]:
    def convert(data: dict[str, Any]) -> Any:
        kwargs = {}
        for key, value in data.items():
            name = names.get(key)
            if name is None:
                continue
            inner = nested.get(name)
            kwargs[name] = value if inner is None else inner(value)
        return cls(**kwargs)

    return convert


def _listed(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda items: [convert(item) for item in items]


def _strip_unset(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not msgspec.UnsetType]
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return tp


def _struct_in(tp: Any) -> type[msgspec.Struct] | None:
    tp = _strip_unset(tp)
    if typing.get_origin(tp) is list:
        tp = typing.get_args(tp)[0]
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    return None


# ----------------------------------------------------------------------------
# msgspec Struct configurations that read the same JSON


def struct_family(
    *, camel_names: bool = False, required: bool = False, **options: Any
) -> type[msgspec.Struct]:
    """Rebuild the product's models with other Struct options; return the root."""
    made: dict[type, type[msgspec.Struct]] = {}

    def convert(tp: Any) -> Any:
        if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            return build(tp)
        args = typing.get_args(tp)
        if typing.get_origin(tp) is list:
            return list[convert(args[0])]  # type: ignore[misc]
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            return typing.Union[tuple(convert(a) for a in args)]  # noqa: UP007
        return tp

    def build(cls: type[msgspec.Struct]) -> type[msgspec.Struct]:
        if cls not in made:
            made[cls] = msgspec.defstruct(
                cls.__name__,
                [_field_spec(f, convert, camel_names, required) for f in _fields(cls)],
                rename=None if camel_names else "camel",
                **options,
            )
        return made[cls]

    return build(_models.OverallStatistics)


def _fields(cls: type[msgspec.Struct]) -> tuple[msgspec.structs.FieldInfo, ...]:
    return msgspec.structs.fields(cls)


def _field_spec(
    f: msgspec.structs.FieldInfo,
    convert: Callable[[Any], Any],
    camel_names: bool,
    required: bool,
) -> tuple[Any, ...]:
    name = f.encode_name if camel_names else f.name
    tp = convert(f.type)
    if required and f.default is not msgspec.UNSET:
        return (name, tp)
    if f.default_factory is not msgspec.NODEFAULT:
        return (name, tp, msgspec.field(default_factory=convert(f.default_factory)))
    return (name, tp, f.default)


def msgspec_configurations() -> dict[str, Callable[[bytes], Any]]:
    """Return decoders of every Struct configuration tried, by name."""
    configs: dict[str, Any] = {
        "msgspec gc=True (default)": struct_family(),
        "msgspec gc=False": struct_family(gc=False),
        "msgspec gc=False frozen": struct_family(gc=False, frozen=True),
        "msgspec gc=False frozen cache_hash": struct_family(
            gc=False, frozen=True, cache_hash=True
        ),
        "msgspec gc=False camelCase names": struct_family(gc=False, camel_names=True),
        "msgspec gc=False required fields": struct_family(gc=False, required=True),
        "msgspec product models, bare": _models.OverallStatistics,
    }
    return {name: msgspec.json.Decoder(cls).decode for name, cls in configs.items()}


def alternatives() -> dict[str, Callable[[bytes], Any]]:
    """Return the non-msgspec decoders, by name."""
    return {
        "json.loads": json.loads,
        "orjson.loads": orjson.loads,
        "pydantic v2": POverallStatistics.model_validate_json,
        "json.loads + dataclasses": _dataclass_family(),
        "msgspec untyped": msgspec.json.Decoder().decode,
    }


def check_equivalent(body: bytes) -> None:
    """Fail loudly if a candidate reads the body differently from the product."""
    expected = msgspec.to_builtins(decode_statistics(body))
    for name, decode in msgspec_configurations().items():
        got = msgspec.to_builtins(decode(body))
        assert got == expected, f"{name} decodes differently"
    assert POverallStatistics.model_validate_json(body).model_dump(
        by_alias=True, exclude_none=True
    ) == json.loads(msgspec.json.encode(expected))


def measure(campaigns: int, rounds: int) -> list[Row]:
    """Time every candidate on one body size; return the table's rows."""
    body = make_body(campaigns)
    variants = msgspec_configurations()
    candidates = {
        PRODUCT: lambda: decode_statistics(body),
        **{name: _bind(f, body) for name, f in {**alternatives(), **variants}.items()},
    }
    repeat = max(2, 20_000 // campaigns)
    times = interleave(candidates, rounds=rounds, repeat=repeat)
    gated = campaigns >= 1_000
    mine = times[PRODUCT]
    rows = [row(PRODUCT, mine, ratio=1.0)]
    for name in candidates:
        if name == PRODUCT:
            continue
        target = f">= {TARGETS[name]}x" if gated and name in TARGETS else ""
        rows.append(
            row(name, times[name], ratio=paired_ratio(times[name], mine), target=target)
        )
    fastest = min(variants, key=lambda n: sorted(times[n])[len(times[n]) // 2])
    ratio = paired_ratio(times[fastest], mine)
    target = f">= {FASTEST_TARGET}x" if gated else ""
    rows.append(
        row(
            f"fastest msgspec: {fastest[8:]}",
            times[fastest],
            ratio=ratio,
            target=target,
        )
    )
    print_table(
        f"decode, 365 days, N = {campaigns:,} ({len(body) / 1e6:.2f} MB), "
        f"{rounds} rounds x {repeat}",
        rows,
    )
    return rows


def _bind(decode: Callable[[bytes], Any], body: bytes) -> Callable[[], Any]:
    return lambda: decode(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=9)
    options = parser.parse_args(argv)
    check_equivalent(make_body(200))
    tables = {f"N={n}": measure(n, options.rounds) for n in SIZES}
    passed = write_results("decode", tables, rounds=options.rounds)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

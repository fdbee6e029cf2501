"""No credential ever shows: repr, messages, pickles, DEBUG logs, command output."""

from __future__ import annotations

import logging
import pickle
import traceback
from typing import Any

import pytest

import insider_wa_async._errors as errors_module
from insider_wa_async import InsiderWAClient, InsiderWAError
from insider_wa_async.cli import main
from insider_wa_async.sandbox import FaultPlan, Sandbox

from .conftest import DAY, FAST_RETRY, MAR_1_2025, Canned, threaded_sandbox

TOKEN = "tok-5ecret-a1b2c3"
CLIENT_SECRET = "cs-5ecret-d4e5f6"
API_KEY = "ak-5ecret-g7h8i9"
WRONG = "wrong-5ecret-j0k1"
ISSUED = "sbx-"  # every token the sandbox issues starts so
SECRETS = (TOKEN, CLIENT_SECRET, API_KEY, WRONG, ISSUED, "5ecret")
START, END = MAR_1_2025, MAR_1_2025 + 2 * DAY - 1
FAULTS = ("500", "429_retry_after", "reset", "truncate", "html_502")


def with_secrets(sb: Sandbox) -> Sandbox:
    """Give a sandbox this module's secret credentials."""
    sb.token = TOKEN
    sb.client_secret = CLIENT_SECRET
    sb.api_key = API_KEY
    return sb


def credentials(sb: Sandbox) -> list[dict[str, str]]:
    """Return one option set per credential kind, right and wrong."""
    return [
        {"token": TOKEN},
        {"client_id": sb.client_id, "client_secret": CLIENT_SECRET},
        {"api_key": API_KEY},
        {"token": WRONG},
        {"client_id": sb.client_id, "client_secret": WRONG},
        {"api_key": WRONG},
    ]


def describe(error: BaseException) -> str:
    """Return every text an error shows: str, repr, traceback and its pickle."""
    parts = [str(error), repr(error), *traceback.format_exception(error)]
    parts.append(pickle.dumps(error).decode("latin-1"))
    return "\n".join(parts)


def assert_clean(text: str) -> None:
    """Fail if any secret occurs in ``text``."""
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked"


async def run_everything(sb: Sandbox, shown: list[str]) -> None:
    """Call with every credential kind through faults and 401s, keeping all text."""
    for options in credentials(sb):
        sb.faults = FaultPlan(sequence=FAULTS, retry_after="0")
        client = InsiderWAClient(
            base_url=sb.url, retry=FAST_RETRY, max_retries=len(FAULTS), **options
        )
        shown += [repr(client), str(client)]
        async with client:
            try:
                result = await client.overall_statistics(START, END)
                shown.append(repr(result)[:200])
            except InsiderWAError as exc:
                shown.append(describe(exc))
        shown.append(repr(client))


async def test_no_secret_in_reprs_errors_pickles_or_debug_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A run with retries, 401s and a token refresh shows no credential anywhere."""
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    async with Sandbox(token_ttl=0.2) as sb:
        with_secrets(sb)
        await run_everything(sb, shown)
        assert sb.stats.token_requests >= 2
        assert sum(sb.stats.faults.values()) >= 3 * len(FAULTS)
    logged = [r.getMessage() for r in caplog.records]
    assert any("-> 401" in line for line in logged)
    assert any("retrying in" in line for line in logged)
    assert len(shown) > 20
    assert_clean("\n".join(shown + logged + [caplog.text]))


async def test_secrets_echoed_by_the_server_are_masked(canned: Canned) -> None:
    """A body that repeats the credential is masked in every field of the error."""
    body = (
        f'{{"message":"bad token {TOKEN}","errors":{{"auth":["{TOKEN} unknown"]}},'
        f'"detail":"{TOKEN}"}}'
    ).encode()
    canned.queue.append((401, body, {}))
    async with InsiderWAClient(token=TOKEN, base_url=canned.url) as client:
        with pytest.raises(InsiderWAError) as caught:
            await client.overall_statistics(START, END)
    error: Any = caught.value
    assert "***" in str(error)
    assert "***" in error.body
    assert_clean(describe(error) + repr(error.errors) + error.body)


def sample_errors() -> list[InsiderWAError]:
    """Build one instance of every error class, with every field set."""
    made: list[InsiderWAError] = []
    for name in errors_module.__all__:
        cls = getattr(errors_module, name)
        if issubclass(cls, errors_module.APIError):
            error = cls(
                "refused",
                status=400,
                code="3002",
                errors={"field": ["bad"]},
                body='{"message":"refused"}',
                retry_after=1.5,
                time_range=(1_700_000_000, 1_700_086_399),
            )
        elif cls is errors_module.ResponseShapeError:
            error = cls("wrong shape", body="{}", time_range=(1, 2))
        else:
            error = cls(f"{name} happened").with_time_range(
                1_700_000_000, 1_700_003_600
            )
        made.append(error)
    return made


@pytest.mark.parametrize("error", sample_errors(), ids=lambda e: type(e).__name__)
def test_every_error_class_pickles_round_trip(error: InsiderWAError) -> None:
    """Unpickling gives back the same class, message, fields and text."""
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert back.time_range == error.time_range
    assert vars(back) == vars(error)
    assert_clean(pickle.dumps(error).decode("latin-1"))


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run the command and return its status with everything it printed."""
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out + err


def test_the_command_shows_no_secret_on_success_or_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every credential kind, right or wrong, verbose or not, prints no secret."""
    with threaded_sandbox() as sb:
        with_secrets(sb)
        base = ["stats", "--start", "2025-03-01", "--end", "2025-03-02"]
        base += ["--base-url", sb.url, "--format", "json"]
        statuses = []
        texts = []
        for options in credentials(sb):
            sb.faults = FaultPlan(sequence=("500", "reset"), retry_after="0")
            flags = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
            for verbosity in ([], ["-v"]):
                status, text = run_cli([*verbosity, *base, *flags], capsys)
                statuses.append(status)
                texts.append(text)
    assert statuses == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1], texts
    assert any("Traceback" in text for text in texts)
    assert any("Error: HTTP 401" in text for text in texts)
    assert_clean("\n".join(texts))

"""The insider-wa command, through main(argv)."""

from __future__ import annotations

import csv
import io
import json
import runpy
import sys

import pytest

from insider_wa_async.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command; return its status, stdout and stderr."""
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_json_is_the_apis_shape_and_whole(capsys: pytest.CaptureFixture[str]) -> None:
    """Five years in JSON: one chart day per calendar day, sums that agree."""
    status, out, err = run(
        [
            "stats",
            "--sandbox",
            "--start",
            "2021-01-01",
            "--end",
            "2025-12-31",
            "--format",
            "json",
        ],
        capsys,
    )
    assert status == 0, err
    body = json.loads(out)
    chart, summary = body["chart"], body["summary"]
    assert len(chart["dates"]) == 1826
    assert chart["dates"][0] == "2021-01-01"
    assert chart["dates"][-1] == "2025-12-31"
    for name in ("sent", "delivered", "open", "click", "conversion"):
        assert sum(chart[name]) == summary[name]
        assert sum(d[name] for d in body["details"]) == summary[name]
    assert summary["targeted"] == summary["sent"] + summary["drop"]
    assert "dropDetails" in summary
    assert "undeliveredDetails" in summary


def test_csv_is_the_daily_chart(capsys: pytest.CaptureFixture[str]) -> None:
    """CSV has a header and one row per day of the range, end day included."""
    status, out, _ = run(
        [
            "stats",
            "--sandbox",
            "--start",
            "2024-02-01",
            "--end",
            "2024-02-29",
            "--format",
            "csv",
        ],
        capsys,
    )
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 29
    assert rows[-1]["dates"] == "2024-02-29"
    assert {"sent", "delivered", "click_from_responses"} <= set(rows[0])


def test_table_shows_summary_breakdowns_and_campaigns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The table names the summary, both breakdowns and the top campaigns."""
    status, out, _ = run(
        [
            "stats",
            "--sandbox",
            "--start",
            "2021-01-01",
            "--end",
            "2025-12-31",
            "--status",
            "completed",
            "--type",
            "standard",
            "--type",
            "5",
        ],
        capsys,
    )
    assert status == 0
    for heading in ("Summary", "Drop details", "Undelivered details", "Top campaigns"):
        assert heading in out
    assert "completed" in out


def test_input_errors_exit_1_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid range exits 1 with a single 'Error:' line and no traceback."""
    status, out, err = run(
        ["stats", "--sandbox", "--start", "2024-02-02", "--end", "2024-02-01"],
        capsys,
    )
    assert status == 1
    assert out == ""
    assert err.startswith("Error: ")
    assert err.count("\n") == 1
    assert "end_time must be greater than start_time" in err


def test_api_errors_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown tag name (422 from the sandbox) exits 1 with the detail."""
    status, _, err = run(
        [
            "stats",
            "--sandbox",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-31",
            "--tag",
            "nope",
        ],
        capsys,
    )
    assert status == 1
    assert "422" in err
    assert "nope" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["stats", "--start", "2024-01-01"],
        ["stats", "--start", "yesterday", "--end", "2024-01-01", "--sandbox"],
        ["stats", "--start", "2024-01-01T00:00", "--end", "2024-01-02", "--sandbox"],
        ["stats", "--start", "2024-01-01", "--end", "2024-01-02", "--type", "bogus"],
        ["nothing"],
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Malformed command lines exit 2 without a traceback."""
    status, _, err = run(argv, capsys)
    assert status == 2
    assert "Traceback" not in err


def test_no_credential_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --sandbox, a credential or its variable, the command exits 2."""
    for name in ("TOKEN", "CLIENT_ID", "CLIENT_SECRET", "API_KEY"):
        monkeypatch.delenv(f"INSIDER_WA_{name}", raising=False)
    status, _, err = run(
        ["stats", "--start", "2024-01-01", "--end", "2024-01-02"], capsys
    )
    assert status == 2
    assert "no credential" in err


def test_module_entry_point_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Running the package as a module runs the command (--help exits 0)."""
    monkeypatch.setattr(sys, "argv", ["insider-wa", "--help"])
    with pytest.raises(SystemExit) as caught:
        runpy.run_module("insider_wa_async", run_name="__main__")
    assert caught.value.code == 0


def test_verbosity_works_after_the_subcommand(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """-v placed after the subcommand turns on the per-request debug lines."""
    status, _, err = run(
        ["stats", "--sandbox", "--start", "2024-01-01", "--end", "2024-01-02", "-v"],
        capsys,
    )
    assert status == 0
    assert "DEBUG insider_wa_async.http: POST" in err


def test_sandbox_and_base_url_exclude_each_other(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Asking for the sandbox and another server at once is a usage error."""
    argv = ["stats", "--sandbox", "--base-url", "http://127.0.0.1:9"]
    status, _, err = run(
        [*argv, "--start", "2024-01-01", "--end", "2024-01-02"], capsys
    )
    assert status == 2
    assert "not allowed with" in err


def test_two_credentials_from_the_environment_are_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Conflicting credential variables exit 2 with a message naming them."""
    monkeypatch.setenv("INSIDER_WA_TOKEN", "t")
    monkeypatch.setenv("INSIDER_WA_API_KEY", "k")
    status, _, err = run(
        ["stats", "--start", "2024-01-01", "--end", "2024-01-02"], capsys
    )
    assert status == 2
    assert "INSIDER_WA_API_KEY" in err

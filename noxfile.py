"""Developer tasks: ``nox -s tests``, ``lint``, ``typecheck``, ``bench``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite against the installed package."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check formatting and lint rules with ruff."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the package with mypy in strict mode."""
    session.install("-e", ".[typecheck]")
    session.run("mypy", "-p", "insider_wa_async")


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark against local servers; tables on stdout, JSON in results/."""
    session.install("-e", ".[bench,parquet]")
    session.run("python", "benchmarks/run_all.py", *session.posargs)

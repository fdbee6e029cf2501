"""Run the ``insider-wa`` command as ``python -m insider_wa_async``."""

from .cli import run

run()

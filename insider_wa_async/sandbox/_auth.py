"""Check token requests and keep the bearer tokens the sandbox has issued.

Times are `time.monotonic` seconds. Issued tokens are random and distinct; each
remembers its client id, which is also its credential key for rate limits.
"""

from __future__ import annotations

import secrets

import msgspec

from insider_wa_async.sandbox._rules import RequestError
from insider_wa_async.sandbox._stats import SlidingWindow

TOKEN_SCOPE = "wa-stats-api"
TOKEN_WINDOW = 60.0
_PRUNE_AT = 1_000


def read_token_request(raw: bytes, client_id: str, client_secret: str) -> str:
    """Check a token request body against the one valid client.

    Args:
        raw: The request body.
        client_id: The client id the sandbox accepts.
        client_secret: That client's secret.

    Returns:
        The client id of the request.

    Raises:
        RequestError: The body is malformed or lacks the scope (400), or the
            credentials are wrong (401).
    """
    try:
        document = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise RequestError(400, {"message": "request body is not valid JSON"}) from exc
    if not isinstance(document, dict):
        raise RequestError(400, {"message": "request body must be a JSON object"})
    given = (document.get("client_id"), document.get("client_secret"))
    if given != (client_id, client_secret):
        raise RequestError(401, {"message": "invalid client credentials"})
    scopes = document.get("scopes")
    if not isinstance(scopes, list) or TOKEN_SCOPE not in scopes:
        raise RequestError(400, {"message": f"scope {TOKEN_SCOPE} is required"})
    return client_id


class TokenStore:
    """Issue bearer tokens within a per-client limit and look them up."""

    def __init__(self) -> None:
        self._issued: dict[str, tuple[str, float]] = {}
        self._windows: dict[str, SlidingWindow] = {}

    def issue(
        self, client_id: str, now: float, *, ttl: float, limit: int | None
    ) -> str | None:
        """Issue a token valid for ``ttl`` seconds, unless over the limit.

        Args:
            client_id: The client the token is for.
            now: The current time.
            ttl: The token's lifetime, in seconds.
            limit: Most tokens per client in any sliding 60 seconds; ``None``
                means no limit.

        Returns:
            The new token, or ``None`` when the client is over its limit.
        """
        window = self._windows.setdefault(client_id, SlidingWindow(TOKEN_WINDOW))
        if not window.admit(now, limit):
            return None
        if len(self._issued) >= _PRUNE_AT:
            self._issued = {
                token: entry for token, entry in self._issued.items() if entry[1] > now
            }
        token = f"sbx-{secrets.token_hex(16)}"
        self._issued[token] = (client_id, now + ttl)
        return token

    def owner(self, token: str, now: float | None = None) -> str | None:
        """Return the client id a token was issued to.

        Args:
            token: The bearer token.
            now: The current time; when given, an expired token has no owner.

        Returns:
            The client id, or ``None`` for an unknown (or expired) token.
        """
        entry = self._issued.get(token)
        if entry is None or (now is not None and entry[1] <= now):
            return None
        return entry[0]

    def forget_windows(self) -> None:
        """Forget the per-client issuance windows."""
        self._windows.clear()

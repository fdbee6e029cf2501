"""Credentials: what each kind sends, where it goes, and OAuth token upkeep."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from ._errors import ResponseShapeError
from ._limiter import SlidingWindowLimiter, credential_key

__all__ = ["ApiKeyAuth", "Auth", "OAuthAuth", "StaticTokenAuth", "make_auth"]

OAUTH_BASE_URL = "https://gw.api.insidethekube.com"
API_KEY_BASE_URL = "https://whatsapp.useinsider.com"
OAUTH_PATH = "/api/wa/v2/statistics/overall"
API_KEY_PATH = "/v1/statistics/overall"
TOKEN_PATH = "/auth/token"
TOKEN_SCOPES = ("wa-stats-api",)
TOKENS_PER_MINUTE = 10
JSON_HEADERS = {"Content-Type": "application/json"}

# Posts a JSON body to a URL and returns the decoded 200 body; raises the
# package's errors for anything else. The client provides it.
TokenPoster = Callable[[str, bytes], Awaitable[bytes]]


class _TokenAnswer(msgspec.Struct):
    access_token: str
    expires_in: float = 3600.0
    token_type: str = "Bearer"


_token_decoder = msgspec.json.Decoder(_TokenAnswer)


class Auth:
    """A credential kind: the headers it sends and the route it uses."""

    default_base_url: str = OAUTH_BASE_URL
    path: str = OAUTH_PATH
    key: str
    _secrets: tuple[str, ...] = ()

    @property
    def secrets(self) -> tuple[str, ...]:
        """The strings to mask wherever a response body is shown."""
        return self._secrets

    async def headers(self, post: TokenPoster, base_url: str) -> dict[str, str]:
        """Return the headers that authenticate one request."""
        raise NotImplementedError

    def may_replay(self, sent: dict[str, str]) -> bool:
        """Say whether a 401 for ``sent`` is worth one replay (new token)."""
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} key={self.key[:8]}…>"


class StaticTokenAuth(Auth):
    """A bearer token the caller already has; it is never refreshed."""

    def __init__(self, token: str) -> None:
        self._headers = {**JSON_HEADERS, "Authorization": f"Bearer {token}"}
        self.key = credential_key("token:" + token)
        self._secrets = (token,)

    async def headers(self, post: TokenPoster, base_url: str) -> dict[str, str]:
        """Return the fixed bearer header."""
        return self._headers


class ApiKeyAuth(Auth):
    """An API key, sent as ``X-INS-AUTH-KEY: INS.<key>`` on the API-key route."""

    default_base_url = API_KEY_BASE_URL
    path = API_KEY_PATH

    def __init__(self, api_key: str) -> None:
        value = api_key if api_key.startswith("INS.") else f"INS.{api_key}"
        self._headers = {**JSON_HEADERS, "X-INS-AUTH-KEY": value}
        self.key = credential_key("key:" + value)
        self._secrets = (api_key, value)

    async def headers(self, post: TokenPoster, base_url: str) -> dict[str, str]:
        """Return the fixed API-key header."""
        return self._headers


class _TokenSource:
    """One cached OAuth token per client id, shared on one event loop."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self._body = msgspec.json.encode(
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "scopes": list(TOKEN_SCOPES),
            }
        )
        self._lock = asyncio.Lock()
        self._guard = SlidingWindowLimiter(TOKENS_PER_MINUTE, 61.0)
        self.token: str | None = None
        self._refresh_at = 0.0
        self.fetched = 0
        self._generation = 0

    def current(self, now: float) -> str | None:
        return self.token if self.token and now < self._refresh_at else None

    async def get(self, post: TokenPoster, url: str) -> str:
        loop = asyncio.get_running_loop()
        token = self.current(loop.time())
        if token:
            return token
        seen = self._generation
        async with self._lock:
            # A token fetched while this caller waited is used as it is, even
            # one already due for renewal: one fetch serves every waiter.
            fresh = self.token if self._generation != seen else None
            token = self.current(loop.time()) or fresh
            if token:
                return token
            await self._guard.acquire()
            decoded = _decode_token(await post(url, self._body))
            lifetime = max(0.0, decoded.expires_in)
            # Renew a little before expiry: 10% of the lifetime, at most 60 s.
            self._refresh_at = loop.time() + lifetime - min(60.0, lifetime * 0.1)
            self.token = decoded.access_token
            self.fetched += 1
            self._generation += 1
            return self.token

    def invalidate(self, token: str) -> bool:
        """Forget ``token`` if it is still the current one; True if it was."""
        if self.token == token:
            self.token = None
            return True
        return self.token is not None


def _decode_token(answer: bytes) -> _TokenAnswer:
    try:
        decoded = _token_decoder.decode(answer)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ResponseShapeError(
            "token endpoint answered without an access_token"
        ) from exc
    if not decoded.access_token:
        raise ResponseShapeError("token endpoint answered an empty access_token")
    return decoded


_sources: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, str], _TokenSource]
] = weakref.WeakKeyDictionary()


class OAuthAuth(Auth):
    """OAuth 2.0 client credentials: tokens fetched, cached and renewed.

    Every client of the process with the same client id shares one token and
    one guard that keeps token requests under 10 in any minute.
    """

    def __init__(self, client_id: str, client_secret: str) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self.key = credential_key("client:" + client_id)
        # Hashed once: the slot is looked up on every request.
        self._slot_key = self.key + credential_key(client_secret)
        self._last_token = ""
        self._headers: dict[str, str] = {}

    @property
    def secrets(self) -> tuple[str, ...]:
        """The client secret and the access token last sent."""
        return (self._client_secret, self._last_token)

    def source(self, token_url: str) -> _TokenSource:
        """Return this loop's shared token source for the token endpoint."""
        loop = asyncio.get_running_loop()
        sources = _sources.setdefault(loop, {})
        slot = (self._slot_key, token_url)
        found = sources.get(slot)
        if found is None:
            found = sources[slot] = _TokenSource(self._client_id, self._client_secret)
        return found

    async def headers(self, post: TokenPoster, base_url: str) -> dict[str, str]:
        """Return a bearer header with a current token, fetching one if needed."""
        url = base_url + TOKEN_PATH
        token = await self.source(url).get(post, url)
        if token != self._last_token:
            self._last_token = token
            self._headers = {**JSON_HEADERS, "Authorization": f"Bearer {token}"}
        return self._headers

    def forget(self, sent: dict[str, str], base_url: str) -> bool:
        """Drop the token ``sent`` carried, so the next call fetches a new one."""
        token = sent.get("Authorization", "").removeprefix("Bearer ")
        return self.source(base_url + TOKEN_PATH).invalidate(token)

    def may_replay(self, sent: dict[str, str]) -> bool:
        """Say yes: one 401 is worth a new token and one replay."""
        return True


def make_auth(
    *,
    token: str | None,
    client_id: str | None,
    client_secret: str | None,
    api_key: str | None,
) -> Auth:
    """Build the credential from exactly one kind of the arguments.

    Raises:
        ValueError: None or more than one kind, or half a client-credential pair.
        TypeError: A credential that is not a str.
    """
    given: dict[str, Any] = {
        "token": token,
        "client_id": client_id,
        "client_secret": client_secret,
        "api_key": api_key,
    }
    for name, value in given.items():
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a str")
        if value is not None and not value.strip():
            raise ValueError(f"{name} must not be empty")
    if (client_id is None) != (client_secret is None):
        raise ValueError("client_id and client_secret go together")
    kinds = [token is not None, client_id is not None, api_key is not None]
    if sum(kinds) != 1:
        raise ValueError(
            "give exactly one credential: token, client_id + client_secret, or api_key"
        )
    if token is not None:
        return StaticTokenAuth(token)
    if api_key is not None:
        return ApiKeyAuth(api_key)
    assert client_id is not None
    assert client_secret is not None
    return OAuthAuth(client_id, client_secret)

"""How an Airflow connection of type ``langgraph`` becomes client settings.

The URL comes from the connection's host (a full ``http(s)://host:port/prefix`` URL, or a bare
host completed by the schema and port fields); the API key from its password; everything else
from its extras. Environment variables are never read for credentials: a key is only ever sent
to the server it was configured for.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from airflow_lg.exceptions import LangGraphConfigError

DEFAULT_TIMEOUT = {"connect": 5.0, "read": 60.0, "write": 30.0, "pool": 30.0, "response": 10.0}
"""``read`` is the silence a long poll (wait, join, a stream) tolerates: the server writes a
newline every 5 s while one lasts, so 60 s never cuts a healthy one and still notices a dead
server. ``response`` is how long any other call waits for the server's answer: those are
answered in milliseconds, so a server that takes the connection and never answers is reported
in seconds, not after five 60 s silences."""
_HTTPX_PHASES = ("connect", "read", "write", "pool")


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried (connect errors, timeouts, 429, 502/503/504).

    ``max_attempts`` counts every try, the first included (1 disables retries). Waits grow
    exponentially from ``min_wait`` to ``max_wait`` seconds with jitter; a ``Retry-After`` from
    the server is honoured as a floor, up to ``max_retry_after`` seconds (longer advice fails
    fast instead of holding a worker slot).
    """

    max_attempts: int = 5
    min_wait: float = 0.5
    max_wait: float = 30.0
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise LangGraphConfigError(f"retry max_attempts must be >= 1, got {self.max_attempts}")
        numbers = (self.min_wait, self.max_wait, self.max_retry_after)
        if not all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in numbers):
            raise LangGraphConfigError(f"retry waits must be numbers, got {numbers!r}")
        if not isinstance(self.max_attempts, int) or self.max_retry_after < 0:
            raise LangGraphConfigError(
                "retry max_attempts must be an integer and max_retry_after >= 0, got "
                f"{self.max_attempts!r}, {self.max_retry_after!r}"
            )
        if self.min_wait < 0 or self.max_wait < self.min_wait:
            raise LangGraphConfigError(
                f"retry waits must satisfy 0 <= min_wait <= max_wait, got {self.min_wait}, "
                f"{self.max_wait}"
            )

    def backoff(self, attempt: int) -> float:
        """Seconds before retry number ``attempt`` (1-based): exponential, capped, with jitter
        so that many clients failing together do not come back together."""
        base = min(self.max_wait, self.min_wait * 2.0 ** (attempt - 1))
        return min(self.max_wait, base + random.uniform(0, self.min_wait))

    def merged(self, overrides: dict[str, Any]) -> RetryPolicy:
        """A copy with the given fields replaced; unknown fields are an error, not ignored."""
        unknown = set(overrides) - set(self.__dataclass_fields__)
        if unknown:
            raise LangGraphConfigError(
                f"unknown retry setting(s) {sorted(unknown)}; "
                f"known: {sorted(self.__dataclass_fields__)}"
            )
        try:
            coerced = {k: _coerce(getattr(self, k), v) for k, v in overrides.items()}
            return replace(self, **coerced)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise LangGraphConfigError(f"invalid retry setting: {exc}") from None


def _coerce(current: float, value: Any) -> float:
    """A retry setting of the same type as its default; 2.7 attempts is an error, not 2."""
    number = float(value)
    if isinstance(current, int):
        if number != int(number):
            raise ValueError(f"{value!r} is not a whole number")
        return int(number)
    return number


@dataclass(frozen=True)
class ClientSettings:
    """Everything needed to build an HTTP client for one LangGraph server."""

    base_url: str
    api_key: str | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeout: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TIMEOUT))
    verify: bool | str = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_connections: int = 100
    # Short requests in flight at once per connection in a process (long polls excluded:
    # their number is each trigger's own business): back-pressure for backfills. It also
    # sizes the async pool; bench/ measured 10 as the cheapest for 1,000 waits in a triggerer.
    max_concurrent_requests: int = 10
    studio_url_template: str | None = None
    # Seconds a wait rides out a server that is away (unreachable, or 502/503/504 from its
    # gateway) — a deploy or a restart of the agent server — before the task fails.
    outage_budget: float = 300.0

    def request_headers(self) -> dict[str, str]:
        """Headers sent with every request; the key only when one is configured."""
        headers = dict(self.headers)
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return headers

    def httpx_timeout(self) -> httpx.Timeout:
        """The client's default timeouts (each call sets its own: see ``wire.call_timeout``)."""
        return httpx.Timeout(**{k: self.timeout[k] for k in _HTTPX_PHASES})

    def fingerprint(self) -> str:
        """A digest identifying these settings, so pooled clients are never shared across
        connections that differ (another key, another server). The key itself is not kept."""
        # computed once: the settings are frozen, and every pooled request looks it up
        cached: str | None = self.__dict__.get("_fingerprint")
        if cached is None:
            cached = self._digest()
            object.__setattr__(self, "_fingerprint", cached)
        return cached

    def _digest(self) -> str:
        material = json.dumps(
            [
                self.base_url,
                self.request_headers(),
                self.timeout,
                self.verify,
                self.max_connections,
                self.max_concurrent_requests,
            ],
            sort_keys=True,
        )
        return hashlib.sha256(material.encode()).hexdigest()


def base_url_of(host: str | None, schema: str | None, port: int | None) -> str:
    """The server URL from a connection's host, schema and port fields."""
    if not host or not host.strip():
        raise LangGraphConfigError(
            "the LangGraph connection has no host: set it to the server URL, "
            "e.g. http://127.0.0.1:2024"
        )
    host = host.strip()
    if "://" not in host:
        scheme = (schema or "http").strip().lower()
        host = f"{scheme}://{host}"
    try:
        parts = urlsplit(host)
        # Before anything quotes the URL: a URL with credentials is never echoed.
        if "@" in parts.netloc:
            raise LangGraphConfigError(
                "the LangGraph connection URL must not carry credentials: put the API key in "
                "the connection's password field"
            )
        parsed_port = parts.port
    except ValueError as exc:
        raise LangGraphConfigError(
            f"the LangGraph connection URL {host!r} is invalid: {exc}"
        ) from None
    if parts.query or parts.fragment:
        raise LangGraphConfigError(
            f"the LangGraph connection URL {host!r} must not have a query or fragment"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LangGraphConfigError(
            f"the LangGraph connection URL {host!r} is invalid: expected http(s)://host[:port]"
        )
    netloc = parts.netloc
    if port and parsed_port is None:
        netloc = f"{netloc}:{port}"
    elif port and parsed_port != port:
        raise LangGraphConfigError(
            f"the LangGraph connection URL {host!r} names port {parsed_port} but the port "
            f"field says {port}"
        )
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def settings_from_connection(
    host: str | None,
    schema: str | None,
    port: int | None,
    password: str | None,
    extra: dict[str, Any],
) -> ClientSettings:
    """Parse a connection's fields; every bad value is reported with the field's name."""
    headers = extra.get("headers") or {}
    if isinstance(headers, str):
        headers = _json_field("headers", headers)
    if not isinstance(headers, dict):
        raise LangGraphConfigError(f"extra 'headers' must be a JSON object, got {headers!r}")
    retry = extra.get("retry") or {}
    if isinstance(retry, str):
        retry = _json_field("retry", retry)
    if not isinstance(retry, dict):
        raise LangGraphConfigError(f"extra 'retry' must be a JSON object, got {retry!r}")
    return ClientSettings(
        base_url=base_url_of(host, schema, port),
        api_key=password or None,
        headers={str(k): str(v) for k, v in headers.items()},
        timeout=_timeout(extra.get("timeout")),
        verify=_verify(extra.get("verify")),
        retry=RetryPolicy().merged(retry),
        max_connections=_positive_int("max_connections", extra.get("max_connections")),
        max_concurrent_requests=_positive_int(
            "max_concurrent_requests", extra.get("max_concurrent_requests")
        ),
        studio_url_template=extra.get("studio_url_template") or None,
        outage_budget=_seconds("outage_budget", extra.get("outage_budget")),
    )


def _seconds(name: str, value: Any) -> float:
    """A duration from the extras (>= 0); unset means ClientSettings' default for it."""
    if value is None or value == "":
        default: float = ClientSettings.__dataclass_fields__[name].default  # type: ignore[assignment]
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number < 0 or isinstance(value, bool):
        raise LangGraphConfigError(f"extra {name!r} must be seconds >= 0, got {value!r}")
    return number


def _positive_int(name: str, value: Any) -> int:
    """A count from the extras; unset means ClientSettings' default for that field."""
    if value is None or value == "":
        default: int = ClientSettings.__dataclass_fields__[name].default  # type: ignore[assignment]
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number <= 0 or isinstance(value, bool):
        raise LangGraphConfigError(f"extra {name!r} must be a positive integer, got {value!r}")
    return number


def _json_field(name: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise LangGraphConfigError(f"extra {name!r} is not valid JSON: {exc}") from None


def _timeout(value: Any) -> dict[str, float]:
    """``timeout`` is one number for every phase, or an object with connect/read/write/pool/
    response (see :data:`DEFAULT_TIMEOUT`)."""
    timeout = dict(DEFAULT_TIMEOUT)
    if value is None or value == "":
        return timeout
    if isinstance(value, str) and value.strip().startswith("{"):
        value = _json_field("timeout", value)
    try:
        if isinstance(value, dict):
            unknown = set(value) - set(timeout)
            if unknown:
                raise LangGraphConfigError(
                    f"extra 'timeout' has unknown key(s) {sorted(unknown)}; "
                    f"known: {sorted(timeout)}"
                )
            timeout.update({k: float(v) for k, v in value.items()})
            if "read" in value and "response" not in value:
                # short calls waited `read` before `response` existed: keep what was set
                timeout["response"] = timeout["read"]
        else:
            timeout = dict.fromkeys(timeout, float(value))
        if not all(seconds > 0 for seconds in timeout.values()):
            raise ValueError("not positive")
    except (TypeError, ValueError):
        raise LangGraphConfigError(
            f"extra 'timeout' must be seconds or an object of seconds, got {value!r}"
        ) from None
    return timeout


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _verify(value: Any) -> bool | str:
    """``verify``: true/false (unset means true), or the path of a CA bundle."""
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, str):
        return value
    raise LangGraphConfigError(f"extra 'verify' must be true, false or a CA bundle path: {value!r}")

"""One JSON-over-HTTP client for every API: bounded retries, polite spacing, typed errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
Params = Mapping[str, Any] | Sequence[tuple[str, Any]]


class ApiError(Exception):
    """A call to an external API failed: names the API, the call and the cause."""

    def __init__(self, api: str, call: str, cause: str, *, status: int | None = None) -> None:
        self.api, self.call, self.cause, self.status = api, call, cause, status
        super().__init__(f"{api}: {call} failed: {cause}")


class ApiAuthError(ApiError):
    """The API refused our credentials (401/403)."""


class ApiRejected(ApiError):
    """The API answered that the request is wrong or not allowed (a 4xx or an error envelope)."""


class ApiUnavailable(ApiError):
    """The API did not answer usefully after bounded retries (timeouts, 5xx, rate limits)."""


class ApiBadResponse(ApiError):
    """The API answered something that is not the documented shape."""


def retry_delay(response: httpx.Response | None, attempt: int, *, now: datetime) -> float:
    """Seconds to wait before retrying: Retry-After, then RateLimit-Reset, then backoff."""
    headers = response.headers if response is not None else httpx.Headers()
    retry_after = headers.get("retry-after", "").strip()
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                return max(0.0, (parsedate_to_datetime(retry_after) - now).total_seconds())
            except (TypeError, ValueError):
                pass
    reset = headers.get("ratelimit-reset", "").strip()
    if reset:
        try:
            value = float(reset)
        except ValueError:
            value = None
        if value is not None:
            # PagerDuty sends seconds until the reset; GitLab sends a Unix time.
            return max(0.0, value - now.timestamp()) if value > 1e9 else max(0.0, value)
    return min(30.0, 0.5 * 2**attempt)


def error_text(response: httpx.Response) -> str:
    """The error message an API put in its body, whatever its shape, shortened."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200]
    message: Any = body
    if isinstance(body, dict):
        message = body.get("error") or body.get("message") or body.get("status") or body
        if isinstance(message, dict):
            detail = message.get("errors")
            message = message.get("message") or message
            if detail:
                message = f"{message} ({'; '.join(map(str, detail))})"
    return str(message)[:200]


def _safe_to_repeat(response: httpx.Response | None, cause: str) -> bool:
    """Whether a failed attempt certainly did nothing: rate limited, or never connected."""
    if response is None:
        return cause.startswith("could not connect")
    return response.status_code < 500


class JsonApi:
    """A bounded, retrying JSON client for one API; never shows credentials in errors."""

    def __init__(
        self,
        *,
        api: str,
        base_url: str,
        headers: Mapping[str, str],
        secrets: Sequence[str] = (),
        transport: httpx.BaseTransport | None = None,
        timeout: float = 15.0,
        retries: int = 4,
        max_wait: float = 60.0,
        min_interval: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.timeout = timeout
        self.retries = retries
        self.max_wait = max_wait
        self.min_interval = min_interval
        self.requests_made = 0
        self._sleep = sleep
        self._clock = clock
        self._secrets = [s for s in secrets if s]
        self._lock = threading.Lock()
        self._last_finished: float | None = None
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers=dict(headers),
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def json(
        self,
        method: str,
        path: str,
        *,
        call: str,
        params: Params | None = None,
        body: Any = None,
    ) -> Any:
        """The decoded JSON answer of a call, or a typed ApiError."""
        response = self.request(method, path, call=call, params=params, body=body)
        return self.decode(response, call=call)

    def decode(self, response: httpx.Response, *, call: str) -> Any:
        """The JSON body of a response, or ApiBadResponse naming the call."""
        try:
            return response.json()
        except ValueError:
            raise self._error(ApiBadResponse, call, "the answer was not valid JSON") from None

    def request(
        self,
        method: str,
        path: str,
        *,
        call: str,
        params: Params | None = None,
        body: Any = None,
    ) -> httpx.Response:
        """The successful response of a call after bounded retries, or a typed ApiError.

        A POST may already have taken effect when it times out or gets a 5xx, so it is retried
        only after a 429 or a failed connection, where nothing was done; the caller's outbox
        decides about the rest.
        """
        for attempt in range(self.retries + 1):
            response, cause = self._attempt(method, path, params, body)
            if method.upper() == "POST" and not _safe_to_repeat(response, cause):
                status = response.status_code if response is not None else None
                if status is None or status >= 500:
                    detail = cause or f"HTTP {status}: {error_text(response)}"  # type: ignore[arg-type]
                    raise self._error(
                        ApiUnavailable,
                        call,
                        f"{detail}; it may or may not have taken effect",
                        status=status,
                    )
            if response is not None and response.status_code < 400:
                return response
            if response is not None and response.status_code in (401, 403):
                raise self._error(
                    ApiAuthError,
                    call,
                    f"HTTP {response.status_code}, credentials refused ({error_text(response)})",
                    status=response.status_code,
                )
            if response is not None and response.status_code not in RETRYABLE_STATUS:
                raise self._error(
                    ApiRejected,
                    call,
                    f"HTTP {response.status_code}: {error_text(response)}",
                    status=response.status_code,
                )
            if response is not None:
                cause = f"HTTP {response.status_code}: {error_text(response)}"
            delay = retry_delay(response, attempt, now=datetime.now(UTC))
            if attempt == self.retries:
                break
            if delay > self.max_wait:
                cause = f"{cause}; asked to wait {delay:.0f} s, more than {self.max_wait:.0f} s"
                break
            self._sleep(delay)
        status = response.status_code if response is not None else None
        tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
        raise self._error(ApiUnavailable, call, f"{cause} (after {tries})", status=status)

    def _attempt(
        self, method: str, path: str, params: Params | None, body: Any
    ) -> tuple[httpx.Response | None, str]:
        with self._lock:
            if self.min_interval and self._last_finished is not None:
                wait = self._last_finished + self.min_interval - self._clock()
                if wait > 0:
                    self._sleep(wait)
            self.requests_made += 1
            try:
                response = self._client.request(method, path.lstrip("/"), params=params, json=body)
                response.read()
                return response, ""
            except httpx.TimeoutException:
                return None, f"no answer within {self.timeout:g} s"
            except httpx.TransportError as exc:
                return None, f"could not connect ({type(exc).__name__})"
            finally:
                self._last_finished = self._clock()

    def _error(
        self, kind: type[ApiError], call: str, cause: str, *, status: int | None = None
    ) -> ApiError:
        for secret in self._secrets:
            cause = cause.replace(secret, "[redacted]")
        return kind(self.api, call, cause, status=status)

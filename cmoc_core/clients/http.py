"""One JSON-over-HTTP client for every API: bounded retries, polite spacing, typed errors."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from cmoc_core.redaction import redact

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Methods whose repetition leaves the service as one call would (RFC 9110 section 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Failures raised before any byte of the request was written: the service cannot have acted.
# httpx reports refused connections, DNS and TLS handshake failures as ConnectError.
NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
)
UNCLEAR = "it may or may not have taken effect"
# Why a request was not sent, in words: the exception's name means nothing to the reader.
NOT_SENT_WORDS = {
    httpx.ConnectTimeout: "no connection within the time allowed",
    httpx.PoolTimeout: "no connection free within the time allowed",
    httpx.ProxyError: "the proxy refused the connection",
    httpx.UnsupportedProtocol: "its address is not an http or https one",
}

Primitive = str | int | float | bool | None
Params = Mapping[str, Primitive | Sequence[Primitive]] | Sequence[tuple[str, Primitive]]


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


class ApiOutcomeUnclear(ApiUnavailable):
    """A call that is not safe to repeat was sent, and no clear answer came back.

    It may or may not have taken effect: the connection broke or timed out after the request
    went out, the service answered 5xx, or its success answer could not be read. It is never
    repeated automatically; the caller checks with the service or asks the person.
    """


class ApiBadResponse(ApiError):
    """The API answered something that is not the documented shape."""


# httpx logs each request's URL at INFO (a webhook's URL is its secret), httpcore each
# answer's headers at DEBUG (a service may echo a credential in one, as in a redirect).
# A logger's filters see only the records logged on it, so each one is named.
TRANSPORT_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


class _RedactingFilter(logging.Filter):
    """Takes every secret a client was given out of the HTTP libraries' own log records."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: frozenset[str] = frozenset()
        self._adding = threading.Lock()

    def add(self, secrets: Sequence[str]) -> None:
        """Redact these too; the set is replaced whole, so a record being logged sees one set."""
        with self._adding:
            self.secrets = self.secrets | frozenset(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            cleaned = redact(message, self.secrets)
            if cleaned != message:
                record.msg, record.args = cleaned, ()
        return True


_LOG_FILTER = _RedactingFilter()
for _name in TRANSPORT_LOGGERS:
    logging.getLogger(_name).addFilter(_LOG_FILTER)


@dataclass(frozen=True)
class _Failure:
    """An attempt that got no response; `sent` when the request may have reached the service."""

    cause: str
    sent: bool


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


def error_text(response: httpx.Response, *, limit: int | None = 200) -> str:
    """The error message an API put in its body, whatever its shape, shortened to `limit`."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:limit]
    message: Any = body
    if isinstance(body, dict):
        message = body.get("error") or body.get("message") or body.get("status") or body
        if isinstance(message, dict):
            detail = message.get("errors")
            message = message.get("message") or message
            if detail:
                message = f"{message} ({'; '.join(map(str, detail))})"
    return str(message)[:limit]


def _repeatable(method: str, repeatable: bool | None) -> bool:
    return method.upper() in IDEMPOTENT_METHODS if repeatable is None else repeatable


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
        _LOG_FILTER.add(self._secrets)
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
        repeatable: bool | None = None,
    ) -> Any:
        """The decoded JSON answer of a call, or a typed ApiError.

        An unreadable success answer to a call that is not safe to repeat is ApiOutcomeUnclear:
        the service acted, or not, and the answer that would say which was lost.
        """
        repeatable = _repeatable(method, repeatable)
        response = self.request(
            method, path, call=call, params=params, body=body, repeatable=repeatable
        )
        if repeatable:
            return self.decode(response, call=call)
        try:
            return response.json()
        except ValueError:
            cause = f"the answer was not valid JSON; {UNCLEAR}"
            raise self.error(ApiOutcomeUnclear, call, cause, status=response.status_code) from None

    def found(self, path: str, *, call: str, params: Params | None = None) -> Any | None:
        """The decoded answer of a GET, or None when the service answers 404 (none, or hidden)."""
        try:
            return self.json("GET", path, call=call, params=params)
        except ApiRejected as exc:
            if exc.status == 404:
                return None
            raise

    def decode(self, response: httpx.Response, *, call: str) -> Any:
        """The JSON body of a response, or ApiBadResponse naming the call."""
        try:
            return response.json()
        except ValueError:
            raise self.error(ApiBadResponse, call, "the answer was not valid JSON") from None

    def request(
        self,
        method: str,
        path: str,
        *,
        call: str,
        params: Params | None = None,
        body: Any = None,
        repeatable: bool | None = None,
    ) -> httpx.Response:
        """The successful response of a call after bounded retries, or a typed ApiError.

        A repeatable call (by default GET, PUT and DELETE) is retried after timeouts, broken
        connections, 429 and 5xx. Any other (a POST, or a write marked `repeatable=False`) is
        repeated only when nothing can have been done: after a 429 or 408, or when the
        connection failed before the request was written; when it was sent and no clear answer
        came back, ApiOutcomeUnclear says it may or may not have taken effect.
        """
        idempotent = _repeatable(method, repeatable)
        for attempt in range(self.retries + 1):
            outcome = self._attempt(method, path, params, body)
            response = outcome if isinstance(outcome, httpx.Response) else None
            if isinstance(outcome, _Failure):
                cause = outcome.cause
                if outcome.sent and not idempotent:
                    raise self.error(ApiOutcomeUnclear, call, f"{cause}; {UNCLEAR}")
            else:
                status = outcome.status_code
                if status < 400:
                    return outcome
                if status in (401, 403):
                    raise self.error(
                        ApiAuthError,
                        call,
                        f"HTTP {status}, credentials refused ({self.message_of(outcome)})",
                        status=status,
                    )
                cause = f"HTTP {status}: {self.message_of(outcome)}"
                if status not in RETRYABLE_STATUS:
                    raise self.error(ApiRejected, call, cause, status=status)
                if status >= 500 and not idempotent:
                    raise self.error(ApiOutcomeUnclear, call, f"{cause}; {UNCLEAR}", status=status)
            delay = retry_delay(response, attempt, now=datetime.now(UTC))
            if attempt == self.retries:
                break
            if delay > self.max_wait:
                cause = f"{cause}; asked to wait {delay:.0f} s, more than {self.max_wait:.0f} s"
                break
            self._sleep(delay)
        last_status = response.status_code if response is not None else None
        tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
        raise self.error(ApiUnavailable, call, f"{cause} (after {tries})", status=last_status)

    def error(
        self, kind: type[ApiError], call: str, cause: str, *, status: int | None = None
    ) -> ApiError:
        """An error of `kind` naming this API and the call, with every secret redacted."""
        return kind(self.api, self.redact(call), self.redact(cause), status=status)

    def redact(self, text: str) -> str:
        """`text` with every secret this client knows replaced by `[redacted]`."""
        return redact(text, self._secrets)

    def message_of(self, response: httpx.Response, *, limit: int = 200) -> str:
        """The error message in a response, redacted, then shortened (no secret is cut in two)."""
        return self.redact(error_text(response, limit=None))[:limit]

    def _attempt(
        self, method: str, path: str, params: Params | None, body: Any
    ) -> httpx.Response | _Failure:
        with self._lock:
            if self.min_interval and self._last_finished is not None:
                wait = self._last_finished + self.min_interval - self._clock()
                if wait > 0:
                    self._sleep(wait)
            self.requests_made += 1
            query = params if params is None or isinstance(params, Mapping) else list(params)
            try:
                response = self._client.request(method, path.lstrip("/"), params=query, json=body)
                response.read()
                return response
            except NOT_SENT as exc:
                # ConnectError: refused, not found (DNS), or no TLS handshake.
                why = NOT_SENT_WORDS.get(type(exc), "refused, not found, or no secure handshake")
                return _Failure(f"could not connect ({why})", sent=False)
            except httpx.ReadTimeout:
                return _Failure(f"no answer within {self.timeout:g} s", sent=True)
            except httpx.WriteTimeout:
                return _Failure(f"the request was not sent within {self.timeout:g} s", sent=True)
            except httpx.TransportError:
                return _Failure("the connection broke before the whole answer came", sent=True)
            except httpx.DecodingError as exc:
                return _Failure(f"the answer could not be decoded ({exc})", sent=True)
            finally:
                self._last_finished = self._clock()

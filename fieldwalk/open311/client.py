"""A GeoReport v2 client: post a service request to a party's server, read requests back.

The only outbound requests the app makes, and only to endpoints coordinators configured for
a party (never to an address a client sent). JSON is asked for (`requests.json`), so no
XML from elsewhere is ever parsed here. Every failure, whether the network, an HTTP error
(with the spec's error descriptions when the server gave them) or an answer that is not
GeoReport, is a `RemoteError` with a message fit to show on the task.
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

MAX_ANSWER_BYTES = 2 * 1024 * 1024


class RemoteError(Exception):
    """The party's server could not be reached or refused; `str()` says why."""


@dataclass(frozen=True)
class Endpoint:
    """Where a party's GeoReport v2 server is and how to talk to it."""

    url: str  # the base, e.g. https://open311.example.se/open311/v2/
    jurisdiction_id: str = ""
    api_key: str = ""
    timeout: float = 10.0

    def resource(self, name: str) -> str:
        return self.url.rstrip("/") + "/" + name


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: it could lead anywhere, a POST's fields with it."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _open(request: urllib.request.Request, timeout: float):
    """The answer's status and JSON, or RemoteError."""
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            body = answer.read(MAX_ANSWER_BYTES + 1)
            status = answer.status
    except urllib.error.HTTPError as error:
        raise RemoteError(_describe_error(error)) from error
    except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise RemoteError(f"could not reach {request.full_url}: {reason}") from error
    if len(body) > MAX_ANSWER_BYTES:
        raise RemoteError("the answer is too large")
    try:
        return status, json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as error:
        raise RemoteError("the answer is not JSON") from error


def _describe_error(error: urllib.error.HTTPError) -> str:
    """'HTTP 400: description' with the spec's error descriptions when there are some."""
    try:
        data = json.loads(error.read(64 * 1024).decode("utf-8-sig"))
        texts = [str(item.get("description", "")) for item in data if isinstance(item, dict)]
    except (ValueError, UnicodeDecodeError, TypeError, AttributeError, OSError):
        texts = []
    detail = "; ".join(t for t in texts if t) or error.reason
    return f"HTTP {error.code}: {detail}"[:500]


def check_url(url: str) -> bool:
    """True for an http(s) URL with a host: the only endpoints the client will open."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def post_request(endpoint: Endpoint, fields: dict[str, str], media_urls: Sequence[str] = ()) -> str:
    """POST a service request; return the `service_request_id` the server gave it."""
    if not check_url(endpoint.url):
        raise RemoteError("the endpoint is not an http(s) address")
    pairs = [*fields.items(), *(("media_url", url) for url in media_urls)]
    pairs += [("api_key", endpoint.api_key)] if endpoint.api_key else []
    pairs += [("jurisdiction_id", endpoint.jurisdiction_id)] if endpoint.jurisdiction_id else []
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        endpoint.resource("requests.json"),
        data=urllib.parse.urlencode(pairs).encode(),
        method="POST",
        headers={"Accept": "application/json", "User-Agent": "fieldwalk-open311"},
    )
    _status, data = _open(request, endpoint.timeout)
    try:
        request_id = data[0]["service_request_id"]
    except (KeyError, IndexError, TypeError) as error:
        raise RemoteError("the answer names no service_request_id") from error
    if not isinstance(request_id, str | int) or not str(request_id).strip():
        raise RemoteError("the answer names no service_request_id")
    return str(request_id).strip()


def get_requests(endpoint: Endpoint, request_ids: Sequence[str]) -> list[dict]:
    """The service requests with these ids, as the server describes them (with our api_key:
    a server that publishes requests only after review, such as fieldwalk, still shows a
    key holder the ones it has not reviewed)."""
    if not check_url(endpoint.url):
        raise RemoteError("the endpoint is not an http(s) address")
    query = {"service_request_id": ",".join(request_ids)}
    if endpoint.api_key:
        query["api_key"] = endpoint.api_key
    if endpoint.jurisdiction_id:
        query["jurisdiction_id"] = endpoint.jurisdiction_id
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        endpoint.resource("requests.json") + "?" + urllib.parse.urlencode(query),
        headers={"Accept": "application/json", "User-Agent": "fieldwalk-open311"},
    )
    _status, data = _open(request, endpoint.timeout)
    if not isinstance(data, list):
        raise RemoteError("the answer is not a list of service requests")
    return [item for item in data if isinstance(item, dict)]

"""An httpx transport over an httpcore connection pool of our own, following redirects safely.

httpx offers no public way to give its transport a different network backend, so rather than
replacing a private attribute of ``httpx.HTTPTransport`` (which would silently lose the
outbound guard if httpx renamed it), ``PoolTransport`` is a complete ``httpx.BaseTransport``
on httpcore's public API: it owns its ``httpcore.ConnectionPool``, maps httpcore's errors to
httpx's, and wraps the response stream.

It also follows redirects itself (the client must not: ``follow_redirects=False``), because
httpx keeps every header but ``Authorization`` and ``Cookie`` on a hop to another origin.
Here a cross-origin hop drops every header ``is_sensitive`` names (the same rule that decides
what is encrypted at rest), and an https → http downgrade is never followed.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator

import httpcore
import httpx

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Most specific first: the first matching class wins.
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


class RedirectRefused(httpx.TransportError):
    """A redirect that is never followed (an https → http downgrade)."""


def _mapped(exc: Exception, request: httpx.Request) -> Exception:
    for core, ours in _ERRORS:
        if isinstance(exc, core):
            return ours(str(exc), request=request)
    return exc


class _ResponseStream(httpx.SyncByteStream):
    """httpcore's response stream with its errors mapped to httpx's."""

    def __init__(self, stream: httpcore.Response, request: httpx.Request) -> None:
        self._response = stream
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._response.iter_stream()
        except Exception as exc:
            mapped = _mapped(exc, self._request)
            if mapped is exc:
                raise
            raise mapped from exc

    def close(self) -> None:
        self._response.close()


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and effective port: two URLs are the same origin when these match."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, port


class PoolTransport(httpx.BaseTransport):
    """Sends over its own connection pool; follows up to ``max_redirects`` redirects safely."""

    def __init__(
        self,
        network_backend: httpcore.NetworkBackend,
        *,
        is_sensitive: Callable[[str], bool],
        max_redirects: int = 0,
        limits: httpx.Limits | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=network_backend,
        )
        self._is_sensitive = is_sensitive
        self._max_redirects = max_redirects

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; each redirect hop is a new request through the same checks."""
        hops = 0
        while True:
            response = self._send(request)
            location = response.headers.get("Location")
            if self._max_redirects <= 0 or response.status_code not in REDIRECT_STATUSES:
                return response
            if location is None:
                return response
            if hops >= self._max_redirects:
                response.close()
                raise httpx.TooManyRedirects(
                    f"more than {self._max_redirects} redirects", request=request
                )
            response.read()
            response.close()
            request = self.next_request(request, response.status_code, location)
            hops += 1

    def next_request(self, request: httpx.Request, status: int, location: str) -> httpx.Request:
        """The request of the next hop, as a browser would make it, minus credentials when
        the origin changes; raises RedirectRefused for a downgrade to plain http."""
        try:
            url = request.url.join(location)
        except httpx.InvalidURL as exc:
            raise httpx.RemoteProtocolError(f"invalid redirect location: {exc}") from None
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"redirect to a {url.scheme or 'relative'} URL")
        if request.url.scheme == "https" and url.scheme == "http":
            raise RedirectRefused(
                f"refused redirect from https to plain http ({url.host})", request=request
            )
        method = request.method
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            method = "GET"
        headers = httpx.Headers(request.headers)
        headers.pop("Host", None)
        if origin(url) != origin(request.url):
            for name in [name for name in headers if self._is_sensitive(name)]:
                headers.pop(name, None)
        content: bytes | None = None
        if method == request.method:
            content = request.read() or None
        else:
            for name in ("Content-Length", "Transfer-Encoding", "Content-Type"):
                headers.pop(name, None)
        return httpx.Request(
            method, url, headers=headers, content=content, extensions=request.extensions
        )

    def _send(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = self._pool.handle_request(core_request)
        except Exception as exc:
            mapped = _mapped(exc, request)
            if mapped is exc:
                raise
            raise mapped from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response, request),
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()

"""Sending one signed webhook request, and refusing destinations a server must not call (SSRF).

- :func:`destination_check` parses a webhook URL and resolves its host: ``https`` only, no user
  name or password in it, and every address it resolves to must be a public one. Loopback
  (``127.0.0.0/8``, ``::1``), and plain ``http``, are allowed only to loopback and only with
  ``ATELIER_WEBHOOK_ALLOW_LOOPBACK`` (on with ``DJANGO_DEBUG=1`` and in the tests, off in
  production); private, link-local (cloud metadata at 169.254.169.254), multicast, reserved and
  unspecified addresses never.
- :func:`webhook_post` connects to the address that was checked (not to a second DNS answer: no
  DNS rebinding), with TLS verified against the host name, sends the body, follows no redirect
  and reads at most a few KB of the answer.
- :func:`signature` is the ``X-Atelier-Signature`` header: ``sha256=`` and the hex HMAC-SHA256,
  keyed with the webhook's secret, of ``"{timestamp}.{body}"`` (the timestamp is the
  ``X-Atelier-Timestamp`` header, Unix seconds), so a receiver checks both the body and its age.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

__all__ = ["DestinationRefused", "Response", "destination_check", "signature", "webhook_post"]

#: Bytes of a receiver's answer kept for the delivery log.
ANSWER_LIMIT = 2048


class DestinationRefused(Exception):
    """The URL is not one Atelier sends webhooks to; the message says why and what to use instead."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    path: str
    address: str


@dataclass(frozen=True)
class Response:
    status: int
    text: str


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with ``secret`` of ``b"{timestamp}." + body``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _address_refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_loopback: bool) -> str:
    if address.is_loopback:
        return "" if allow_loopback else "a loopback address (this server itself)"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _address_refusal(address.ipv4_mapped, allow_loopback=allow_loopback)
    if address.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if address.is_private:
        return "a private network address"
    if address.is_multicast or address.is_reserved or address.is_unspecified or not address.is_global:
        return "a reserved or non-public address"
    return ""


def destination_check(url: str, *, resolve: bool = True) -> Destination | None:
    """Check ``url`` as a webhook destination; returns it with the one address to connect to.

    ``resolve=False`` checks only the form (scheme, credentials, literal addresses) and returns
    None: creating a webhook does that, every delivery resolves again and checks the addresses.

    Raises:
        DestinationRefused: with a message that says what was wrong.
    """
    allow_loopback = bool(settings.ATELIER_WEBHOOK_ALLOW_LOOPBACK)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise DestinationRefused(f"{url!r} is not an https:// address; webhooks are sent over HTTPS.")
    if parts.username or parts.password:
        raise DestinationRefused("Put no user name or password in the webhook URL; verify the signature instead.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise DestinationRefused(f"{url!r} names no host.")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as error:
        raise DestinationRefused(f"{url!r} has an invalid port.") from error
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        literal = ipaddress.ip_address("127.0.0.1")
    if scheme == "http" and not (allow_loopback and literal is not None and literal.is_loopback):
        raise DestinationRefused(
            f"{url!r} is plain http: use an https:// address (http is accepted only for a loopback "
            "receiver in development and tests)."
        )
    if literal is not None:
        refusal = _address_refusal(literal, allow_loopback=allow_loopback)
        if refusal:
            raise DestinationRefused(f"{url!r} points at {refusal}; webhooks go to public addresses only.")
    if not resolve:
        return None
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise DestinationRefused(f"The host {host!r} does not resolve ({error.strerror or error}).") from error
    addresses = [answer[4][0] for answer in answers]
    for address in addresses:
        refusal = _address_refusal(ipaddress.ip_address(address.split("%")[0]), allow_loopback=allow_loopback)
        if refusal:
            raise DestinationRefused(
                f"{host!r} resolves to {address}, {refusal}; webhooks go to public addresses only."
            )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Destination(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, destination: Destination, timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._address = destination.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, destination: Destination, timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout, context=ssl.create_default_context())
        self._address = destination.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def webhook_post(destination: Destination, *, body: bytes, headers: dict[str, str], timeout: float) -> Response:
    """POST ``body`` to the checked ``destination``; returns the status and the start of the answer.

    Raises OSError (connection refused, timeout, TLS failure) and http.client.HTTPException.
    """
    connection_class = _PinnedHTTPSConnection if destination.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(destination, timeout)
    try:
        connection.request("POST", destination.path, body=body, headers=headers)
        answer = connection.getresponse()
        text = answer.read(ANSWER_LIMIT).decode("utf-8", errors="replace")
        return Response(status=answer.status, text=text)
    finally:
        connection.close()

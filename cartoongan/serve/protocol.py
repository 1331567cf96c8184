"""uvicorn's HTTP/1.1 protocol (h11) with what it lacks in front of untrusted clients:

- a deadline for a request's headers: uvicorn arms no timer until a first response is
  sent, so a connection that sends nothing, or half a request line, stayed open for ever;
- a limit on a request's head (request line and headers) that holds however it arrives:
  h11 measures only a head still incomplete, so one that came whole in a read passed at any
  size (a 40 KB header was answered 200);
- its own refusals (a malformed request, headers over the size limit) in the API's JSON
  shape {"error": ...}, with X-Content-Type-Options: nosniff, instead of plain text.

The body's deadline is the app's (`app.Limits.read_timeout`): only the app reads bodies.
`server.uvicorn_config` picks this protocol; the protocol runs in uvicorn's event loop.
"""

import json
import re

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from cartoongan.serve.app import DEFAULT_READ_TIMEOUT, NOSNIFF  # NOSNIFF: on every answer, the app's and these

MAX_HEADER_BYTES = 16 * 1024  # h11's default, set explicitly (uvicorn_config) so the 431 can say it
_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}
_BLANK_LINE = re.compile(b"\n\r?\n")  # the end of a head, as h11 finds it


def guarded_protocol(header_timeout=DEFAULT_READ_TIMEOUT):
    """The protocol class for uvicorn.Config(http=...), with `header_timeout` seconds for a
    request's headers to arrive in full (from the connection, or from a keep-alive request's
    first byte)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"header_timeout": float(header_timeout)})


def error_response(status, message):
    """A complete HTTP/1.1 answer that closes the connection, in the API's JSON shape."""
    body = json.dumps({"error": message}).encode()
    head = [b"HTTP/1.1 %d %s" % (status, _REASONS[status]), b"content-type: application/json",
            b"content-length: %d" % len(body), b"connection: close", b"%s: %s" % NOSNIFF]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class GuardedH11Protocol(H11Protocol):
    header_timeout = DEFAULT_READ_TIMEOUT
    _header_timer = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self._arm()

    def data_received(self, data):
        super().data_received(data)
        # IDLE: h11 still waits for (the rest of) a request's headers. The deadline runs from
        # the first byte, not the last: a byte every few seconds must not keep it open.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            if self._header_timer is None:
                self._arm()
        else:
            self._disarm()

    def handle_events(self):
        # IDLE: what h11 holds is a head not parsed yet (on a new or a kept-alive connection).
        if self.conn.their_state is h11.IDLE and _head_too_large(self.conn.trailing_data[0], self._max_head()):
            self._refuse(error_response(431, f"request headers over {self._max_head() // 1024} KB"),
                         "request headers too large")
            return
        super().handle_events()

    def connection_lost(self, exc):
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self):
        self._disarm()  # uvicorn's keep-alive timer takes over between requests
        super().on_response_complete()

    def send_400_response(self, msg):
        ceiling = self._max_head()
        if self.conn.their_state is h11.ERROR and len(self.conn.trailing_data[0]) > ceiling:  # h11's "buffer too long"
            answer = error_response(431, f"request headers over {ceiling // 1024} KB")
        else:
            answer = error_response(400, "malformed HTTP request (request line, headers or chunked body)")
        self._refuse(answer, msg)

    def _max_head(self):
        return self.config.h11_max_incomplete_event_size or MAX_HEADER_BYTES

    def _refuse(self, answer, reason):
        self.logger.warning("%s", reason)
        self._disarm()
        self.transport.write(answer)
        self.transport.close()

    def _arm(self):
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self):
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self):
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        self.transport.write(error_response(408, f"the request's headers did not arrive within "
                                                 f"{self.header_timeout:g} s"))
        self.transport.close()


def _head_too_large(buffer, limit):
    """Whether the head at the start of `buffer` (complete or not) is over `limit` bytes."""
    end = _BLANK_LINE.search(buffer, 0, limit + 2)
    return (end.end() if end else len(buffer)) > limit

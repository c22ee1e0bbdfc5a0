"""Server-sent events: bytes to :class:`~airflow_lg.schema.StreamPart` objects, as the SSE spec
splits them (no I/O here; the transports feed it chunks)."""

from __future__ import annotations

import codecs
import json
import re

from airflow_lg.schema import StreamPart


def stream_part(event: str, data: str, event_id: str | None) -> StreamPart:
    """One SSE event as a :class:`StreamPart`; data is JSON (empty data becomes None)."""
    try:
        decoded = json.loads(data) if data else None
    except ValueError:
        decoded = data
    return StreamPart(event or "message", decoded, event_id or None)


_NEWLINE = re.compile(r"\r\n|\r|\n")


class LineDecoder:
    """Bytes to lines, split only at ``\n``, ``\r`` and ``\r\n`` as SSE defines them.

    Not ``str.splitlines()`` (nor httpx's ``iter_lines``): they also split at U+2028, U+2029
    and U+0085, which the server sends raw inside JSON strings, and would cut an event's data.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[str] = []  # the line being received, in pieces

    def feed(self, chunk: bytes) -> list[str]:
        new = self._decoder.decode(chunk)
        held = bool(self._pending) and self._pending[-1].endswith("\r")
        if not held and "\n" not in new and "\r" not in new:
            # a long line (a state of megabytes) arrives in many chunks: keep each piece,
            # never re-scan what came before
            if new:
                self._pending.append(new)
            return []
        text = "".join(self._pending) + new
        last_held = ""
        if text.endswith("\r"):  # maybe the first half of \r\n: wait for the next chunk
            text, last_held = text[:-1], "\r"
        *lines, last = _NEWLINE.split(text)
        rest = last + last_held
        self._pending = [rest] if rest else []
        return lines

    def flush(self) -> list[str]:
        rest = "".join(self._pending) + self._decoder.decode(b"", final=True)
        self._pending = []
        return _NEWLINE.split(rest.rstrip("\r")) if rest else []


class SSEParser:
    """Bytes of an event stream to :class:`StreamPart` objects."""

    def __init__(self) -> None:
        self._lines = LineDecoder()
        self._events = SSEDecoder()

    def feed(self, chunk: bytes) -> list[StreamPart]:
        return self._parts(self._lines.feed(chunk))

    def flush(self) -> list[StreamPart]:
        """At EOF: the last line ends; an event not ended by a blank line is dropped."""
        return self._parts(self._lines.flush())

    def _parts(self, lines: list[str]) -> list[StreamPart]:
        return [part for line in lines if (part := self._events.feed(line)) is not None]


class SSEDecoder:
    """Server-sent events, line by line: ``event:``/``data:``/``id:`` fields, a blank line ends
    an event, lines starting with ``:`` are comments (the server's 5 s heartbeats)."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> StreamPart | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self) -> StreamPart | None:
        if not self._data and not self._event:
            self._id = None
            return None
        part = stream_part(self._event, "\n".join(self._data), self._id)
        self._event, self._data, self._id = "", [], None
        return part

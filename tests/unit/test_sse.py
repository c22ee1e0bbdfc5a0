"""Server-sent events: the line decoder and the cursor that makes a broken stream resumable."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from airflow_lg import wire as _wire
from airflow_lg.exceptions import LangGraphConnectionError, LangGraphStreamInterruptedError
from airflow_lg.hooks._settings import RetryPolicy
from airflow_lg.schema import StreamPart
from airflow_lg.wire import SSEDecoder, SSEParser, StreamCursor
from tests.unit.helpers import response


def decode(lines: Iterable[str]) -> list[StreamPart]:
    decoder = SSEDecoder()
    return [part for line in lines if (part := decoder.feed(line)) is not None]


# ---- SSEDecoder -----------------------------------------------------------------------------


def test_comments_and_heartbeats_are_ignored():
    assert decode([": heartbeat", "", ":", "", ": another comment"]) == []


def test_an_empty_line_with_nothing_pending_yields_nothing():
    decoder = SSEDecoder()
    assert decoder.feed("") is None
    assert decoder.feed("") is None


def test_event_data_and_id_make_one_part():
    parts = decode(
        ["event: metadata", 'data: {"run_id": "R1", "attempt": 1}', "id: 1700000000000-0", ""]
    )
    assert parts == [StreamPart("metadata", {"run_id": "R1", "attempt": 1}, "1700000000000-0")]


def test_an_event_is_only_dispatched_by_a_blank_line():
    decoder = SSEDecoder()
    assert decoder.feed("event: values") is None
    assert decoder.feed('data: {"n": 1}') is None
    assert decoder.feed("") == StreamPart("values", {"n": 1}, None)


def test_multi_line_data_is_joined_with_newlines():
    assert decode(["event: custom", "data: line one", "data: line two", ""]) == [
        StreamPart("custom", "line one\nline two", None)
    ]
    assert decode(['data: {"a":', "data: [1,", "data: 2]}", ""]) == [
        StreamPart("message", {"a": [1, 2]}, None)
    ]


def test_data_without_event_is_a_message():
    assert decode(['data: {"x": 1}', ""]) == [StreamPart("message", {"x": 1}, None)]


def test_json_data_is_decoded_and_other_data_is_kept_as_text():
    parts = decode(
        [
            "event: updates",
            'data: {"agent": {"messages": []}}',
            "",
            "event: custom",
            "data: plain words",
            "",
            "event: messages",
            'data: [{"content": "hi"}, {"node": "agent"}]',
            "",
            "event: custom",
            "data: 42",
            "",
            "event: custom",
            "data: {not json",
            "",
        ]
    )
    assert [p.data for p in parts] == [
        {"agent": {"messages": []}},
        "plain words",
        [{"content": "hi"}, {"node": "agent"}],
        42,
        "{not json",
    ]


def test_an_error_event_is_decoded_like_any_other():
    assert decode(["event: error", 'data: {"error": "ValueError", "message": "boom"}', ""]) == [
        StreamPart("error", {"error": "ValueError", "message": "boom"}, None)
    ]


def test_one_leading_space_is_stripped_from_a_value_and_no_more():
    assert decode(["event:custom", "data:tight", ""]) == [StreamPart("custom", "tight", None)]
    assert decode(["event: custom", "data:   padded", ""]) == [
        StreamPart("custom", "  padded", None)
    ]


def test_fields_do_not_leak_from_one_event_into_the_next():
    parts = decode(["event: values", "id: 5-0", 'data: {"n": 1}', "", 'data: {"n": 2}', ""])
    assert parts == [StreamPart("values", {"n": 1}, "5-0"), StreamPart("message", {"n": 2}, None)]


def test_comments_and_unknown_fields_inside_an_event_do_not_break_it():
    parts = decode(["event: values", ": heartbeat", "retry: 3000", "bogus", 'data: {"n": 1}', ""])
    assert parts == [StreamPart("values", {"n": 1}, None)]


def test_an_id_containing_nul_is_ignored():
    assert decode(["id: bad\0id", "data: 1", ""]) == [StreamPart("message", 1, None)]


def test_a_realistic_stream_decodes_in_order():
    lines = [
        "event: metadata",
        'data: {"run_id": "R1", "attempt": 1}',
        "id: 1-0",
        "",
        ": heartbeat",
        "",
        "event: values",
        'data: {"messages": ["hi"]}',
        "id: 1-1",
        "",
        "event: custom",
        'data: {"progress": 0.5}',
        "id: 1-2",
        "",
    ]
    assert decode(lines) == [
        StreamPart("metadata", {"run_id": "R1", "attempt": 1}, "1-0"),
        StreamPart("values", {"messages": ["hi"]}, "1-1"),
        StreamPart("custom", {"progress": 0.5}, "1-2"),
    ]


def test_an_event_cut_off_at_eof_is_dropped_but_a_complete_one_is_kept():
    parser = SSEParser()
    assert parser.feed(b'event: values\ndata: {"n": 1}') == []
    assert parser.flush() == []
    parser = SSEParser()
    assert parser.feed(b'event: values\r\ndata: {"n": 1}\r\n\r') == []
    assert parser.flush() == [StreamPart("values", {"n": 1}, None)]


def test_the_parser_splits_lines_only_where_sse_does_not_at_unicode_separators():
    # the server sends U+2028/U+2029/U+0085 raw inside JSON strings
    text = "a\u2028b\u2029c\u0085d"
    raw = ('event: custom\r\ndata: {"t": "' + text + '"}\r\n\r\n').encode()
    assert SSEParser().feed(raw) == [StreamPart("custom", {"t": text}, None)]


def test_the_parser_joins_events_and_utf8_characters_split_across_chunks():
    raw = 'event: custom\r\ndata: {"t": "é"}\r\n\r\n'.encode()
    parser = SSEParser()
    parts = [p for i in range(len(raw)) for p in parser.feed(raw[i : i + 1])]
    assert parts == [StreamPart("custom", {"t": "é"}, None)]


def test_consecutive_breaks_without_an_event_give_up_but_progress_resets_the_count():
    cursor = StreamCursor(resumable_stream("T"))
    cursor.run_id = "R"
    cursor.accept(StreamPart("values", {}, "1-0"))
    cursor.resume(TimeoutError(), 3)
    cursor.resume(TimeoutError(), 3)
    cursor.accept(StreamPart("values", {}, "2-0"))  # progress: the count starts again
    cursor.resume(TimeoutError(), 3)
    cursor.resume(TimeoutError(), 3)
    with pytest.raises(LangGraphConnectionError, match="3 times in a row"):
        cursor.resume(TimeoutError(), 3)


def test_a_stream_that_sent_events_without_ids_cannot_resume_without_repeating_them():
    cursor = StreamCursor(resumable_stream("T"))
    cursor.run_id = "R"
    cursor.accept(StreamPart("values", {}, None))
    with pytest.raises(LangGraphStreamInterruptedError):
        cursor.resume(TimeoutError(), MAX_BREAKS)


# ---- StreamCursor ---------------------------------------------------------------------------

POLICY = RetryPolicy(max_attempts=4)
MAX_BREAKS = 5


def resumable_stream(thread_id: str | None = "T1", **kwargs) -> _wire.StreamCall:
    return _wire.stream_run(
        thread_id,
        "agent",
        stream_mode=["values", "custom"],
        stream_resumable=True,
        headers={"X-Request": "r1"},
        retry=POLICY,
        **kwargs,
    )


def test_the_cursor_learns_the_run_from_the_response_headers_and_reports_it_once():
    created = []
    cursor = StreamCursor(resumable_stream(None), created.append)
    cursor.on_response(response(headers={"Content-Location": "/threads/T9/runs/R9"}))
    assert (cursor.run_id, cursor.thread_id) == ("R9", "T9")
    cursor.on_response(response(headers={"Content-Location": "/threads/T0/runs/R0"}))
    assert (cursor.run_id, cursor.thread_id) == ("R9", "T9")
    assert created == [{"run_id": "R9", "thread_id": "T9"}]


def test_a_stateless_content_location_keeps_the_known_thread():
    cursor = StreamCursor(resumable_stream("T1"))
    cursor.on_response(response(headers={"Content-Location": "/runs/R2"}))
    assert (cursor.run_id, cursor.thread_id) == ("R2", "T1")


def test_a_response_without_content_location_reports_nothing():
    created = []
    cursor = StreamCursor(resumable_stream(), created.append)
    cursor.on_response(response())
    assert (cursor.run_id, created) == (None, [])


def test_the_cursor_learns_the_run_from_the_metadata_event():
    cursor = StreamCursor(resumable_stream("T1"))
    metadata = StreamPart("metadata", {"run_id": "R5", "attempt": 1}, None)
    assert cursor.accept(metadata) is metadata
    assert (cursor.run_id, cursor.thread_id) == ("R5", "T1")
    cursor.accept(StreamPart("metadata", {"run_id": "other", "attempt": 2}, None))
    assert cursor.run_id == "R5"


def test_the_cursor_drops_an_event_a_rejoin_replays_with_an_id_already_seen():
    cursor = StreamCursor(resumable_stream())
    cursor.on_response(response())
    first = StreamPart("values", {"n": 1}, "1-1")
    second = StreamPart("values", {"n": 2}, "1-2")
    assert cursor.accept(first) is first
    assert cursor.accept(second) is second
    cursor.on_response(response())  # the re-join's connection
    assert cursor.accept(StreamPart("values", {"n": 1}, "1-1")) is None
    assert cursor.accept(StreamPart("values", {"n": 2}, "1-2")) is None
    assert cursor.last_event_id == "1-2"
    anonymous = StreamPart("custom", "x", None)
    assert cursor.accept(anonymous) is anonymous
    assert cursor.accept(anonymous) is anonymous  # no id: nothing to deduplicate on
    assert cursor.last_event_id == "1-2"


def test_two_events_of_one_connection_with_the_same_id_are_both_kept():
    # langgraph dev gives events of the same millisecond the same id (a token stream)
    cursor = StreamCursor(resumable_stream())
    cursor.on_response(response())
    said = StreamPart("messages", [{"id": "m", "content": "said:"}, {}], "1796143019082-0")
    space = StreamPart("messages", [{"id": "m", "content": " "}, {}], "1796143019082-0")
    assert cursor.accept(said) is said
    assert cursor.accept(space) is space


def test_resume_joins_the_stream_after_the_last_event_with_the_original_modes():
    cursor = StreamCursor(resumable_stream())
    cursor.on_response(response(headers={"Content-Location": "/threads/T1/runs/R1"}))
    cursor.accept(StreamPart("values", {"n": 1}, "1700000000000-4"))
    resumed = cursor.resume(ConnectionResetError("reset"), MAX_BREAKS)
    assert cursor.stream is resumed
    assert resumed.resumable is True
    assert (resumed.thread_id, resumed.run_id) == ("T1", "R1")
    assert resumed.resume_modes == ["values", "custom"]
    call = resumed.call
    assert (call.method, call.path, call.json) == ("GET", "/threads/T1/runs/R1/stream", None)
    assert call.headers == {"X-Request": "r1", "Last-Event-ID": "1700000000000-4"}
    assert call.params == {"cancel_on_disconnect": "false", "stream_mode": '["values", "custom"]'}
    assert call.retry is POLICY
    assert call.creates_run is False


def test_resume_before_any_event_id_replays_everything():
    cursor = StreamCursor(resumable_stream())
    cursor.on_response(response(headers={"Content-Location": "/threads/T1/runs/R1"}))
    assert cursor.resume(TimeoutError(), MAX_BREAKS).call.headers == {
        "X-Request": "r1",
        "Last-Event-ID": "-1",
    }


def test_resuming_twice_sends_only_the_newest_last_event_id():
    cursor = StreamCursor(resumable_stream())
    cursor.on_response(response(headers={"Content-Location": "/threads/T1/runs/R1"}))
    cursor.accept(StreamPart("values", 1, "1-1"))
    cursor.resume(TimeoutError(), MAX_BREAKS)
    cursor.accept(StreamPart("values", 1, "1-1"))  # replayed: dropped
    cursor.accept(StreamPart("values", 2, "1-2"))
    again = cursor.resume(TimeoutError(), MAX_BREAKS)
    assert again.call.headers == {"X-Request": "r1", "Last-Event-ID": "1-2"}
    assert again.call.params == {
        "cancel_on_disconnect": "false",
        "stream_mode": '["values", "custom"]',
    }


def test_a_callers_own_last_event_id_header_is_replaced_on_resume():
    cursor = StreamCursor(
        _wire.join_stream("T1", "R1", headers={"last-event-id": "0-0", "X-Request": "r1"})
    )
    cursor.accept(StreamPart("values", 1, "3-3"))
    assert cursor.resume(TimeoutError(), MAX_BREAKS).call.headers == {
        "X-Request": "r1",
        "Last-Event-ID": "3-3",
    }


def test_a_join_stream_resumes_with_its_own_modes():
    cursor = StreamCursor(_wire.join_stream("T1", "R1", stream_mode="updates"))
    assert (cursor.run_id, cursor.thread_id) == ("R1", "T1")
    cursor.accept(StreamPart("updates", {}, "2-0"))
    resumed = cursor.resume(TimeoutError(), MAX_BREAKS)
    assert resumed.call.params == {"cancel_on_disconnect": "false", "stream_mode": "updates"}
    assert resumed.call.headers == {"Last-Event-ID": "2-0"}


def test_a_non_resumable_stream_raises_stream_interrupted_with_the_run_ids():
    cursor = StreamCursor(_wire.stream_run("T1", "agent"))
    cursor.on_response(response(headers={"Content-Location": "/threads/T1/runs/R1"}))
    cursor.accept(StreamPart("values", 1, None))
    with pytest.raises(LangGraphStreamInterruptedError) as caught:
        cursor.resume(ConnectionResetError("peer reset"), MAX_BREAKS)
    error = caught.value
    assert (error.run_id, error.thread_id) == ("R1", "T1")
    message = str(error)
    assert "POST /threads/T1/runs/stream broke off (peer reset)" in message
    assert "stream_resumable=True" in message
    assert "run R1 on thread T1 may still be running" in message
    assert isinstance(error, LangGraphConnectionError)
    assert _wire.is_retryable(error, _wire.get_run("T1", "R1")) is False


def test_a_stream_whose_run_is_unknown_cannot_be_resumed():
    cursor = StreamCursor(resumable_stream("T1"))
    with pytest.raises(LangGraphStreamInterruptedError) as caught:
        cursor.resume(TimeoutError("t"), MAX_BREAKS)
    assert (caught.value.run_id, caught.value.thread_id) == (None, "T1")
    assert "run ? on thread T1" in str(caught.value)


def test_a_stateless_stream_cannot_be_resumed_without_a_thread_id():
    # The server names a stateless stream's run as /runs/{R}: no thread to join it on.
    cursor = StreamCursor(resumable_stream(None))
    cursor.on_response(response(headers={"Content-Location": "/runs/R3"}))
    with pytest.raises(LangGraphStreamInterruptedError) as caught:
        cursor.resume(TimeoutError("t"), MAX_BREAKS)
    assert (caught.value.run_id, caught.value.thread_id) == ("R3", None)
    message = str(caught.value)
    assert "the server does not say which thread a stateless run is on" in message
    assert "run R3 may still be running" in message
    assert "create the run with stream_resumable=True" not in message  # it was resumable


def test_a_long_line_in_many_chunks_and_a_crlf_across_two_are_one_line_each():
    from airflow_lg.wire.sse import LineDecoder

    decoder = LineDecoder()
    big = "x" * 100_000
    pieces = [big[i : i + 1000].encode() for i in range(0, len(big), 1000)]
    lines = [line for piece in pieces for line in decoder.feed(piece)]
    lines += decoder.feed(b"\r") + decoder.feed(b"\nnext") + decoder.feed(b"\r\n")
    assert lines == [big, "next"]
    assert decoder.flush() == []

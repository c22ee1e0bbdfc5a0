"""The runs API on the wire, without any I/O: the one place that knows paths, parameter names,
bodies, answers and failures. The hook's sync and async transports send what this builds and
read answers with it, so they cannot drift apart.

- :mod:`.calls` — :class:`Call` / :class:`StreamCall`, paths, bodies, httpx arguments;
- :mod:`.runs`, :mod:`.threads` — one builder per SDK method, with the SDK's signature;
- :mod:`.responses` — bodies, typed HTTP errors, failed runs inside an HTTP 200;
- :mod:`.retries` — what a broken exchange becomes, what is retried, how long to wait;
- :mod:`.streams` — the cursor that resumes a broken stream; :mod:`.sse` — the SSE parser.
"""

from airflow_lg.wire.calls import (
    LONG_POLL_MIN_READ,
    Call,
    StreamCall,
    call_timeout,
    encode_json,
    merged_params,
    read_timeout,
    request_args,
    run_body,
    run_path,
    stream_mode_param,
)
from airflow_lg.wire.payloads import check_batch_payload
from airflow_lg.wire.responses import (
    check_run_result,
    decode_body,
    decode_response,
    http_error,
    notify_run_created,
    retry_after_seconds,
    run_metadata,
)
from airflow_lg.wire.retries import (
    OUTAGE_STATUS,
    RETRYABLE_STATUS,
    Rejoin,
    broken_body,
    is_outage,
    is_retryable,
    retry_after_too_long,
    retry_wait,
    transport_error,
)
from airflow_lg.wire.runs import (
    cancel_run,
    create_batch,
    create_run,
    delete_run,
    get_run,
    join_run,
    join_stream,
    list_runs,
    stream_run,
    wait_run,
)
from airflow_lg.wire.sse import LineDecoder, SSEDecoder, SSEParser, stream_part
from airflow_lg.wire.streams import StreamCursor, v2_part
from airflow_lg.wire.threads import (
    create_thread,
    get_assistant_schemas,
    get_thread,
    get_thread_history,
    get_thread_state,
    health,
    info,
    search_assistants,
    search_threads,
)

__all__ = [
    "LONG_POLL_MIN_READ",
    "OUTAGE_STATUS",
    "RETRYABLE_STATUS",
    "Call",
    "LineDecoder",
    "Rejoin",
    "SSEDecoder",
    "SSEParser",
    "StreamCall",
    "StreamCursor",
    "broken_body",
    "call_timeout",
    "cancel_run",
    "check_batch_payload",
    "check_run_result",
    "create_batch",
    "create_run",
    "create_thread",
    "decode_body",
    "decode_response",
    "delete_run",
    "encode_json",
    "get_assistant_schemas",
    "get_run",
    "get_thread",
    "get_thread_history",
    "get_thread_state",
    "health",
    "http_error",
    "info",
    "is_outage",
    "is_retryable",
    "join_run",
    "join_stream",
    "list_runs",
    "merged_params",
    "notify_run_created",
    "read_timeout",
    "request_args",
    "retry_after_seconds",
    "retry_after_too_long",
    "retry_wait",
    "run_body",
    "run_metadata",
    "run_path",
    "search_assistants",
    "search_threads",
    "stream_mode_param",
    "stream_part",
    "stream_run",
    "transport_error",
    "v2_part",
    "wait_run",
]

"""Connection fields and extras → ClientSettings, and the RetryPolicy they carry."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from airflow_lg.exceptions import LangGraphConfigError
from airflow_lg.hooks import _settings
from airflow_lg.hooks._settings import (
    DEFAULT_TIMEOUT,
    ClientSettings,
    RetryPolicy,
    base_url_of,
    settings_from_connection,
)

KEY = "lg-secret-key-0123456789"
ENV_KEYS = ("LANGSMITH_API_KEY", "LANGGRAPH_API_KEY", "LANGCHAIN_API_KEY")


def settings(
    extra: dict[str, Any] | None = None,
    *,
    host: str | None = "http://127.0.0.1:2024",
    schema: str | None = None,
    port: int | None = None,
    password: str | None = None,
) -> ClientSettings:
    return settings_from_connection(host, schema, port, password, extra or {})


# ---- the server URL -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "schema", "port", "expected"),
    [
        ("http://127.0.0.1:2024", None, None, "http://127.0.0.1:2024"),
        ("http://127.0.0.1:2024/", None, None, "http://127.0.0.1:2024"),
        ("  http://127.0.0.1:2024  ", None, None, "http://127.0.0.1:2024"),
        ("HTTP://Agents.Internal:2024", None, None, "http://Agents.Internal:2024"),
        ("http://127.0.0.1:2024", None, 2024, "http://127.0.0.1:2024"),
    ],
)
def test_base_url_is_taken_from_a_full_url_in_host(host, schema, port, expected):
    assert base_url_of(host, schema, port) == expected


@pytest.mark.parametrize(
    ("host", "schema", "port", "expected"),
    [
        ("agents.internal", "http", 8123, "http://agents.internal:8123"),
        ("agents.internal", None, 8123, "http://agents.internal:8123"),
        ("agents.internal", None, None, "http://agents.internal"),
        ("agents.internal", "", None, "http://agents.internal"),
        ("http://agents.internal", None, 8123, "http://agents.internal:8123"),
    ],
)
def test_base_url_is_built_from_host_schema_and_port(host, schema, port, expected):
    assert base_url_of(host, schema, port) == expected


@pytest.mark.parametrize(
    ("host", "schema", "port", "expected"),
    [
        ("https://lg.example.com", None, None, "https://lg.example.com"),
        ("lg.example.com", "https", None, "https://lg.example.com"),
        ("lg.example.com", " HTTPS ", 8443, "https://lg.example.com:8443"),
    ],
)
def test_base_url_supports_https(host, schema, port, expected):
    assert base_url_of(host, schema, port) == expected


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("https://gw.example.com/langgraph", None, "https://gw.example.com/langgraph"),
        ("https://gw.example.com/langgraph/", None, "https://gw.example.com/langgraph"),
        ("https://gw.example.com/a/b/", 8443, "https://gw.example.com:8443/a/b"),
        ("gw.example.com/langgraph", None, "http://gw.example.com/langgraph"),
    ],
)
def test_base_url_keeps_a_path_prefix_without_its_trailing_slash(host, port, expected):
    assert base_url_of(host, None, port) == expected


@pytest.mark.parametrize("host", [None, "", "   "])
def test_a_connection_without_host_is_a_config_error_naming_the_host(host):
    with pytest.raises(LangGraphConfigError, match="has no host"):
        settings(host=host)


@pytest.mark.parametrize(
    ("host", "schema"),
    [("ftp://lg.example.com", None), ("lg.example.com", "ftp"), ("ws://lg.example.com", None)],
)
def test_a_scheme_other_than_http_or_https_is_rejected(host, schema):
    with pytest.raises(LangGraphConfigError, match=r"expected http\(s\)://host\[:port\]"):
        base_url_of(host, schema, None)


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("http://lg.example.com:notaport", "invalid"),
        ("http://[::1", "invalid"),
        ("http://", "expected http"),
        ("http:///only/a/path", "expected http"),
    ],
)
def test_a_malformed_url_is_a_config_error_quoting_it(host, reason):
    with pytest.raises(LangGraphConfigError) as caught:
        base_url_of(host, None, None)
    message = str(caught.value)
    assert repr(host) in message
    assert reason in message


def test_a_port_field_conflicting_with_the_url_port_is_a_config_error_naming_the_field():
    with pytest.raises(LangGraphConfigError) as caught:
        settings(host="http://127.0.0.1:2024", port=8000)
    message = str(caught.value)
    assert "port field" in message
    assert "port 2024" in message
    assert "8000" in message


# ---- extras: headers ------------------------------------------------------------------------


def test_extra_headers_given_as_a_dict_are_sent_with_string_values():
    s = settings({"headers": {"X-Tenant": "acme", "X-Shard": 3}})
    assert s.headers == {"X-Tenant": "acme", "X-Shard": "3"}
    assert s.request_headers() == {"X-Tenant": "acme", "X-Shard": "3"}


def test_extra_headers_given_as_a_json_string_are_parsed():
    s = settings({"headers": '{"X-Tenant": "acme"}'})
    assert s.headers == {"X-Tenant": "acme"}


@pytest.mark.parametrize("value", [None, "", {}])
def test_missing_or_empty_extra_headers_mean_no_headers(value):
    assert settings({"headers": value}).headers == {}


def test_extra_headers_with_bad_json_is_a_config_error_naming_the_field():
    with pytest.raises(LangGraphConfigError, match="extra 'headers' is not valid JSON"):
        settings({"headers": '{"X-Tenant": acme}'})


@pytest.mark.parametrize("value", ['["X-Tenant"]', '"acme"', ["X-Tenant"], 3])
def test_extra_headers_that_are_not_an_object_are_a_config_error(value):
    with pytest.raises(LangGraphConfigError, match="extra 'headers' must be a JSON object"):
        settings({"headers": value})


# ---- extras: timeout ------------------------------------------------------------------------


def test_default_timeout_is_used_when_no_timeout_is_given():
    expected = {"connect": 5.0, "read": 60.0, "write": 30.0, "pool": 30.0, "response": 10.0}
    assert expected == DEFAULT_TIMEOUT
    assert settings().timeout == expected
    assert settings({"timeout": None}).timeout == expected
    assert settings({"timeout": ""}).timeout == expected


@pytest.mark.parametrize(("value", "seconds"), [(12, 12.0), (2.5, 2.5), ("90", 90.0)])
def test_a_number_timeout_applies_to_every_phase(value, seconds):
    assert settings({"timeout": value}).timeout == dict.fromkeys(
        ("connect", "read", "write", "pool", "response"), seconds
    )


def test_a_timeout_json_object_string_overrides_only_the_phases_it_names():
    s = settings({"timeout": '{"read": 120, "connect": "2"}'})
    # response follows an explicit read (short calls waited `read` before it existed)
    assert s.timeout == {
        "connect": 2.0, "read": 120.0, "write": 30.0, "pool": 30.0, "response": 120.0
    }


def test_a_timeout_dict_overrides_only_the_phases_it_names():
    s = settings({"timeout": {"pool": 1, "write": 4.5}})
    assert s.timeout == {"connect": 5.0, "read": 60.0, "write": 4.5, "pool": 1.0, "response": 10.0}
    assert s.httpx_timeout() == httpx.Timeout(connect=5.0, read=60.0, write=4.5, pool=1.0)


def test_a_timeout_with_an_unknown_phase_is_a_config_error_listing_it():
    with pytest.raises(LangGraphConfigError) as caught:
        settings({"timeout": {"reed": 10}})
    message = str(caught.value)
    assert "extra 'timeout' has unknown key(s) ['reed']" in message
    assert "['connect', 'pool', 'read', 'response', 'write']" in message


@pytest.mark.parametrize("value", [0, -1, {"response": 0}])
def test_a_timeout_of_zero_or_less_is_a_config_error(value):
    with pytest.raises(LangGraphConfigError, match="extra 'timeout' must be seconds"):
        settings({"timeout": value})


def test_short_calls_wait_seconds_for_an_answer_and_long_polls_a_minute_of_silence():
    s = settings({})
    assert (s.timeout["response"], s.timeout["read"]) == (10.0, 60.0)


@pytest.mark.parametrize("value", ["soon", {"read": "soon"}, {"read": None}, [5], '{"read": []}'])
def test_a_timeout_that_is_not_seconds_is_a_config_error_naming_the_field(value):
    with pytest.raises(LangGraphConfigError, match="extra 'timeout' must be seconds"):
        settings({"timeout": value})


def test_a_timeout_json_object_with_bad_json_is_a_config_error_naming_the_field():
    with pytest.raises(LangGraphConfigError, match="extra 'timeout' is not valid JSON"):
        settings({"timeout": "{read: 10}"})


# ---- extras: verify -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("false", False),
        ("False", False),
        ("TRUE", True),
        ("true", True),
        ("/etc/ssl/certs/corp-ca.pem", "/etc/ssl/certs/corp-ca.pem"),
    ],
)
def test_verify_accepts_booleans_boolean_strings_and_a_ca_bundle_path(value, expected):
    assert settings({"verify": value}).verify == expected


def test_verify_defaults_to_true():
    assert settings().verify is True


@pytest.mark.parametrize("value", [1, 0, ["/ca.pem"], {"path": "/ca.pem"}])
def test_a_verify_that_is_neither_a_boolean_nor_a_path_is_a_config_error_naming_it(value):
    with pytest.raises(LangGraphConfigError, match="extra 'verify' must be true, false or a CA"):
        settings({"verify": value})


@pytest.mark.parametrize("value", [None, ""])
def test_an_unset_verify_from_the_connection_form_means_verify(value):
    # The provider's own form declares verify as {"type": ["string", "null"]}, with no default:
    # a connection saved without touching the field carries null (like headers, timeout and
    # retry, which all read null and "" as "not set").
    assert settings({"verify": value}).verify is True


# ---- extras: retry and other numbers --------------------------------------------------------


def test_retry_overrides_replace_only_the_fields_they_name():
    s = settings({"retry": {"max_attempts": 3, "min_wait": 0.1}})
    assert s.retry == RetryPolicy(
        max_attempts=3, min_wait=0.1, max_wait=30.0, max_retry_after=300.0
    )


def test_retry_overrides_given_as_a_json_string_are_parsed_and_converted():
    s = settings({"retry": '{"max_attempts": "2", "max_wait": 4, "max_retry_after": "60"}'})
    assert s.retry == RetryPolicy(max_attempts=2, min_wait=0.5, max_wait=4.0, max_retry_after=60.0)
    assert isinstance(s.retry.max_wait, float)


@pytest.mark.parametrize("value", [None, "", {}])
def test_missing_retry_extra_means_the_default_policy(value):
    assert settings({"retry": value}).retry == RetryPolicy()


def test_an_unknown_retry_field_is_rejected_listing_the_known_ones():
    with pytest.raises(LangGraphConfigError) as caught:
        settings({"retry": {"attempts": 3}})
    assert str(caught.value) == (
        "unknown retry setting(s) ['attempts']; "
        "known: ['max_attempts', 'max_retry_after', 'max_wait', 'min_wait']"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"max_attempts": "many"}, "invalid retry setting"),
        ({"min_wait": [1]}, "invalid retry setting"),
        ({"max_attempts": 0}, "retry max_attempts must be >= 1, got 0"),
        ({"min_wait": -1}, "retry waits must satisfy 0 <= min_wait <= max_wait"),
        ({"min_wait": 5, "max_wait": 1}, "retry waits must satisfy 0 <= min_wait <= max_wait"),
    ],
)
def test_invalid_retry_values_are_config_errors(overrides, message):
    with pytest.raises(LangGraphConfigError, match=re.escape(message)):
        settings({"retry": overrides})


def test_retry_extra_with_bad_json_is_a_config_error_naming_the_field():
    with pytest.raises(LangGraphConfigError, match="extra 'retry' is not valid JSON"):
        settings({"retry": "{max_attempts: 3}"})


@pytest.mark.parametrize(
    "value", ["3", "[3]", [3], 3], ids=["json-number", "json-array", "list", "int"]
)
def test_a_retry_extra_that_is_not_an_object_is_a_config_error_naming_the_field(value):
    # "every bad value is reported with the field's name" (settings_from_connection): a retry
    # extra such as "3" must not be silently replaced by the default policy.
    with pytest.raises(LangGraphConfigError, match="retry"):
        settings({"retry": value})


def test_max_connections_and_studio_url_template_are_read_from_extras():
    s = settings({"max_connections": "7", "studio_url_template": "https://studio/{thread_id}"})
    assert s.max_connections == 7
    assert s.studio_url_template == "https://studio/{thread_id}"
    assert settings().max_connections == 100
    assert settings({"studio_url_template": ""}).studio_url_template is None


def test_a_bad_max_connections_is_a_config_error_naming_the_field():
    # Every other extra reports a bad value as LangGraphConfigError; this one leaks ValueError.
    with pytest.raises(LangGraphConfigError, match="max_connections"):
        settings({"max_connections": "many"})


# ---- RetryPolicy ----------------------------------------------------------------------------


def test_retry_policy_defaults():
    assert RetryPolicy() == RetryPolicy(
        max_attempts=5, min_wait=0.5, max_wait=30.0, max_retry_after=300.0
    )


def test_retry_policy_accepts_a_single_attempt_and_zero_waits():
    policy = RetryPolicy(max_attempts=1, min_wait=0, max_wait=0)
    assert policy.backoff(1) == 0.0
    assert policy.backoff(7) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "retry max_attempts must be >= 1, got 0"),
        ({"max_attempts": -3}, "retry max_attempts must be >= 1, got -3"),
        ({"min_wait": -0.1}, "retry waits must satisfy 0 <= min_wait <= max_wait, got -0.1, 30.0"),
        ({"min_wait": 2, "max_wait": 1}, "retry waits must satisfy 0 <= min_wait <= max_wait"),
    ],
)
def test_retry_policy_rejects_impossible_values(kwargs, message):
    with pytest.raises(LangGraphConfigError, match=re.escape(message)):
        RetryPolicy(**kwargs)


def test_retry_policy_merged_rejects_unknown_fields_and_keeps_the_original():
    policy = RetryPolicy(max_attempts=2)
    with pytest.raises(LangGraphConfigError, match=r"unknown retry setting\(s\) \['tries'\]"):
        policy.merged({"tries": 4})
    assert policy.merged({"max_wait": 9}) == RetryPolicy(max_attempts=2, max_wait=9.0)
    assert policy == RetryPolicy(max_attempts=2)


def test_backoff_without_jitter_doubles_from_min_wait_and_is_capped(monkeypatch):
    monkeypatch.setattr(_settings.random, "uniform", lambda low, high: low)
    policy = RetryPolicy(min_wait=0.5, max_wait=10.0)
    assert [policy.backoff(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_backoff_jitter_adds_at_most_min_wait_and_never_passes_the_cap(monkeypatch):
    monkeypatch.setattr(_settings.random, "uniform", lambda low, high: high)
    policy = RetryPolicy(min_wait=0.5, max_wait=10.0)
    assert [policy.backoff(n) for n in range(1, 8)] == [1.0, 1.5, 2.5, 4.5, 8.5, 10.0, 10.0]


def test_backoff_grows_is_capped_and_stays_at_or_above_its_base():
    policy = RetryPolicy(min_wait=1.0, max_wait=20.0)
    previous_high = 0.0
    for attempt in range(1, 12):
        base = min(20.0, 1.0 * 2 ** (attempt - 1))
        samples = [policy.backoff(attempt) for _ in range(200)]
        assert min(samples) >= base
        assert max(samples) <= min(20.0, base + 1.0)
        assert min(samples) >= previous_high or base == 20.0  # grows until the cap
        previous_high = max(samples)
    assert max(policy.backoff(40) for _ in range(50)) == 20.0
    assert len({policy.backoff(2) for _ in range(50)}) > 1  # jittered


# ---- the API key ----------------------------------------------------------------------------


def test_the_password_is_sent_as_x_api_key():
    s = settings({"headers": {"X-Tenant": "acme"}}, password=KEY)
    assert s.api_key == KEY
    assert s.request_headers() == {"X-Tenant": "acme", "x-api-key": KEY}


@pytest.mark.parametrize("password", [None, ""])
def test_no_x_api_key_without_a_password_even_if_sdk_key_variables_are_set(monkeypatch, password):
    for name in ENV_KEYS:
        monkeypatch.setenv(name, f"env-{name.lower()}-value")
    s = settings({"headers": {"X-Tenant": "acme"}}, password=password)
    assert s.api_key is None
    assert s.request_headers() == {"X-Tenant": "acme"}


def test_request_headers_are_a_copy_of_the_configured_headers():
    s = settings({"headers": {"X-Tenant": "acme"}}, password=KEY)
    s.request_headers()["X-Tenant"] = "changed"
    assert s.headers == {"X-Tenant": "acme"}


def test_fingerprint_differs_when_the_key_differs_and_does_not_contain_it():
    one = settings(password=KEY)
    same = settings(password=KEY)
    other = settings(password=KEY + "-rotated")
    none = settings()
    assert one.fingerprint() == same.fingerprint()
    assert len({one.fingerprint(), other.fingerprint(), none.fingerprint()}) == 3
    assert re.fullmatch(r"[0-9a-f]{64}", one.fingerprint())
    assert KEY not in one.fingerprint()


HOST = "http://127.0.0.1:2024"
TENANT = {"X-Tenant": "acme"}


@pytest.mark.parametrize(
    ("host", "extra"),
    [
        ("http://127.0.0.1:2025", {"headers": TENANT}),
        ("http://127.0.0.1:2024/prefix", {"headers": TENANT}),
        (HOST, {"headers": {"X-Tenant": "other"}}),
        (HOST, {"headers": TENANT, "timeout": 9}),
        (HOST, {"headers": TENANT, "verify": False}),
        (HOST, {"headers": TENANT, "verify": "/etc/ssl/corp-ca.pem"}),
        (HOST, {"headers": TENANT, "max_connections": 5}),
    ],
)
def test_fingerprint_differs_when_anything_the_client_uses_differs(host, extra):
    base = settings({"headers": TENANT}, password=KEY)
    assert settings(extra, host=host, password=KEY).fingerprint() != base.fingerprint()


def test_fingerprint_ignores_what_the_client_does_not_use():
    base = settings({"headers": TENANT}, password=KEY)
    other = settings(
        {"headers": TENANT, "retry": {"max_attempts": 1}, "studio_url_template": "x/{thread_id}"},
        password=KEY,
    )
    assert other.fingerprint() == base.fingerprint()


def test_settings_repr_never_shows_the_key_or_header_values():
    s = settings({"headers": {"Authorization": "Bearer header-token-xyz"}}, password=KEY)
    for text in (repr(s), str(s)):
        assert KEY not in text
        assert "header-token-xyz" not in text
        assert "base_url='http://127.0.0.1:2024'" in text

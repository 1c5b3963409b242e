"""kstalerts.net.http against a real loopback server, a trustme HTTPS twin and tinyproxy."""

import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, List

import pytest

from kstalerts import AlertMessage, RetryPolicy
from kstalerts._secret import Secret
from kstalerts.exceptions import AlertConfigurationError, AlertDeliveryError
from kstalerts.limits import MAX_IDLE_CONNECTIONS, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES
from kstalerts.net.http import HTTPClient, HTTPResponse
from tests.servers.proxy import TinyProxy
from tests.servers.slack import TOKEN, SlackServer, TLSFiles


def bare(text: str) -> str:
    """An error's text without the ``host:port: `` it starts with (tested on its own)."""
    return re.sub(r"^(proxy )?\[?[\w.:-]+?\]?:\d+: ", "", text)


TIMEOUT = 1.0  # the smallest channel timeout the hard limits allow
BOUND = TIMEOUT + 1.0  # generous under load; a hang would last 60 s, a trickle (4 bytes a second) 20 s or more


def post(client: HTTPClient, timeout: float = 5.0) -> HTTPResponse:
    return client.post(b'{"text": "hi"}', headers={"Content-Type": "application/json"}, timeout=timeout)


def failure(client: HTTPClient, timeout: float = 5.0) -> AlertDeliveryError:
    with pytest.raises(AlertDeliveryError) as info:
        post(client, timeout)
    return info.value


# -- requests and responses ---------------------------------------------------
def test_post_sends_the_body_and_headers_and_returns_the_response(slack_server: SlackServer) -> None:
    client = HTTPClient(slack_server.url(), user_agent="probe/1")
    response = post(client)
    assert (response.status, response.reason, response.body, response.text) == (200, "OK", b"ok", "ok")
    assert response.headers["content-length"] == "2"
    assert not response.truncated
    seen = slack_server.requests[0]
    assert seen.method == "POST"
    assert seen.path.endswith(TOKEN)
    assert seen.body == b'{"text": "hi"}'
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == "probe/1"
    assert seen.headers["Host"] == f"127.0.0.1:{slack_server.port}"


def test_default_user_agent_names_the_library(slack_server: SlackServer) -> None:
    import kstalerts

    post(HTTPClient(slack_server.url()))
    assert slack_server.requests[0].headers["User-Agent"] == f"kstalerts/{kstalerts.__version__}"


def test_caller_headers_cannot_replace_host_or_length(slack_server: SlackServer) -> None:
    client = HTTPClient(slack_server.url())
    client.post(b"abc", headers={"Host": "evil", "Content-Length": "99", "X-Extra": "1"}, timeout=5)
    seen = slack_server.requests[0]
    assert seen.headers["Host"] == f"127.0.0.1:{slack_server.port}"
    assert seen.headers["Content-Length"] == "3"
    assert seen.headers["X-Extra"] == "1"


def test_user_info_in_the_url_becomes_basic_auth(slack_server: SlackServer) -> None:
    url = slack_server.url().replace("http://", "http://bob:s%40cret@")
    post(HTTPClient(url))
    assert slack_server.requests[0].headers["Authorization"] == "Basic Ym9iOnNAY3JldA=="


def test_request_method_and_empty_body(slack_server: SlackServer) -> None:
    response = HTTPClient(slack_server.url()).request("GET", None, timeout=5)
    assert response.status == 200
    assert slack_server.requests[0].method == "GET"
    assert "Content-Length" not in slack_server.requests[0].headers


@pytest.mark.parametrize(
    ("mode", "status", "body"),
    [
        ("status=500", 500, b"internal_error"),
        ("no_service", 404, b"no_service"),
        ("invalid_token", 403, b"invalid_token"),
        ("channel_is_archived", 410, b"channel_is_archived"),
        ("ratelimit=7", 429, b"rate_limited"),
        ("chunked", 200, b"ok"),
    ],
)
def test_any_status_is_returned_as_a_response(
    slack_server: SlackServer, mode: str, status: int, body: bytes
) -> None:
    response = post(HTTPClient(slack_server.url(mode)))
    assert (response.status, response.body) == (status, body)


def test_retry_after_header_is_returned_lower_cased(slack_server: SlackServer) -> None:
    response = post(HTTPClient(slack_server.url("ratelimit=7")))
    assert response.headers["retry-after"] == "7"


def test_a_redirect_is_returned_not_followed(slack_server: SlackServer) -> None:
    response = post(HTTPClient(slack_server.url("redirect")))
    assert response.status == 302
    assert response.headers["location"].endswith("/elsewhere")
    assert [r.path for r in slack_server.requests if r.path == "/elsewhere"] == []
    assert len(slack_server.requests) == 1


def test_a_huge_body_is_cut_at_the_cap_and_the_connection_dropped(slack_server: SlackServer) -> None:
    client = HTTPClient(slack_server.url("huge"))
    started = time.monotonic()
    response = post(client)
    assert response.status == 200
    assert len(response.body) == MAX_RESPONSE_BYTES
    assert response.truncated
    assert time.monotonic() - started < 2
    slack_server.queue("ok")
    assert post(client).status == 200
    assert slack_server.connections == 2  # the half-read connection was not reused


def test_max_response_bytes_lowers_the_cap(slack_server: SlackServer) -> None:
    response = post(HTTPClient(slack_server.url("body=abcdefgh"), max_response_bytes=3))
    assert (response.body, response.truncated) == (b"abc", True)


def test_request_body_over_the_limit_is_refused(slack_server: SlackServer) -> None:
    with pytest.raises(AlertDeliveryError) as info:
        HTTPClient(slack_server.url()).post(b"x" * (MAX_REQUEST_BYTES + 1), timeout=5)
    assert str(info.value) == (
        f"the request body is {MAX_REQUEST_BYTES + 1} bytes, more than the {MAX_REQUEST_BYTES}-byte limit"
    )
    assert not info.value.retryable
    assert slack_server.requests == []


# -- keep-alive and the pool --------------------------------------------------
def test_sequential_requests_reuse_one_connection(slack_server: SlackServer) -> None:
    client = HTTPClient(slack_server.url())
    for _ in range(200):
        assert post(client).status == 200
    assert len(slack_server.requests) == 200
    assert slack_server.connections == 1


def test_chunked_responses_keep_the_connection(slack_server: SlackServer) -> None:
    client = HTTPClient(slack_server.url("chunked"))
    for _ in range(5):
        assert post(client).body == b"ok"
    assert slack_server.connections == 1


def test_connection_close_is_honoured(slack_server: SlackServer) -> None:
    client = HTTPClient(slack_server.url("close_after"))
    for _ in range(3):
        assert post(client).status == 200
    assert slack_server.connections == 3


def test_concurrent_requests_never_share_a_connection(slack_server: SlackServer) -> None:
    client = HTTPClient(slack_server.url("delay=0.3"))
    count = MAX_IDLE_CONNECTIONS + 2
    barrier = threading.Barrier(count)
    statuses: List[int] = []

    def worker() -> None:
        barrier.wait()
        statuses.append(post(client).status)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert statuses == [200] * count
    # each in-flight request had its own connection
    assert slack_server.connections == count
    assert len({r.connection for r in slack_server.requests}) == count
    # the pool keeps at most MAX_IDLE_CONNECTIONS of them for later
    assert len(client._pool) == MAX_IDLE_CONNECTIONS
    post(client)
    assert slack_server.connections == count


def test_close_drops_idle_connections_and_the_client_stays_usable(slack_server: SlackServer) -> None:
    client = HTTPClient(slack_server.url())
    post(client)
    client.close()
    post(client)
    assert slack_server.connections == 2


def test_an_idle_connection_the_server_closed_is_replaced(slack_server: SlackServer) -> None:
    client = HTTPClient(slack_server.url())
    post(client)
    deadline = time.monotonic() + 5
    slack_server.drop_connections()
    while time.monotonic() < deadline and not client._pool.idle[0].dropped():
        time.sleep(0.01)
    assert post(client).status == 200
    assert slack_server.connections == 2


def test_a_reused_connection_dropped_mid_request_is_retried_once_on_a_new_one(
    slack_server: SlackServer,
) -> None:
    client = HTTPClient(slack_server.url())
    post(client)
    slack_server.queue("close")  # read the request on the reused connection, then hang up
    assert post(client).status == 200
    assert len(slack_server.requests) == 3
    assert slack_server.connections == 2


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        ("head", "connection reset by the server while waiting for the response"),
        ("body", "connection reset by the server while reading the response body"),
    ],
)
def test_a_reused_connection_cut_after_the_answer_began_is_not_resent(
    slack_server: SlackServer, cut: str, message: str
) -> None:
    client = HTTPClient(slack_server.url())
    post(client)
    slack_server.queue(f"cut={cut}")  # the server began to answer: it has the request
    error = failure(client)
    assert bare(str(error)) == message
    assert len(slack_server.requests) == 2
    assert slack_server.connections == 1


# -- one deadline per call ----------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("hang", "timed out after 1s while waiting for the response"),
        ("trickle=status", "timed out after 1s while waiting for the response"),
        ("trickle=headers", "timed out after 1s while waiting for the response"),
        ("trickle=body", "timed out after 1s while reading the response body"),
    ],
)
def test_a_slow_server_cannot_stretch_the_deadline(
    slack_server: SlackServer, mode: str, message: str
) -> None:
    client = HTTPClient(slack_server.url(mode))
    started = time.monotonic()
    error = failure(client, TIMEOUT)
    elapsed = time.monotonic() - started
    print(f"{mode}: {elapsed:.3f}s for timeout={TIMEOUT}s")
    assert bare(str(error)) == message
    assert error.retryable
    assert TIMEOUT * 0.9 <= elapsed <= BOUND


def test_a_tiny_timeout_fails_while_connecting_or_soon_after(slack_server: SlackServer) -> None:
    started = time.monotonic()
    error = failure(HTTPClient(slack_server.url("hang")), 0.000001)
    assert bare(str(error)).startswith("timed out after 1e-06s while ")
    assert time.monotonic() - started < 5.0  # not the 60 s hang (generous: a loaded machine)


# -- errors are translated once, with no URL ---------------------------------
@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("many_headers", "protocol error: the response has too many header lines"),
        ("long_line", "protocol error: a line of the response is too long"),
        ("bad_status", "protocol error: the response does not start with an HTTP status line"),
        ("reset", "connection reset by the server while waiting for the response"),
        ("close", "the server closed the connection without answering"),
    ],
)
def test_protocol_and_network_errors(slack_server: SlackServer, mode: str, message: str) -> None:
    error = failure(HTTPClient(slack_server.url(mode)))
    assert bare(str(error)) == message
    assert error.retryable
    assert TOKEN not in repr(error.args)


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = failure(HTTPClient(f"http://127.0.0.1:{port}/services/T1/B2/{TOKEN}"))
    assert bare(str(error)) == "connection refused"
    assert error.retryable


def test_unknown_host_is_a_retryable_error() -> None:
    error = failure(HTTPClient(f"http://no-such-host.invalid/services/T1/B2/{TOKEN}"))
    assert bare(str(error)) == "cannot resolve the host name 'no-such-host.invalid'"
    assert error.retryable


@pytest.mark.parametrize("host", ["a" * 64 + ".example", "a..b.example"])
def test_a_host_name_no_resolver_takes_is_a_failure_not_a_unicode_error(host: str) -> None:
    # The idna codec refused these names with a UnicodeError that left send(); the
    # resolver, given the ASCII name as bytes, does not know them (at once, no query).
    error = failure(HTTPClient(f"http://{host}/services/T1/B2/{TOKEN}"))
    assert bare(str(error)) == f"cannot resolve the host name '{host}'"


def test_a_channel_given_such_a_host_returns_a_failed_result() -> None:
    from kstalerts.channels import WebhookChannel

    result = WebhookChannel(f"http://{'a' * 64}.example/hook", max_retries=0, timeout=5).send(AlertMessage("t"))
    assert not result.success and "cannot resolve the host name" in (result.error or "")


# -- URLs and headers ---------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"ftp://example.com/{TOKEN}", "url: must be an http:// or https:// URL with a host"),
        (f"https:///services/{TOKEN}", "url: must be an http:// or https:// URL with a host"),
        (f"https://example.com:99999/{TOKEN}", "url: is not a valid URL"),
        (f"https://example.com/ {TOKEN}", "url: must be a URL without spaces or non-ASCII characters"),
        (f"https://example.com/é{TOKEN}", "url: must be a URL without spaces or non-ASCII characters"),
    ],
)
def test_a_bad_url_names_the_field_never_the_value(url: str, message: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        HTTPClient(url)
    assert str(info.value) == message
    assert info.value.key == "url"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-Bad": "a\r\nInjected: 1"}, "headers: header X-Bad: the value contains a line break"),
        ({"Bad Name": "x"}, "headers: header name 'Bad Name' is not a valid HTTP token"),
        ({"X-Snow": "☃"}, "headers: header X-Snow: the value is not Latin-1 text"),
    ],
)
def test_header_injection_is_refused(slack_server: SlackServer, headers: Dict[str, str], message: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        HTTPClient(slack_server.url()).post(b"x", headers=headers, timeout=5)
    assert str(info.value) == message
    assert slack_server.requests == []


def test_a_bad_method_is_refused(slack_server: SlackServer) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        HTTPClient(slack_server.url()).request("GET /x HTTP/1.1\r\n", None, timeout=5)
    assert str(info.value) == "method: method 'GET /x HTTP/1.1\\r\\n' is not a valid HTTP token"


def test_a_large_body_is_sent_whole(slack_server: SlackServer) -> None:
    body = b"x" * (MAX_REQUEST_BYTES - 10)
    assert HTTPClient(slack_server.url()).post(body, timeout=5).status == 200
    assert slack_server.requests[0].body == body


def test_repr_masks_the_url(slack_server: SlackServer) -> None:
    client = HTTPClient(Secret(slack_server.url()))
    assert repr(client) == f"HTTPClient('http://127.0.0.1:{slack_server.port}/***')"
    assert TOKEN not in repr(client)


def test_importing_the_module_does_not_import_http_client_or_ssl() -> None:
    code = "import sys, kstalerts.net.http; print('http.client' in sys.modules, 'ssl' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        check=True,
        cwd=os.getcwd(),
    )
    assert out.stdout.split() == ["False", "False"]


# -- TLS ----------------------------------------------------------------------
def test_https_with_the_ca_bundle(slack_tls_server: SlackServer, tls_files: TLSFiles) -> None:
    client = HTTPClient(slack_tls_server.url(), ssl_ca_bundle=tls_files.ca_path)
    for _ in range(20):
        assert post(client).status == 200
    assert slack_tls_server.connections == 1


def test_a_large_body_over_tls(slack_tls_server: SlackServer, tls_files: TLSFiles) -> None:
    body = b"y" * (MAX_REQUEST_BYTES - 10)
    client = HTTPClient(slack_tls_server.url(), ssl_ca_bundle=tls_files.ca_path)
    assert client.post(body, timeout=5).status == 200
    assert slack_tls_server.requests[0].body == body


def test_https_without_the_ca_fails_and_is_not_retryable(slack_tls_server: SlackServer) -> None:
    error = failure(HTTPClient(slack_tls_server.url()))
    assert bare(str(error)).startswith("TLS certificate verification failed: ")
    # Python 3.6's ssl module does not say why OpenSSL refused the certificate.
    reason = "unable to get local issuer certificate" if sys.version_info >= (3, 7) else "certificate verify failed"
    assert reason in str(error)
    assert not error.retryable
    assert slack_tls_server.requests == []


def test_ssl_cert_file_is_honoured(
    slack_tls_server: SlackServer, tls_files: TLSFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", tls_files.ca_path)
    assert post(HTTPClient(slack_tls_server.url())).status == 200


def test_ssl_verify_false_must_be_explicit_and_warns(
    slack_tls_server: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kstalerts")
    client = HTTPClient(slack_tls_server.url(), ssl_verify=False)
    assert post(client).status == 200
    assert caplog.messages == [
        f"TLS certificate verification is OFF for https://127.0.0.1:{slack_tls_server.port}/***"
    ]


def test_a_tls_hang_is_bounded_too(slack_tls_server: SlackServer, tls_files: TLSFiles) -> None:
    client = HTTPClient(slack_tls_server.url("trickle=headers"), ssl_ca_bundle=tls_files.ca_path)
    started = time.monotonic()
    assert bare(str(failure(client, TIMEOUT))) == "timed out after 1s while waiting for the response"
    assert time.monotonic() - started <= BOUND


def test_a_server_that_never_handshakes_is_bounded() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        client = HTTPClient(f"https://127.0.0.1:{port}/services/T1/B2/{TOKEN}")
        started = time.monotonic()
        error = failure(client, TIMEOUT)
        elapsed = time.monotonic() - started
    assert bare(str(error)) == "timed out after 1s in the TLS handshake"
    assert elapsed <= BOUND


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        ("/no/such/ca.pem", "ssl_ca_bundle: cannot read the CA bundle: No such file or directory"),
        (__file__, "ssl_ca_bundle: is not a PEM file of CA certificates"),
    ],
)
def test_a_bad_ca_bundle_is_a_configuration_error(bundle: str, message: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        HTTPClient(f"https://example.com/{TOKEN}", ssl_ca_bundle=bundle)
    assert str(info.value) == message


def test_a_ca_directory_is_accepted(slack_tls_server: SlackServer, tls_files: TLSFiles) -> None:
    client = HTTPClient(slack_tls_server.url(), ssl_ca_bundle=os.path.dirname(tls_files.ca_path))
    # a directory needs OpenSSL's hashed names: without them the CA is unknown
    assert not failure(client).retryable


# -- proxies --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "proxied"),
    [
        ({}, False),
        ({"HTTPS_PROXY": "http://proxy.test:3128"}, True),
        ({"https_proxy": "proxy.test:3128"}, True),
        ({"HTTPS_PROXY": "http://proxy.test:3128", "NO_PROXY": "127.0.0.1"}, False),
        ({"HTTPS_PROXY": "http://proxy.test:3128", "no_proxy": "localhost, 127.0.0.1:8443"}, False),
        ({"HTTPS_PROXY": "http://proxy.test:3128", "NO_PROXY": "127.0.0.1:9999"}, True),
        ({"HTTPS_PROXY": "http://proxy.test:3128", "NO_PROXY": "*"}, False),
        ({"HTTP_PROXY": "http://proxy.test:3128"}, False),  # an https URL ignores HTTP_PROXY
    ],
)
def test_proxy_environment_for_an_https_url(
    monkeypatch: pytest.MonkeyPatch, env: Dict[str, str], proxied: bool
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert HTTPClient(f"https://127.0.0.1:8443/services/T1/B2/{TOKEN}").via_proxy is proxied


@pytest.mark.parametrize(
    ("no_proxy", "host", "proxied"),
    [
        ("example.com", "hooks.example.com", False),
        (".example.com", "hooks.example.com", False),
        ("example.com", "notexample.com", True),
        ("hooks.slack.com", "hooks.slack.com", False),
    ],
)
def test_no_proxy_domain_suffixes(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str, host: str, proxied: bool
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    assert HTTPClient(f"https://{host}/services/T1/B2/{TOKEN}").via_proxy is proxied


def test_lower_case_proxy_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.test:3128")
    assert HTTPClient(f"http://example.com/{TOKEN}").via_proxy is True
    monkeypatch.setenv("http_proxy", "")  # set but empty: no proxy, as urllib reads it
    assert HTTPClient(f"http://example.com/{TOKEN}").via_proxy is False
    monkeypatch.delenv("http_proxy")
    monkeypatch.setenv("REQUEST_METHOD", "GET")  # CGI: HTTP_PROXY may come from a request header
    assert HTTPClient(f"http://example.com/{TOKEN}").via_proxy is False


def test_explicit_proxy_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    assert HTTPClient(f"https://example.com/{TOKEN}", proxy="").via_proxy is False
    monkeypatch.setenv("NO_PROXY", "*")
    assert HTTPClient(f"https://example.com/{TOKEN}", proxy="http://other:1").via_proxy is True


def test_only_http_proxies_are_supported() -> None:
    with pytest.raises(AlertConfigurationError) as info:
        HTTPClient(f"https://example.com/{TOKEN}", proxy="socks5://user:pw@proxy:1080")
    assert str(info.value) == "proxy: must be an http:// URL with a host"


def test_https_through_tinyproxy_with_https_proxy_set(
    slack_tls_server: SlackServer,
    tls_files: TLSFiles,
    start_tinyproxy: Callable[..., TinyProxy],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = start_tinyproxy(slack_tls_server.port)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    client = HTTPClient(slack_tls_server.url(), ssl_ca_bundle=tls_files.ca_path)
    assert client.via_proxy
    for _ in range(5):
        assert post(client).status == 200
    assert len(slack_tls_server.requests) == 5
    # one tunnel, kept alive for all five
    assert proxy.requests() == [f"CONNECT 127.0.0.1:{slack_tls_server.port} HTTP/1.1"]
    assert slack_tls_server.connections == 1


def test_no_proxy_sends_loopback_direct(
    slack_tls_server: SlackServer,
    tls_files: TLSFiles,
    start_tinyproxy: Callable[..., TinyProxy],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = start_tinyproxy(slack_tls_server.port)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    client = HTTPClient(slack_tls_server.url(), ssl_ca_bundle=tls_files.ca_path)
    assert post(client).status == 200
    assert proxy.requests() == []


def test_plain_http_through_tinyproxy_uses_the_absolute_form(
    slack_server: SlackServer, start_tinyproxy: Callable[..., TinyProxy]
) -> None:
    proxy = start_tinyproxy()
    client = HTTPClient(slack_server.url(), proxy=proxy.url)
    assert post(client).status == 200
    assert proxy.requests() == [f"POST {slack_server.url()} HTTP/1.1"]
    assert slack_server.requests[0].body == b'{"text": "hi"}'


def test_a_proxy_refusing_the_tunnel(
    slack_tls_server: SlackServer, tls_files: TLSFiles, start_tinyproxy: Callable[..., TinyProxy]
) -> None:
    proxy = start_tinyproxy(443)  # CONNECT allowed to 443 only
    client = HTTPClient(slack_tls_server.url(), ssl_ca_bundle=tls_files.ca_path, proxy=proxy.url)
    error = failure(client)
    assert str(error) == "the proxy refused the tunnel: 403 Access violation"
    assert not error.retryable
    assert slack_tls_server.requests == []


def test_response_json_decodes_or_gives_none() -> None:
    from kstalerts.net.http import HTTPResponse

    def response(body: bytes) -> HTTPResponse:
        return HTTPResponse(200, {}, body)

    assert response(b'{"ok": true, "id": "x"}').json() == {"ok": True, "id": "x"}
    assert response(b"<html>Bad Gateway</html>").json() is None
    assert response(b"\xff\xfe").json() is None
    assert response(b"").json() is None


# -- hostile answers: bounded, parsed defensively, never raised -------------
def test_json_answers_are_parsed_with_a_depth_bound() -> None:
    from kstalerts.limits import MAX_RESPONSE_DEPTH
    from kstalerts.net.http import loads_bounded

    assert loads_bounded(b"[" * 60000) is None
    assert loads_bounded(b"[" * 60000 + b"]" * 60000) is None
    assert loads_bounded(b"[" * MAX_RESPONSE_DEPTH + b"]" * MAX_RESPONSE_DEPTH) is not None
    assert loads_bounded(b'{"a": "[[[[\\"{{{{", "b": [1]}') == {"a": '[[[["{{{{', "b": [1]}
    assert loads_bounded(b"\xff") is None and loads_bounded(b"<html>") is None


@pytest.mark.parametrize("retry_after", ["\u00b2", "9" * 60, "-5", "1e400", "Wed, 21 Oct 99999 07:28:00 GMT"])
def test_odd_retry_after_is_ignored_not_raised(slack_server: SlackServer, retry_after: str) -> None:
    from kstalerts import AlertMessage
    from kstalerts.channels import SlackChannel

    slack_server.answer(429, b"rate_limited", (("Retry-After", retry_after),))
    sleeps: List[float] = []
    channel = SlackChannel(
        slack_server.url(), allow_custom_url=True, timeout=5, max_retries=1, sleep=sleeps.append
    )
    result = channel.send(AlertMessage("disk", "full"))
    assert result.success and result.attempts == 2
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 60.0  # the back-off or the policy's cap, never more
    channel.close()


def test_discord_retry_after_of_400_digits_is_ignored(slack_server: SlackServer) -> None:
    from kstalerts import AlertMessage
    from kstalerts.channels import DiscordChannel

    slack_server.answer(429, b'{"message": "slow down", "retry_after": ' + b"9" * 400 + b"}")
    sleeps: List[float] = []
    url = f"{slack_server.base_url}/api/webhooks/1/{TOKEN}"
    channel = DiscordChannel(url, allow_custom_url=True, timeout=5, max_retries=0, sleep=sleeps.append)
    result = channel.send(AlertMessage("disk", "full"))
    assert not result.success and result.retryable and result.status == 429
    assert "slow down" in (result.error or "") and TOKEN not in (result.error or "")
    channel.close()


@pytest.mark.parametrize("kind", ["webhook", "discord", "teams", "slack"])
def test_a_deeply_nested_2xx_answer_is_still_a_success(slack_server: SlackServer, kind: str) -> None:
    """60,000 nested '[' in an accepted answer: no RecursionError, the alert
    counts as delivered (Slack: its plain 'ok' rule applies)."""
    from kstalerts import AlertManager, AlertMessage
    from kstalerts.channels import AlertChannel, DiscordChannel, SlackChannel, TeamsChannel, WebhookChannel

    url = f"{slack_server.base_url}/api/webhooks/1/{TOKEN}"
    makers: Dict[str, Callable[[], AlertChannel]] = {
        "webhook": lambda: WebhookChannel(url, timeout=5, max_retries=0),
        "discord": lambda: DiscordChannel(url, allow_custom_url=True, timeout=5, max_retries=0),
        "teams": lambda: TeamsChannel(url, allow_custom_url=True, timeout=5, max_retries=0),
        "slack": lambda: SlackChannel(url, allow_custom_url=True, timeout=5, max_retries=0),
    }
    channel = makers[kind]()
    slack_server.answer(200, b"[" * 60000)
    with AlertManager() as manager:
        manager.add_channel(channel)
        (result,) = manager.send(AlertMessage("disk", "full"))
    if kind == "slack":  # Slack says "ok"; anything else on a 200 is its documented failure
        assert not result.success and "not 'ok'" in (result.error or "")
    else:
        assert result.success, result.error
    assert "internal error" not in (result.error or "")


# -- a server that echoes what it was sent --------------------------------------------
def test_server_text_is_scrubbed_of_the_request_secrets(slack_server: SlackServer, tmp_path: object) -> None:
    """Authorization, Proxy-Authorization and URL user-info echoed back in an
    error body never reach the result, a log line or the spool file."""
    import base64
    import pathlib

    from kstalerts import AlertManager, AlertMessage
    from kstalerts.channels import WebhookChannel

    user, password, bearer = "hookuser", "pa55-W0rd-xyz", "Bearer-tok3n-value"
    proxy_user, proxy_password = "proxyuser", "pr0xy-Pa55-abc"
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    proxy_basic = base64.b64encode(f"{proxy_user}:{proxy_password}".encode()).decode()
    body = (
        f"bad request: Authorization: Basic {basic}; X-Token: {bearer};"
        f" Proxy-Authorization: Basic {proxy_basic}; user {user}:{password};"
        f" proxy {proxy_user}:{proxy_password}; path /hooks/{TOKEN}"
    ).encode()
    slack_server.answer(500, body, (("X-Echo", bearer),))
    url = f"http://{user}:{password}@127.0.0.1:{slack_server.port}/hooks/{TOKEN}"
    # The loopback server plays the proxy too: a plain-http request through a
    # proxy carries Proxy-Authorization to it.
    proxy = f"http://{proxy_user}:{proxy_password}@127.0.0.1:{slack_server.port}"
    channel = WebhookChannel(url, headers={"X-Token": bearer}, proxy=proxy, timeout=5, max_retries=0)
    spool_dir = pathlib.Path(str(tmp_path)) / "spool"
    with AlertManager(spool=str(spool_dir)) as manager:
        manager.add_channel(channel)
        (result,) = manager.send(AlertMessage("disk", "full"))
    sent = slack_server.requests[-1]
    assert sent.headers.get("Proxy-Authorization") == f"Basic {proxy_basic}"  # the secrets did travel
    assert sent.headers.get("Authorization") == f"Basic {basic}"
    assert not result.success and result.spooled and result.status == 500
    stored = "".join(p.read_text() for p in spool_dir.glob("*.json"))
    assert "bad request" in (result.error or "")  # the server's words are kept
    for shown in (result.error or "", stored):
        for secret in (basic, proxy_basic, bearer, password, proxy_password, TOKEN):
            assert secret not in shown


# -- errors name the peer and, for a known misconfiguration, the fix ----------
def test_errors_name_the_host_and_port(slack_server: SlackServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert str(failure(HTTPClient(f"http://127.0.0.1:{port}/x/{TOKEN}"))) == f"127.0.0.1:{port}: connection refused"
    hang = HTTPClient(slack_server.url("hang"))
    assert str(failure(hang, TIMEOUT)) == (
        f"127.0.0.1:{slack_server.port}: timed out after 1s while waiting for the response"
    )


def test_https_to_a_plain_http_port_fails_at_once_with_the_fix(slack_server: SlackServer) -> None:
    from kstalerts.channels import SlackChannel

    url = f"https://127.0.0.1:{slack_server.port}/services/T1/B2/{TOKEN}"
    error = failure(HTTPClient(url))
    assert str(error).startswith(f"127.0.0.1:{slack_server.port}: TLS error in the TLS handshake: WRONG_VERSION_NUMBER")
    assert "use http:// or the TLS port" in str(error)
    assert not error.retryable
    channel = SlackChannel(url, allow_custom_url=True, retry=RetryPolicy(max_retries=3, base_delay=0.5))
    started = time.monotonic()
    result = channel.send(AlertMessage("x"))
    assert (result.success, result.attempts) == (False, 1)
    assert time.monotonic() - started < 5
    assert "WRONG_VERSION_NUMBER" in (result.error or "") and TOKEN not in (result.error or "")

"""The warm path of :class:`kstalerts.net.http.HTTPClient`: what it prepares once
per set of headers is still exactly what each request needs."""

from kstalerts.limits import MAX_RESPONSE_BYTES
from kstalerts.net.http import HTTPClient, loads_bounded
from tests.servers.slack import HOOK_PATH, TOKEN, SlackServer


def test_each_request_carries_its_own_headers_and_length(slack_server: SlackServer) -> None:
    client = HTTPClient(slack_server.url())
    try:
        client.post(b"{}", headers={"X-One": "1"}, timeout=5)
        client.post(b'{"a": 1}', headers={"X-Two": "2"}, timeout=5)
        client.user_agent = "changed/1"
        client.post(b"[]", headers={"X-One": "1"}, timeout=5)
        client.request("GET", None, timeout=5)
    finally:
        client.close()
    first, second, third, get = [
        r._replace(headers={k.lower(): v for k, v in r.headers.items()}) for r in slack_server.requests
    ]
    assert first.headers["x-one"] == "1" and "x-two" not in first.headers
    assert second.headers["x-two"] == "2" and "x-one" not in second.headers
    assert [r.headers["content-length"] for r in (first, second, third)] == ["2", "8", "2"]
    assert [r.body for r in (first, second, third)] == [b"{}", b'{"a": 1}', b"[]"]
    assert third.headers["user-agent"] == "changed/1"
    assert get.method == "GET" and "content-length" not in get.headers


def test_an_echoed_secret_is_masked_on_every_request(slack_server: SlackServer) -> None:
    client = HTTPClient(slack_server.url(f"body=echo {TOKEN}"))
    try:
        for _ in range(2):  # the second answer uses the prepared secrets
            response = client.post(b"{}", headers={"Authorization": "Bearer sekrit-value"}, timeout=5)
            assert TOKEN.encode() not in response.body and b"***" in response.body
    finally:
        client.close()


def test_a_short_answer_is_read_without_a_buffer_of_the_whole_limit(slack_server: SlackServer) -> None:
    """Python 3.6 to 3.9's ``HTTPResponse.read(n)`` fills ``n`` zero bytes before it
    reads: the client asks for no more than the answer's Content-Length, so the
    two bytes of ``ok`` cost no buffer of the whole response limit on every alert."""
    import tracemalloc

    client = HTTPClient(slack_server.url())
    try:
        client.post(b"{}", timeout=5)  # connected, every module loaded
        tracemalloc.start()
        try:
            for _ in range(3):
                assert client.post(b"{}", timeout=5).body == b"ok"
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert len(client._pool) == 1  # the connection was kept for the next alert
    finally:
        client.close()
    assert peak < MAX_RESPONSE_BYTES // 2, f"{peak} bytes at the peak of three requests"


def test_a_plain_text_answer_is_not_json() -> None:
    assert loads_bounded(b"ok") is None and loads_bounded(b"") is None
    assert loads_bounded(b"  \n") is None and loads_bounded(b" true") is True
    assert loads_bounded(b'-1') == -1 and loads_bounded(b'"s"') == "s"


def test_each_request_keeps_its_own_deadline_and_wording(slack_server: SlackServer) -> None:
    """The rules a client's requests share are built once; each request's
    deadline and the timeout its failure names are still its own."""
    from kstalerts.exceptions import AlertDeliveryError

    client = HTTPClient(slack_server.url())
    try:
        assert client.post(b"{}", timeout=5).status == 200
        slack_server.queue("delay=2")
        try:
            client.post(b"{}", timeout=0.3)
        except AlertDeliveryError as exc:
            assert "timed out after 0.3s" in str(exc) and exc.retryable
        else:  # pragma: no cover - the failure under test
            raise AssertionError("a request past its own deadline returned")
        assert client.post(b"{}", timeout=5).status == 200
    finally:
        client.close()


def test_an_echo_in_a_header_or_the_reason_alone_is_masked(slack_server: SlackServer) -> None:
    """The check for an echo looks at the shortest secrets only (a longer one holds
    them), in the body, the reason and every header value."""
    from kstalerts.net.http import _probes

    assert _probes((b"http://h/s/tok3n-x", b"/s/tok3n-x", b"tok3n-x", b"Bearer zz")) == (
        (b"tok3n-x", "tok3n-x"),
        (b"Bearer zz", "Bearer zz"),
    )
    client = HTTPClient(slack_server.url())
    try:
        slack_server.answer(200, b"fine", (("X-Seen", f"at {HOOK_PATH}"),))
        response = client.post(b"{}", timeout=5)
        assert response.headers["x-seen"] == "at ***" and response.body == b"fine"
        slack_server.answer(200, b"fine", (("X-Auth", "sekrit-value"),))
        response = client.post(b"{}", headers={"Authorization": "Bearer sekrit-value"}, timeout=5)
        assert response.headers["x-auth"] == "***"
    finally:
        client.close()

"""Secret values never show themselves."""

import pickle

import pytest

from kstalerts._secret import Secret, mask_text, mask_url

URL = "https://hooks.slack.com/services/T0001/B0002/XXXXSECRETXXXX"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (URL, "https://hooks.slack.com/***"),
        ("https://user:pw@example.com:8443/hook/abc?token=zz#f", "https://example.com:8443/***"),
        ("https://api.telegram.org/bot123456:TOKEN/sendMessage", "https://api.telegram.org/***"),
        ("https://u:pw@example.com", "https://example.com/***"),
        ("https://example.com/onlyone", "https://example.com/***"),
        ("https://example.com", "https://example.com"),
        ("not a url", "***"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_secret_hides_its_value() -> None:
    secret = Secret(URL)
    for text in (str(secret), repr(secret), f"{secret}", "%s %r" % (secret, secret)):
        assert "XXXXSECRETXXXX" not in text and "T0001" not in text
    assert secret.reveal() == URL
    assert repr(Secret("hunter2")) == "Secret('***')"
    assert mask_text("") == "" and not Secret("")


def test_secret_equality_and_pickling() -> None:
    assert (
        Secret("a") == Secret("a") and Secret("a") != Secret("b") and hash(Secret("a")) == hash(Secret("a"))
    )
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret("a"))


def test_custom_mask() -> None:
    assert str(Secret("k", mask="key:***")) == "key:***"

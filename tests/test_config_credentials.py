"""Credentials (kstalerts/config/credentials.py): env, file and sops.

sops cannot be installed on this machine: the success and failure paths run a
tiny fake `sops` script put first on PATH. That mocks the external binary
only (its argv and output format are sops's documented ones); the resolver
under test runs it through subprocess for real.
"""

import os
import pathlib
import stat
import sys

import pytest

from kstalerts.config import credentials as credentials_module
from kstalerts.config import load_config
from kstalerts.config.credentials import CredentialResolver
from kstalerts.exceptions import AlertConfigurationError
from kstalerts.limits import MAX_CREDENTIAL_BYTES

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes and the fake sops script need POSIX")


def resolver_for(tmp_path: pathlib.Path, text: str) -> CredentialResolver:
    """A resolver built as from_config builds it: from a real file."""
    path = tmp_path / "kstlib.conf.yml"
    path.write_text(text, encoding="utf-8")
    config = load_config(str(path))
    return CredentialResolver(config.credentials, path=config.path, lines=config.lines)


def secret_file(path: pathlib.Path, content: bytes, mode: int = 0o600) -> pathlib.Path:
    path.write_bytes(content)
    path.chmod(mode)
    return path


# -- env -------------------------------------------------------------------


def test_env(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = resolver_for(tmp_path, "credentials:\n  hook:\n    type: env\n    var: HOOK_URL\n")
    monkeypatch.setenv("HOOK_URL", "https://hooks.example.com/T/B/secret")
    assert resolver.resolve("hook") == "https://hooks.example.com/T/B/secret"
    monkeypatch.delenv("HOOK_URL")
    with pytest.raises(AlertConfigurationError) as info:
        resolver.resolve("hook")
    assert str(info.value) == (
        f"{tmp_path / 'kstlib.conf.yml'}:4: credentials.hook.var: credential 'hook': "
        "environment variable HOOK_URL is not set"
    )


def test_unknown_name_suggests_the_closest() -> None:
    resolver = CredentialResolver({"slack_webhook": {"type": "env", "var": "X"}})
    with pytest.raises(AlertConfigurationError) as info:
        resolver.resolve("slack_hook")
    assert str(info.value) == "credentials: unknown credential 'slack_hook'; did you mean 'slack_webhook'?"
    with pytest.raises(AlertConfigurationError) as info:
        CredentialResolver().resolve("x")
    assert str(info.value) == "credentials: unknown credential 'x': the config has no 'credentials' section"


def test_repr_and_names_show_no_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN_VALUE", "s3cret-token")
    resolver = CredentialResolver({"t": {"type": "env", "var": "TOKEN_VALUE"}}, path="c.yml")
    assert resolver.resolve("t") == "s3cret-token"
    assert repr(resolver) == "CredentialResolver(names=['t'], path='c.yml')"
    assert resolver.names == ("t",)


# -- file ------------------------------------------------------------------


def test_file_strips_one_trailing_newline(tmp_path: pathlib.Path) -> None:
    secret_file(tmp_path / "a", b"hunter2\n")
    secret_file(tmp_path / "b", b"hunter2\r\n")
    secret_file(tmp_path / "c", b"two lines\n\n")
    resolver = resolver_for(
        tmp_path,
        "credentials:\n"
        "  a: {type: file, path: a}\n"  # relative to the config file's directory
        f"  b: {{type: file, path: '{tmp_path / 'b'}'}}\n"
        "  c: {type: file, path: c}\n",
    )
    assert [resolver.resolve(n) for n in "abc"] == ["hunter2", "hunter2", "two lines\n"]


def test_file_readable_by_others_is_refused(tmp_path: pathlib.Path) -> None:
    target = secret_file(tmp_path / "pw", b"hunter2\n", 0o640)
    resolver = resolver_for(tmp_path, "credentials:\n  pw:\n    type: file\n    path: pw\n")
    with pytest.raises(AlertConfigurationError) as info:
        resolver.resolve("pw")
    assert str(info.value) == (
        f"{tmp_path / 'kstlib.conf.yml'}:4: credentials.pw.path: credential 'pw': {target} can be read by "
        "other users (mode 0640); chmod 600 it, or set allow_insecure_permissions: true"
    )
    assert "hunter2" not in str(info.value)
    allowed = resolver_for(
        tmp_path, "credentials:\n  pw: {type: file, path: pw, allow_insecure_permissions: true}\n"
    )
    assert allowed.resolve("pw") == "hunter2"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "file {target} does not exist"),
        (lambda p: p.mkdir(mode=0o700), "{target} is a folder, not a regular file"),
        (lambda p: os.mkfifo(str(p)), "{target} is a FIFO, not a regular file"),
        (lambda p: secret_file(p, b"\n"), "{target} is empty"),
        (lambda p: secret_file(p, b"\xff\xfe"), "{target} is not UTF-8 text"),
        (
            lambda p: secret_file(p, b"x" * (MAX_CREDENTIAL_BYTES + 1)),
            f"{{target}} is larger than {MAX_CREDENTIAL_BYTES} bytes",
        ),
    ],
    ids=["missing", "directory", "fifo", "empty", "binary", "too-large"],
)
def test_file_errors(tmp_path: pathlib.Path, setup: object, message: str) -> None:
    target = tmp_path / "secret"
    setup(target)  # type: ignore[operator]
    resolver = CredentialResolver({"s": {"type": "file", "path": str(target)}}, path="c.yml")
    with pytest.raises(AlertConfigurationError) as info:
        resolver.resolve("s")
    assert str(info.value) == "c.yml: credentials.s.path: credential 's': " + message.format(target=target)


# -- sops ------------------------------------------------------------------


@pytest.fixture
def fake_sops(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A directory first on PATH where a test writes its `sops` script."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return bin_dir


def write_sops(bin_dir: pathlib.Path, body: str) -> None:
    script = bin_dir / "sops"
    script.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n", encoding="utf-8")
    script.chmod(stat.S_IRWXU)


def test_sops_not_installed(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a directory without sops
    resolver = CredentialResolver(
        {"pd": {"type": "sops", "path": "/srv/secrets.enc.yaml", "key_field": "pagerduty.key"}}, path="c.yml"
    )
    with pytest.raises(AlertConfigurationError) as info:
        resolver.resolve("pd")
    assert str(info.value) == (
        "c.yml: credentials.pd.type: credential 'pd': the sops binary is not installed (needed to decrypt "
        "/srv/secrets.enc.yaml); install sops or use an env or file credential"
    )


def test_sops_decrypts_and_extracts_key_field(tmp_path: pathlib.Path, fake_sops: pathlib.Path) -> None:
    argv_log = tmp_path / "argv"
    write_sops(
        fake_sops,
        f"open({str(argv_log)!r}, 'w').write(' '.join(sys.argv[1:]))\n"
        'print(\'{"pagerduty": {"routing_key": "R0UT1NG"}, "port": 25}\')',
    )
    resolver = resolver_for(
        tmp_path,
        "credentials:\n"
        "  pd: {type: sops, path: secrets.enc.yaml, key_field: pagerduty.routing_key}\n"
        "  port: {type: sops, path: secrets.enc.yaml, key_field: port}\n",
    )
    assert resolver.resolve("pd") == "R0UT1NG"
    assert resolver.resolve("port") == "25"
    assert argv_log.read_text() == f"--decrypt --output-type json {tmp_path / 'secrets.enc.yaml'}"


def test_sops_yaml_output_is_read_too(fake_sops: pathlib.Path) -> None:
    write_sops(fake_sops, "print('token: abc # comment')")
    resolver = CredentialResolver({"t": {"type": "sops", "path": "/x.enc", "key_field": "token"}})
    assert resolver.resolve("t") == "abc"


@pytest.mark.parametrize(
    ("script", "key_field", "message"),
    [
        (
            "sys.stderr.write('Failed to get the data key\\n'); sys.exit(128)",
            "k",
            "sops could not decrypt /x.enc (exit status 128): Failed to get the data key",
        ),
        (
            'print(\'{"a": {"b": "s3cret"}}\')',
            "a.c",
            "key_field 'a.c' not found in the decrypted file (keys there: b)",
        ),
        ('print(\'{"a": {"b": "s3cret"}}\')', "a", "key_field 'a' is not a non-empty text value"),
        ("print('[unclosed')", "a", "sops printed something that is neither JSON nor YAML"),
        ("time.sleep(10)", "a", "sops did not finish decrypting /x.enc within 0.5s"),
    ],
    ids=["exit-status", "missing-field", "not-text", "garbage", "timeout"],
)
def test_sops_errors(
    fake_sops: pathlib.Path, monkeypatch: pytest.MonkeyPatch, script: str, key_field: str, message: str
) -> None:
    monkeypatch.setattr(credentials_module, "SOPS_TIMEOUT", 0.5)
    write_sops(fake_sops, script)
    resolver = CredentialResolver({"s": {"type": "sops", "path": "/x.enc", "key_field": key_field}})
    with pytest.raises(AlertConfigurationError) as info:
        resolver.resolve("s")
    assert info.value.reason == f"credential 's': {message}"
    assert "s3cret" not in str(info.value)

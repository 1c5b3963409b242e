"""Credentials: named secrets a channel refers to, resolved on demand.

The top-level ``credentials:`` section maps a name to where its secret
lives::

    credentials:
      slack_webhook: {type: env, var: SLACK_WEBHOOK_URL}
      smtp_password: {type: file, path: /run/secrets/smtp}
      pagerduty_key: {type: sops, path: secrets.enc.yaml, key_field: pagerduty.routing_key}

A channel entry says ``credentials: slack_webhook`` and its ``from_config``
calls :meth:`CredentialResolver.resolve`. Rules: an error names the
credential and where it is defined, never its value; a ``file`` readable by
group or others is refused unless ``allow_insecure_permissions: true``;
``sops`` runs the ``sops`` binary with a deadline. Users may pass their own
resolver (any object with ``resolve(name) -> str``) to ``from_config``.
"""

import os

from .._secret import resolve_credential as resolve_credential  # this module's name, as before
from .._suggest import suggest
from .._typing import Any, Dict, Mapping, Optional, Tuple
from ..exceptions import AlertConfigurationError
from ..limits import MAX_CONFIG_BYTES, MAX_CREDENTIAL_BYTES, SOPS_TIMEOUT
from .schema import NO_LINES, check_keys

__all__ = ()

#: The keys each credential ``type`` accepts.
CREDENTIAL_KEYS = {
    "env": frozenset({"type", "var"}),
    "file": frozenset({"type", "path", "allow_insecure_permissions"}),
    "sops": frozenset({"type", "path", "key_field"}),
}
_REQUIRED = {"env": ("var",), "file": ("path",), "sops": ("path", "key_field")}


def check_credentials(
    section: Mapping[Any, Any],
    *,
    path: Optional[str] = None,
    lines: Mapping[str, int] = NO_LINES,
) -> None:
    """Check the shape of a ``credentials`` section (not the secrets)."""
    for name, entry in section.items():
        where = f"credentials.{name}"

        def fail(message: str, key: str, where: str = where) -> AlertConfigurationError:
            return AlertConfigurationError(message, path=path, line=lines.get(key, lines.get(where)), key=key)

        if not isinstance(entry, Mapping):
            raise fail(
                f"must be a mapping with a 'type' (env, file or sops), got {type(entry).__name__}", where
            )
        kind = entry.get("type")
        if kind not in CREDENTIAL_KEYS:
            raise fail(
                f"unknown credential type {kind!r}{suggest(str(kind), CREDENTIAL_KEYS)}", f"{where}.type"
            )
        check_keys(entry, CREDENTIAL_KEYS[kind], where, path, lines)
        for required in _REQUIRED[kind]:
            value = entry.get(required)
            if not isinstance(value, str) or not value.strip():
                raise fail(f"a {kind} credential needs '{required}' (text)", f"{where}.{required}")
        insecure = entry.get("allow_insecure_permissions", False)
        if not isinstance(insecure, bool):
            raise fail("must be true or false", f"{where}.allow_insecure_permissions")


class CredentialResolver:
    """Resolve credential names from a ``credentials`` section.

    ``path`` is the config file (errors name it, and relative file paths
    are taken from its directory); ``lines`` maps dotted keys to lines.

    >>> import os
    >>> os.environ["KST_DOCTEST_TOKEN"] = "s3cret"
    >>> CredentialResolver({"t": {"type": "env", "var": "KST_DOCTEST_TOKEN"}}).resolve("t")
    's3cret'
    """

    def __init__(
        self,
        credentials: Optional[Mapping[str, Any]] = None,
        *,
        path: Optional[str] = None,
        lines: Optional[Mapping[str, int]] = None,
    ) -> None:
        self._section: Dict[str, Any] = dict(credentials or {})
        self._path = path
        self._lines: Mapping[str, int] = dict(lines or {})
        check_credentials(self._section, path=path, lines=self._lines)

    @property
    def names(self) -> Tuple[str, ...]:
        """The credential names defined."""
        return tuple(self._section)

    def _fail(self, name: str, message: str, field: str = "") -> AlertConfigurationError:
        key = f"credentials.{name}" + (f".{field}" if field else "")
        line = self._lines.get(key, self._lines.get(f"credentials.{name}"))
        return AlertConfigurationError(f"credential {name!r}: {message}", path=self._path, line=line, key=key)

    def _unresolved(self, name: str, message: str, field: str) -> AlertConfigurationError:
        from ..exceptions import UnresolvedCredentialError

        key = f"credentials.{name}.{field}"
        line = self._lines.get(key, self._lines.get(f"credentials.{name}"))
        return UnresolvedCredentialError(
            f"credential {name!r}: {message}", credential=name, path=self._path, line=line, key=key
        )

    def resolve(self, name: str) -> str:
        """The secret named ``name``; raises without ever showing it."""
        entry = self._section.get(name)
        if entry is None:
            if not self._section:
                raise AlertConfigurationError(
                    f"unknown credential {name!r}: the config has no 'credentials' section", key="credentials"
                )
            raise AlertConfigurationError(
                f"unknown credential {name!r}{suggest(str(name), map(str, self._section))}", key="credentials"
            )
        kind = entry["type"]
        if kind == "env":
            value = os.environ.get(entry["var"], "")
            if not value:
                raise self._unresolved(name, f"environment variable {entry['var']} is not set", "var")
            return value
        if kind == "file":
            return self._from_file(name, entry)
        return self._from_sops(name, entry)

    def _file_path(self, raw: str) -> str:
        expanded = os.path.expanduser(raw)
        if not os.path.isabs(expanded) and self._path is not None:
            expanded = os.path.join(os.path.dirname(os.path.abspath(self._path)), expanded)
        return expanded

    def _systemd_credential(self, name: str, raw: str) -> str:
        """``$CREDENTIALS_DIRECTORY`` in a path: where systemd put a unit's ``LoadCredential=``."""
        if "$CREDENTIALS_DIRECTORY" not in raw and "${CREDENTIALS_DIRECTORY}" not in raw:
            return raw
        where = os.environ.get("CREDENTIALS_DIRECTORY", "")
        if not where:
            raise self._unresolved(
                name, "CREDENTIALS_DIRECTORY is not set (systemd sets it for LoadCredential=)", "path"
            )
        return raw.replace("${CREDENTIALS_DIRECTORY}", where).replace("$CREDENTIALS_DIRECTORY", where)

    def _from_file(self, name: str, entry: Mapping[str, Any]) -> str:
        import stat

        target = self._file_path(self._systemd_credential(name, entry["path"]))
        from ..state.files import UnsafeFileError, open_regular, read_fd

        try:
            fd = open_regular(target, os.O_RDONLY, follow=True)  # a FIFO is refused, never waited on
            try:
                mode = os.fstat(fd).st_mode
                if os.name == "posix" and mode & 0o077 and not entry.get("allow_insecure_permissions", False):
                    raise self._fail(
                        name,
                        f"{target} can be read by other users (mode {stat.S_IMODE(mode):04o}); "
                        "chmod 600 it, or set allow_insecure_permissions: true",
                        "path",
                    )
                raw = read_fd(fd, MAX_CREDENTIAL_BYTES + 1)
            finally:
                os.close(fd)
        except UnsafeFileError as exc:
            raise self._fail(name, f"{target} {exc.why}", "path") from None
        except FileNotFoundError:
            raise self._unresolved(name, f"file {target} does not exist", "path") from None
        except IsADirectoryError:
            raise self._fail(name, f"{target} is a directory", "path") from None
        except OSError as exc:
            raise self._fail(name, f"cannot read {target}: {exc.strerror}", "path") from None
        if len(raw) > MAX_CREDENTIAL_BYTES:
            raise self._fail(name, f"{target} is larger than {MAX_CREDENTIAL_BYTES} bytes", "path")
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self._fail(name, f"{target} is not UTF-8 text", "path") from None
        if value.endswith("\n"):
            value = value[:-2] if value.endswith("\r\n") else value[:-1]
        if not value:
            raise self._fail(name, f"{target} is empty", "path")
        return value

    def _from_sops(self, name: str, entry: Mapping[str, Any]) -> str:
        import shutil
        import subprocess

        target = self._file_path(entry["path"])
        binary = shutil.which("sops")
        if binary is None:
            raise self._unresolved(
                name,
                f"the sops binary is not installed (needed to decrypt {target}); "
                "install sops or use an env or file credential",
                "type",
            )
        try:
            done = subprocess.run(  # noqa: S603 (a fixed argv; no shell)
                [binary, "--decrypt", "--output-type", "json", target],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                timeout=SOPS_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise self._fail(
                name, f"sops did not finish decrypting {target} within {SOPS_TIMEOUT:g}s", "path"
            ) from None
        except OSError as exc:
            raise self._fail(name, f"cannot run sops: {exc.strerror}", "type") from None
        if done.returncode != 0:
            detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
            hint = f": {detail[0][:200]}" if detail else ""
            raise self._unresolved(
                name, f"sops could not decrypt {target} (exit status {done.returncode}){hint}", "path"
            )
        return self._field(name, entry["key_field"], done.stdout)

    def _field(self, name: str, key_field: str, output: bytes) -> str:
        import json

        if len(output) > MAX_CONFIG_BYTES:
            raise self._fail(name, f"the decrypted file is larger than {MAX_CONFIG_BYTES} bytes", "path")
        text = output.decode("utf-8", "replace")
        try:
            document: Any = json.loads(text)
        except ValueError:
            from .yaml import parse_yaml

            try:
                document = parse_yaml(text)[0]
            except AlertConfigurationError:
                raise self._fail(
                    name, "sops printed something that is neither JSON nor YAML", "path"
                ) from None
        node = document
        for part in key_field.split("."):
            if not isinstance(node, Mapping) or part not in node:
                keys = ", ".join(sorted(map(str, node))) if isinstance(node, Mapping) else "(not a mapping)"
                message = f"key_field {key_field!r} not found in the decrypted file (keys there: {keys})"
                raise self._fail(name, message, "key_field")
            node = node[part]
        if isinstance(node, bool) or not isinstance(node, (str, int, float)) or node == "":
            raise self._fail(name, f"key_field {key_field!r} is not a non-empty text value", "key_field")
        return str(node)

    def __repr__(self) -> str:
        return f"CredentialResolver(names={list(self._section)!r}, path={self._path!r})"

"""One description per channel type: its options, and what is derived from them.

A channel class lists its config options once, in ``options`` (a tuple of
:class:`Option`): the key, what it holds, its default, whether it is the
channel's secret (read from ``credentials:`` or the literal key, never
both), its URL rule (:mod:`kstalerts.net.url`) and a one-line description.
From that one list come:

- the keys the schema accepts for the type (``config_keys``, with
  :data:`COMMON_KEYS`, the keys every entry accepts);
- ``from_config``: :func:`build` reads every option with the same checks
  and words, then calls the class's ``_from_values`` hook (the plain
  constructor unless the type needs more: email's transport, Alertmanager's
  URLs and basic auth, the console's stream);
- the options tables of ``docs/channels.md`` (:func:`options_markdown`;
  a test keeps the page equal to it).

Rules: a wrong value is an :class:`AlertConfigurationError` on the key,
``"<type>: <key> must be ..."``; a misspelt choice names the closest valid
one. An option marked ``manual`` is accepted and documented here but read
by the class's hook. This module imports nothing that opens a socket.
"""

from .._secret import Secret
from .._typing import Any, Dict, FrozenSet, Mapping, NamedTuple, Optional, Tuple
from ..exceptions import AlertConfigurationError
from ..net.url import URLRule

__all__ = ()


class Option(NamedTuple):
    """One config option of a channel type."""

    name: str  # the config key
    kind: str  # text | bool | choice | mapping | text_or_mapping | any
    doc: str  # one line for the docs table
    default: Any = None  # the constructor's default (None: unset)
    arg: str = ""  # the constructor's keyword, when it is not ``name``
    secret: bool = False  # from ``credentials:`` or the literal key
    required: bool = False
    choices: Tuple[str, ...] = ()
    url: Optional[URLRule] = None  # the rule the constructor checks it with
    what: str = ""  # what a mapping holds, for the error
    manual: bool = False  # read by the class's ``_from_values`` hook

    @property
    def keyword(self) -> str:
        """The constructor's keyword argument for this option."""
        return self.arg or self.name


#: Options every channel type accepts; ``name``/``timeout``/``max_retries``
#: reach the constructor, the others are the manager's (see the wiring).
COMMON: Tuple[Option, ...] = (
    Option("type", "choice", "the channel type (this table's title)", manual=True),
    Option("name", "text", "the name results and logs use (default: the key)"),
    Option("min_level", "any", "the lowest level delivered (default: info)", manual=True),
    Option("throttle", "any", "this channel's throttle over alerts.throttle, or false", manual=True),
    Option("credentials", "text", "the name of the credential holding the secret", manual=True),
    Option("timeout", "any", "seconds one attempt may take (default: alerts.channels.timeout)"),
    Option("max_retries", "any", "retries after the first attempt (default: alerts.channels.max_retries)"),
    Option("spool_throttled", "bool", "spool an alert the throttle refused", default=False, manual=True),
    Option("digest", "bool", "send what the throttle held back with the next delivery", manual=True),
    Option("send_resolved", "bool", "send resolved messages (alerts.lifecycle)", default=True, manual=True),
)
#: Keys every channel entry accepts, whatever its type.
COMMON_KEYS: FrozenSet[str] = frozenset(o.name for o in COMMON)

#: The HTTP transport options of every channel that POSTs.
TRANSPORT: Tuple[Option, ...] = (
    Option("ssl_verify", "bool", "verify the server's certificate", default=True),
    Option("ssl_ca_bundle", "text", "a CA bundle file (PEM) to verify with"),
    Option("proxy", "text", "an http:// proxy URL (default: HTTPS_PROXY/HTTP_PROXY, NO_PROXY)"),
)


def read(option: Option, value: Any, service: str) -> Any:
    """``value`` of ``option`` if it is what the option holds; else the error on its key."""
    key = option.name
    if option.kind == "text":
        if value is not None and not isinstance(value, str):
            # The type, never the value: a misplaced secret must not be echoed.
            got = type(value).__name__
            raise AlertConfigurationError(f"{service}: {key} must be a string, got {got}", key=key)
    elif option.kind == "bool":
        if not isinstance(value, bool):
            raise AlertConfigurationError(f"{service}: {key} must be true or false, got {value!r}", key=key)
    elif option.kind == "choice":
        if not isinstance(value, str) or value not in option.choices:
            short = isinstance(value, str) and len(value) <= 40
            shown = repr(value) if short else f"a {type(value).__name__}"
            from .._suggest import suggest  # only for a wrong value

            hint = suggest(str(value), option.choices)
            raise AlertConfigurationError(f"{service}: {key} is {shown}{hint}", key=key)
    elif option.kind == "mapping":
        if not isinstance(value, Mapping):
            raise AlertConfigurationError(
                f"{service}: {key} must be {option.what or 'a mapping'}", key=key
            )
    elif option.kind == "text_or_mapping":
        if not isinstance(value, (str, Mapping)):
            raise AlertConfigurationError(f"{service}: {key} must be a text or a mapping", key=key)
    return value


def resolve_secret(config: Mapping[str, Any], field: str, resolver: Any, *, service: str) -> Optional[str]:
    """The secret from ``credentials:`` (a name) or the literal ``field``; never both."""
    if config.get("credentials") is not None and config.get(field) is not None:
        raise AlertConfigurationError(f"{service}: give either credentials or {field}, not both", key=field)
    name = config.get("credentials")
    if name is not None:
        if resolver is None:
            raise AlertConfigurationError(
                f"{service}: 'credentials: {name}' needs a credential resolver", key="credentials"
            )
        from .._secret import resolve_credential

        value = resolve_credential(resolver, str(name))
        if not isinstance(value, str):
            raise AlertConfigurationError(
                f"{service}: credential {name!r} must be a string", key="credentials"
            )
        return value
    value = config.get(field)
    if value is None:
        return None
    if isinstance(value, Secret):
        return value.reveal()
    if not isinstance(value, str):
        raise AlertConfigurationError(f"{service}: {field} must be a string", key=field)
    return value


def build(cls: Any, config: Mapping[str, Any], resolver: Any) -> Any:
    """The channel ``cls`` (an AlertChannel class) that ``config`` (one ``channels`` entry) describes."""
    service = cls.kind
    config = cls._prepare_config(config)
    values: Dict[str, Any] = {}
    for option in COMMON + tuple(cls.options or ()):
        if option.manual:
            continue
        if option.secret:
            secret = resolve_secret(config, option.name, resolver, service=service)
            if secret is None:
                if option.required:
                    raise AlertConfigurationError(
                        f"{service}: needs credentials: or {option.name}:", key="credentials"
                    )
                continue
            values[option.keyword] = Secret(secret.strip())
        elif config.get(option.name) is not None:
            values[option.keyword] = read(option, config[option.name], service)
    return cls._from_values(values, config, resolver)


def options_markdown(types: Mapping[str, Any]) -> str:
    """The options tables of ``docs/channels.md``, one per channel type."""
    out = ["Every entry also accepts: " + ", ".join(f"`{o.name}`" for o in COMMON) + "."]
    for kind in sorted(types):
        cls = types[kind]
        out += ["", f"#### `type: {kind}` ({cls.__name__})", "", "| key | holds | default | meaning |"]
        out.append("|---|---|---|---|")
        for option in cls.options or ():
            holds = option.kind.replace("_", " ")
            if option.choices:
                holds = " or ".join(f"`{c}`" for c in option.choices)
            if option.secret:
                holds = "secret (or `credentials:`)"
            if option.url is not None:
                holds += f", {option.url.service or 'http(s)'} URL"
            default = "required" if option.required else _shown(option.default)
            out.append(f"| `{option.name}` | {holds} | {default} | {option.doc} |")
    return "\n".join(out) + "\n"


def _shown(default: Any) -> str:
    if default is None:
        return "-"
    if isinstance(default, bool):
        return "`true`" if default else "`false`"
    return f"`{default}`"

"""SMTPTransport: one message over SMTP, encrypted and verified by default.

Rules: TLS is STARTTLS on port 587 unless asked otherwise, and it always
verifies the server's certificate and host name (smtplib's own default
context does not). A server that does not offer STARTTLS gets nothing: not
the password, not the message. ``security="none"`` is clear text only when
asked, and even then the password is refused unless
``allow_plaintext_auth=True``. One attempt has one deadline that a slow or
trickling server cannot stretch. A session is kept open after a send
(at most ``MAX_IDLE_CONNECTIONS`` idle ones, each for ``SMTP_IDLE_SECONDS``
and ``MAX_SMTP_SESSION_MESSAGES`` messages) and reused by the next send,
never by two at once; a reused session found dead before DATA is replaced
by a new one within the same attempt. The sessions are kept in a
:class:`kstalerts.net.wire.IdlePool`: a forked child never uses (nor says QUIT
on, nor closes the TLS of) a session inherited from its parent, and a
signal handler that sends while its thread holds the pool's lock goes
through. TLS follows :func:`kstalerts.net.wire.tls_context` (TLS >= 1.2, a CA
file or directory). How far an attempt got is a
:class:`kstalerts.net.attempt.Stage` (before DATA, DATA sent, the final dot
written), and the rows HTTP shares (``kstalerts.net.attempt.STAGES``) say
what a failure at each stage allows; :func:`kstalerts.net.attempt.pooled_attempts`
runs the "idle session, else a new one; a stale one replaced once" loop.
SMTP reply codes decide what a failure is: 4xx is temporary (retryable),
5xx permanent. The password never appears in a repr, an error or a log
line, including the base64 lines of AUTH.
"""

import re
import time

from .._lazy import TYPE_CHECKING
from .._log import logger
from .._secret import Secret
from .._typing import Dict, Optional, Tuple, Union
from ..exceptions import AlertConfigurationError, AlertDeliveryError
from ..limits import (
    MAX_IDLE_CONNECTIONS,
    MAX_SMTP_SESSION_MESSAGES,
    SMTP_IDLE_SECONDS,
    finite_number,
    validate,
)
from ..net import attempt
from ..net.attempt import Attempt, Rules, Stage, pooled_attempts
from ..net.wire import IdlePool, tls_context
from .base import MailTransport, PartialDeliveryError, clean_reply, envelope, flag

if TYPE_CHECKING:
    import ssl
    from email.message import EmailMessage
    from typing import NoReturn

    from ..net import smtp as _smtp_client

__all__ = ()

_log = logger("kstalerts.transports.smtp")

#: security mode -> its usual port
SECURITY_MODES: Dict[str, int] = {"starttls": 587, "ssl": 465, "none": 25}
#: Seconds a new session waits for the server's greeting (within the attempt's
#: timeout): a port that expects TLS first never greets a plain client.
GREETING_WAIT = 10.0

_HOST = re.compile(r"^[^\s\x00-\x1f\x7f/@]+$")
_QUIT_WAIT = 1.0  # seconds a QUIT to a retired session may take to write


class SMTPTransport(MailTransport):
    """Send mail through an SMTP server.

    - ``host``, ``port``: the server; ``port`` defaults to 587 for
      ``starttls``, 465 for ``ssl`` and 25 for ``none``.
    - ``security``: ``"starttls"`` (upgrade a plain connection, refuse a
      server that cannot), ``"ssl"`` (TLS from the first byte) or ``"none"``.
    - ``username``, ``password``: log in with AUTH (PLAIN, LOGIN or
      CRAM-MD5, whichever the server offers); both or neither.
    - ``timeout``: an upper bound on one attempt, in seconds (hard limit
      1..120); the channel's own timeout applies as well.
    - ``ssl_verify=False`` turns certificate checks off (logged as a
      warning); ``ssl_ca_bundle`` is a PEM file (or an OpenSSL-hashed
      directory) of CAs to trust instead of the system's.
    - ``allow_plaintext_auth``: let ``security="none"`` send the password.
    - ``local_hostname``: the name given in EHLO; by default this host's
      name if it is fully qualified, else its address literal (no DNS
      lookup, which could hang past the deadline).
    - ``greeting_wait``: seconds a new session waits for the greeting
      (``GREETING_WAIT``, 10 s; a shorter one only, for tests).
    """

    kind = "smtp"
    #: seconds an idle session is kept, and messages one session carries
    idle_seconds: float = SMTP_IDLE_SECONDS
    max_session_messages: int = MAX_SMTP_SESSION_MESSAGES

    def __init__(
        self,
        host: str,
        port: Optional[int] = None,
        *,
        username: Optional[str] = None,
        password: Union[str, Secret, None] = None,
        security: str = "starttls",
        timeout: Optional[float] = None,
        ssl_verify: bool = True,
        ssl_ca_bundle: Optional[str] = None,
        allow_plaintext_auth: bool = False,
        local_hostname: Optional[str] = None,
        greeting_wait: float = GREETING_WAIT,
    ) -> None:
        if not isinstance(host, str) or not _HOST.match(host):
            raise AlertConfigurationError(f"must be a host name or address, got {host!r}", key="host")
        if security not in SECURITY_MODES:
            valid = ", ".join(SECURITY_MODES)
            raise AlertConfigurationError(f"must be one of {valid}, got {security!r}", key="security")
        if port is None:
            port = SECURITY_MODES[security]
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise AlertConfigurationError(f"must be a port number (1-65535), got {port!r}", key="port")
        if (username is None) != (password is None):
            raise AlertConfigurationError(
                "username and password go together: give both or neither", key="password"
            )
        if username is not None and (not isinstance(username, str) or not username or _has_control(username)):
            raise AlertConfigurationError(
                "must be a non-empty string without control characters", key="username"
            )
        ssl_verify = flag(ssl_verify, "ssl_verify")
        allow_plaintext_auth = flag(allow_plaintext_auth, "allow_plaintext_auth")
        if security == "none" and username is not None and not allow_plaintext_auth:
            raise AlertConfigurationError(
                "security 'none' would send the password in clear text;"
                " use 'starttls' or 'ssl', or set allow_plaintext_auth",
                key="security",
            )
        if local_hostname is not None and (
            not isinstance(local_hostname, str) or not _HOST.match(local_hostname)
        ):
            raise AlertConfigurationError(
                f"must be a host name, got {local_hostname!r}", key="local_hostname"
            )
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password: Optional[Secret] = None
        if password is not None:
            self._password = password if isinstance(password, Secret) else Secret(password, mask="***")
        self.timeout = None if timeout is None else float(validate("channels.timeout", timeout))
        self.ssl_verify = ssl_verify
        self.ssl_ca_bundle = ssl_ca_bundle
        self.allow_plaintext_auth = allow_plaintext_auth
        self.local_hostname = local_hostname
        wait = finite_number(greeting_wait)
        if wait is None or wait <= 0:
            raise AlertConfigurationError(
                f"must be a positive number, got {greeting_wait!r}", key="greeting_wait"
            )
        self.greeting_wait = min(wait, GREETING_WAIT)  # shorter for tests, never longer
        self._pool: IdlePool[_smtp_client.DeadlineSMTP] = IdlePool(MAX_IDLE_CONNECTIONS)
        # a bad CA bundle is a config error, now, whatever the security mode
        self._context: Optional[ssl.SSLContext] = None
        if security != "none" or ssl_ca_bundle is not None:
            self._context = tls_context(self.ssl_verify, ssl_ca_bundle)
        if security != "none":
            if not self.ssl_verify:
                _log.warning("TLS certificate verification is off for %s", self.describe())

    def describe(self) -> str:
        """``smtp://host:port (security)``."""
        return f"smtp://{self.host}:{self.port} ({self.security})"

    def __repr__(self) -> str:
        auth = "" if self.username is None else f", username={self.username!r}, password=***"
        return f"SMTPTransport(host={self.host!r}, port={self.port}, security={self.security!r}{auth})"

    # -- sending --------------------------------------------------------------
    def send(self, message: "EmailMessage", *, timeout: float) -> Optional[str]:
        """Deliver ``message`` on an idle session or a new one; return its Message-ID.

        Raises :class:`AlertDeliveryError`; :class:`PartialDeliveryError`
        when some recipients were refused and the others got it.
        """
        import smtplib

        limit = timeout if self.timeout is None else min(timeout, self.timeout)
        sender, recipients = envelope(message)
        if not sender or not recipients:
            raise AlertDeliveryError("the message has no sender or no recipients", retryable=False)
        deadline = time.monotonic() + limit

        def fail(exc: BaseException, stage: Stage) -> "NoReturn":
            if stage.resend is attempt.FATE_UNKNOWN and _no_answer(exc):
                raise self._fate_unknown(exc, limit) from None
            raise self._translate(exc, limit) from None

        rules = Rules(
            first=attempt.ENVELOPE,
            errors=(OSError, smtplib.SMTPException),
            is_stale=_dead_session,
            fail=fail,
            deadline=deadline,
            log=_log,
            peer=self.describe(),
            what="session",
        )
        go: Attempt[_smtp_client.DeadlineSMTP]
        for go in pooled_attempts(self._checkout(deadline), rules):
            with go:
                if go.connection is None:
                    go.connection = self._new_session(deadline)
                client = go.connection
                client.begin(deadline, go.progress)
                refused = client.send_message(message, from_addr=sender, to_addrs=recipients)
        self._checkin(client)
        message_id = message.get("Message-ID")
        message_id = str(message_id).strip() if message_id is not None else None
        if refused:
            secrets = self._secret_forms()
            raise PartialDeliveryError(
                {addr: (code, clean_reply(text, secrets=secrets)) for addr, (code, text) in refused.items()},
                [addr for addr in recipients if addr not in refused],
                message_id=message_id,
            )
        return message_id

    def close(self) -> None:
        """Say QUIT to the idle sessions and close them; the transport stays usable."""
        for client in self._pool.drain():  # none in a forked child: no QUIT from there
            client.retire(_QUIT_WAIT)

    # -- sessions -------------------------------------------------------------
    def _new_session(self, deadline: float) -> "_smtp_client.DeadlineSMTP":
        """Connect, greet, upgrade to TLS and log in, all before ``deadline``."""
        from ..net import smtp as _smtp_client

        client = _smtp_client.DeadlineSMTP(
            deadline,
            local_hostname=self.local_hostname,
            tls_context=self._context if self.security == "ssl" else None,
            secrets=self._secret_forms(),
        )
        try:
            client.open(self.host, self.port, greeting_wait=self.greeting_wait)
            client.ehlo_or_helo_if_needed()
            if self.security == "starttls":
                assert self._context is not None
                client.start_tls(self._context)
                client.ehlo()
            if self.username is not None and self._password is not None:
                password = self._password.reveal()
                if _ascii(self.username) and _ascii(password):
                    client.login(self.username, password)
                else:
                    client.login_utf8(self.username, password)
        except BaseException:
            client.close()
            raise
        return client

    def _checkout(self, deadline: float) -> Optional["_smtp_client.DeadlineSMTP"]:
        """An idle session that is still fresh and quiet, or None; one idle
        too long is retired with a QUIT."""
        wait = max(0.001, min(_QUIT_WAIT, deadline - time.monotonic()))
        return self._pool.take(self.idle_seconds, lambda client: client.retire(wait))

    def _checkin(self, client: "_smtp_client.DeadlineSMTP") -> None:
        client.messages += 1
        if not (client.messages < self.max_session_messages and self._pool.put(client)):
            client.retire(_QUIT_WAIT)

    def _secret_forms(self) -> Tuple[str, ...]:
        """The password as it could appear on the wire: raw and base64."""
        if self._password is None or self.username is None:
            return ()
        import base64

        password = self._password.reveal()
        forms = [password]
        for raw in (password, f"\0{self.username}\0{password}"):
            forms.append(base64.b64encode(raw.encode("utf-8")).decode("ascii"))
        return tuple(f for f in forms if f)

    def _fate_unknown(self, exc: BaseException, limit: float) -> AlertDeliveryError:
        """The whole message went out and no answer came: it may have been
        delivered, so it is not sent again (nor spooled for a blind resend)."""
        what = self._translate(exc, limit)
        return AlertDeliveryError(
            f"{what}; the message was sent in full but not acknowledged,"
            " so it may have been delivered (not sent again)",
            retryable=False,
        )

    def _translate(self, exc: BaseException, limit: float) -> AlertDeliveryError:
        import smtplib

        from ..net.smtp import NoGreeting, StartTLSMissing

        where = f"{self.host}:{self.port}"
        secrets = self._secret_forms()
        if isinstance(exc, StartTLSMissing):
            return AlertDeliveryError(
                f"{where} does not offer STARTTLS; nothing was sent"
                " (security 'starttls' never falls back to clear text; for a local test server"
                " without TLS, set security: none)",
                retryable=False,
            )
        if isinstance(exc, NoGreeting):
            hint = (
                "this port expects TLS from the first byte: set security: ssl"
                if self.security != "ssl"
                else "is it an SMTP server?"
            )
            return AlertDeliveryError(
                f"{where} accepted the connection but sent no SMTP greeting within {exc.wait:g}s ({hint})",
                retryable=False,
            )
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(
                f"{addr}: {code} {clean_reply(text, secrets=secrets)}"
                for addr, (code, text) in exc.recipients.items()
            )
            return AlertDeliveryError(
                f"{where} refused every recipient: {detail}",
                retryable=bool(codes) and all(_temporary(code) for code in codes),
                status=max(codes) if codes else None,
            )
        if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code < 0:
            text = clean_reply(exc.smtp_error, secrets=secrets)
            return AlertDeliveryError(f"{where} sent a malformed reply: {text}", retryable=True)
        if isinstance(exc, smtplib.SMTPResponseException):
            text = clean_reply(exc.smtp_error, secrets=secrets)
            what = "refused the login" if isinstance(exc, smtplib.SMTPAuthenticationError) else "answered"
            return AlertDeliveryError(
                f"{where} {what}: {exc.smtp_code} {text}".rstrip(),
                retryable=_temporary(exc.smtp_code),
                status=exc.smtp_code,
            )
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return AlertDeliveryError(f"{where} closed the connection", retryable=True)
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return AlertDeliveryError(f"{where}: {clean_reply(exc, secrets=secrets)}", retryable=False)
        if isinstance(exc, smtplib.SMTPException):  # e.g. no AUTH mechanism in common
            return AlertDeliveryError(f"{where}: {clean_reply(exc, secrets=secrets)}", retryable=False)
        from ..net.fault import PERMANENT, Fault, classify

        fault, detail = classify(exc)
        text = {
            Fault.NOT_TLS: f"{where}: TLS error: WRONG_VERSION_NUMBER: the server does not speak TLS from the"
            f" first byte on port {self.port} (security 'ssl'): set security: starttls (port 587),"
            " or none for a local test server",
            Fault.CERTIFICATE: f"{where}: TLS certificate verification failed: {detail}",
            Fault.TIMEOUT: f"{where} did not answer within {limit:g}s",
            Fault.TLS: f"{where}: TLS error: {detail}",
            Fault.REFUSED: f"{where} refused the connection",
            Fault.RESET: f"{where}: network error: {detail}",
            Fault.UNRESOLVED: f"cannot resolve {self.host}: {detail}",
            Fault.NETWORK: f"{where}: network error: {detail}",
        }[fault]
        return AlertDeliveryError(text, retryable=fault not in PERMANENT)


def _dead_session(exc: BaseException) -> bool:
    """A failure that says a reused session was already gone (nothing sent)."""
    import smtplib
    import socket

    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(code == 421 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == 421
    return isinstance(exc, OSError) and not isinstance(exc, socket.timeout)


def _no_answer(exc: BaseException) -> bool:
    """No reply (or an unreadable one) where the server's verdict was due:
    a timeout, a hang-up, a reset, a malformed reply. A real reply (a 451 or
    a 550 after the message) is a verdict, and keeps its own meaning."""
    import smtplib

    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code < 0
    return isinstance(exc, (OSError, smtplib.SMTPServerDisconnected))


def _ascii(text: str) -> bool:
    try:
        text.encode("ascii")
    except UnicodeEncodeError:
        return False
    return True


def _temporary(code: int) -> bool:
    return 400 <= code < 500


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)

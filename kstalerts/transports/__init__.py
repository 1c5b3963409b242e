"""Mail transports: they move a built email message to a mail service.

:class:`SMTPTransport` speaks SMTP with :mod:`smtplib` (STARTTLS or implicit
TLS, always verified); :class:`ResendTransport` posts to the Resend HTTP API
for hosts with no SMTP relay. Both take an
:class:`email.message.EmailMessage` built by
:class:`kstalerts.channels.EmailChannel`, make one attempt per
:meth:`~MailTransport.send` call and raise
:class:`~kstalerts.exceptions.AlertDeliveryError` when it fails. Importing
this package loads neither :mod:`smtplib` nor :mod:`ssl`; a send does.
"""

from .base import MailTransport, PartialDeliveryError
from .resend import ResendTransport
from .smtp import SMTPTransport

__all__ = ("MailTransport", "PartialDeliveryError", "ResendTransport", "SMTPTransport")

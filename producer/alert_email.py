"""Side channel: dead-letter alerts by email over SMTP (the guide's "email or Slack webhook").

Owns ``EmailChannel``: the relay and the recipients as one frozen value (``email_channel``
builds it once from the settings) that sends one message per alert to the domain's recipients
(its own list, else the default list), over SMTP with STARTTLS before anything else is said,
then login when a user is configured. The password is read from its secret file at each send,
so a rotated Kubernetes Secret is used without restart; neither the password nor the file's
content is ever logged. ``send`` runs the blocking ``smtplib`` exchange in a worker thread and
returns an ``EmailOutcome``: delivered, or why not and whether a retry can help (connection
problems, timeouts and 4xx replies: yes; 5xx replies and a server without STARTTLS: no).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from producer.settings import Settings

__all__ = ["EmailChannel", "EmailOutcome", "email_channel"]


@dataclass(frozen=True, slots=True)
class EmailOutcome:
    """What one send attempt did: ``sent``, else ``reason`` and whether to retry."""

    sent: bool
    reason: str = ""
    retryable: bool = False


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class EmailChannel:
    """Sends alert emails through one SMTP relay.

    ``recipients`` maps a domain to its own recipients; ``default_recipients`` serve the other
    domains. ``starttls`` (the default) refuses a relay that does not offer STARTTLS;
    ``ca_file`` is an extra trust anchor for the relay's certificate (a private CA), else the
    system's. ``password_file`` is read at each send.
    """

    host: str
    port: int
    sender: str
    default_recipients: tuple[str, ...]
    recipients: Mapping[str, tuple[str, ...]]
    starttls: bool = True
    username: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    timeout_s: float = 10.0

    def recipients_for(self, domain: str) -> tuple[str, ...]:
        """The domain's own recipients, else the default ones (maybe none)."""
        return self.recipients.get(domain) or self.default_recipients

    async def send(self, domain: str, subject: str, text: str) -> EmailOutcome:
        """One attempt to deliver ``text`` to the domain's recipients; never raises."""
        to = self.recipients_for(domain)
        if not to:
            return EmailOutcome(False, "no recipients", retryable=False)
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain="mesh-producer")
        message.set_content(text)
        try:
            await asyncio.to_thread(self._exchange, message)
        except (smtplib.SMTPException, OSError, TimeoutError) as exc:
            return _failed(exc)
        return EmailOutcome(True)

    def _exchange(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            smtp.ehlo()
            if self.starttls:
                if not smtp.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError("STARTTLS not offered")
                context = ssl.create_default_context(
                    cafile=str(self.ca_file) if self.ca_file else None
                )
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username is not None:
                smtp.login(self.username, self._password())
            smtp.send_message(message)

    def _password(self) -> str:
        if self.password_file is None:
            return ""
        return self.password_file.read_text(encoding="utf-8").strip()


def _failed(exc: BaseException) -> EmailOutcome:
    """Why a send failed (never the password), and whether a later attempt can help."""
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return EmailOutcome(False, "the relay does not offer STARTTLS", retryable=False)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return EmailOutcome(False, f"login refused ({exc.smtp_code})", retryable=False)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return EmailOutcome(False, "every recipient refused", retryable=False)
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        return EmailOutcome(False, f"SMTP {code}", retryable=400 <= code < 500)
    return EmailOutcome(False, type(exc).__name__, retryable=True)


def email_channel(settings: Settings) -> EmailChannel | None:
    """The channel ``MESH_ALERT_SMTP_*``/``MESH_ALERT_EMAIL_*`` describe, or None when unset."""
    if settings.alert_smtp_host is None or settings.alert_email_from is None:
        return None
    return EmailChannel(
        host=settings.alert_smtp_host,
        port=settings.alert_smtp_port,
        sender=settings.alert_email_from,
        default_recipients=settings.alert_email_to,
        recipients={
            name: settings.domain(name).alert_email_to
            for name in settings.domains
            if settings.domain(name).alert_email_to
        },
        starttls=settings.alert_smtp_starttls,
        username=settings.alert_smtp_username,
        password_file=settings.alert_smtp_password_file,
        ca_file=settings.alert_smtp_ca_file,
    )

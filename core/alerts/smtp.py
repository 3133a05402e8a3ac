"""Email delivery over SMTP, configured by one URL:

    smtp://user:password@host:587?from=alerts@example.com&starttls=1
    smtps://user:password@host:465?from=alerts@example.com     (TLS from the first byte)

User and password are optional and percent-decoded; the port defaults to 25 (smtp) or 465
(smtps); `from` defaults to `syncfarm@<host>`.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from core.alerts.delivery import DeliveryResult
from core.alerts.evaluate import Alert

_YES = {"1", "true", "yes", "on"}
_NO = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    tls: bool = False  # smtps: TLS from the first byte
    starttls: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """The server an `smtp://` or `smtps://` URL names; ValueError saying what is wrong."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("the SMTP URL must look like smtp://user:pass@host:port?from=…")
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        unknown = sorted(set(query) - {"from", "starttls"})
        if unknown:
            raise ValueError(f"the SMTP URL has unknown options {unknown}; it takes from, starttls")
        starttls = query.get("starttls", "").lower()
        if starttls not in _YES | _NO:
            raise ValueError(f"starttls must be 1 or 0 in the SMTP URL, not {starttls!r}")
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            sender=query.get("from") or f"syncfarm@{parts.hostname}",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            starttls=starttls in _YES,
        )


class Mailer:
    """One SMTP session for a batch of alerts, opened at the first message. When the server
    cannot be reached (or refuses the login), every message fails with that error at once
    rather than waiting out the timeout again."""

    def __init__(self, server: SmtpServer, *, timeout_s: float) -> None:
        self.server = server
        self.timeout_s = timeout_s
        self._session: smtplib.SMTP | None = None
        self._broken: str | None = None

    def send(self, alert: Alert, target: dict[str, Any]) -> DeliveryResult:
        address = target["email"]
        try:
            session = self._connect()
            session.send_message(_message(alert, self.server.sender, address))
        except _Unavailable as exc:
            return DeliveryResult(alert.when, "email", address, False, str(exc))
        except (smtplib.SMTPException, OSError) as exc:
            if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
                self._session = None  # the next message opens a new session
            error = f"the SMTP server did not take the message: {_describe(exc)}"
            return DeliveryResult(alert.when, "email", address, False, error)
        return DeliveryResult(alert.when, "email", address, True)

    def close(self) -> None:
        if self._session is not None:
            try:
                self._session.quit()
            except (smtplib.SMTPException, OSError):
                self._session.close()
            self._session = None

    def _connect(self) -> smtplib.SMTP:
        if self._broken is not None:
            raise _Unavailable(self._broken)
        if self._session is not None:
            return self._session
        server = self.server
        try:
            session: smtplib.SMTP
            if server.tls:
                context = ssl.create_default_context()
                session = smtplib.SMTP_SSL(
                    server.host, server.port, timeout=self.timeout_s, context=context
                )
            else:
                session = smtplib.SMTP(server.host, server.port, timeout=self.timeout_s)
                if server.starttls:
                    session.starttls(context=ssl.create_default_context())
            if server.username:
                session.login(server.username, server.password or "")
        except (smtplib.SMTPException, OSError) as exc:
            self._broken = f"could not use the SMTP server {server.host}:{server.port}: "
            self._broken += _describe(exc)
            raise _Unavailable(self._broken) from exc
        self._session = session
        return session


class _Unavailable(Exception):
    pass


def _message(alert: Alert, sender: str, address: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = alert.subject
    message["From"] = sender
    message["To"] = address
    message["Date"] = formatdate(usegmt=True)
    # a domain of our own: make_msgid's default asks DNS for this host's name
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "syncfarm")
    message["X-Syncfarm-Alert"] = alert.when
    message.set_content(alert.message)
    return message


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else exc.smtp_error
        )
        return f"{exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{rcpt}: {code} {msg!r}" for rcpt, (code, msg) in exc.recipients.items())
    return str(exc) or type(exc).__name__

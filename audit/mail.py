"""Email the monthly report: SMTP settings, the message, delivery.

Settings come from the ``smtp:`` section of ``tokaudit.yaml`` and from the environment; an
environment variable wins over the file. The password is read **only** from the
environment (``TOKAUDIT_SMTP_PASSWORD``): a settings file is easily committed or shared,
so a ``password`` key in it is a configuration error.

| yaml (``smtp:``) | environment | meaning |
|---|---|---|
| ``host`` | ``TOKAUDIT_SMTP_HOST`` | SMTP server (required) |
| ``port`` | ``TOKAUDIT_SMTP_PORT`` | default 25 (``none``), 587 (``starttls``), 465 (``ssl``) |
| ``tls`` | ``TOKAUDIT_SMTP_TLS`` | ``none``, ``starttls`` (default) or ``ssl`` |
| ``user`` | ``TOKAUDIT_SMTP_USER`` | login name; requires the password |
| — | ``TOKAUDIT_SMTP_PASSWORD`` | login password (environment only) |
| ``from`` | ``TOKAUDIT_SMTP_FROM`` | sender (required): ``reports@example.com`` or ``Name <…>`` |

TLS verifies the server's certificate against the system's trust store (``SSL_CERT_FILE``
names another bundle). Credentials are never sent over an unencrypted connection except to
a loopback relay.

The message (:func:`build_message`) is ``multipart/mixed``: a ``multipart/alternative``
with the plain-text and the HTML report, and the findings CSV attached as
``tokaudit-findings-<month>.csv``. It is reproducible: ``Date`` is the report's
``generated_at``, and ``Message-ID`` and the MIME boundaries derive from a hash of the
content and recipients, so a pinned clock (``--now`` / ``SOURCE_DATE_EPOCH``) gives the
same bytes. (Sending the very same report twice therefore reuses its Message-ID, and some
mailboxes show it once — which is what a re-run of the same report should do.)

:func:`send_message` delivers over SMTP and raises :class:`MailError` (exit code 1) with the
reason on any failure. Nothing here logs; no message or error ever contains the password.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.errors import AuditError, ConfigError, ExitCode, UsageError
from audit.money import format_usd
from audit.yamlio import line_of

if TYPE_CHECKING:  # imported where mail is sent: ``ssl`` alone is ~25 ms of every start-up
    import smtplib
    import ssl

TLS_MODES = ("none", "starttls", "ssl")
DEFAULT_TLS = "starttls"
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
#: Seconds for connecting and for each server reply.
DEFAULT_TIMEOUT = 30.0
YAML_KEYS = ("host", "port", "tls", "user", "from")
ENVIRONMENT = {
    "host": "TOKAUDIT_SMTP_HOST",
    "port": "TOKAUDIT_SMTP_PORT",
    "tls": "TOKAUDIT_SMTP_TLS",
    "user": "TOKAUDIT_SMTP_USER",
    "password": "TOKAUDIT_SMTP_PASSWORD",
    "from": "TOKAUDIT_SMTP_FROM",
}
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: A plausible ASCII address: dot-atom local part, a host name (dots optional: intranet).
ADDRESS = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*$")


class MailError(AuditError):
    """The report could not be emailed (the report file, if any, is already written)."""

    exit_code = ExitCode.ERROR


@dataclass(frozen=True, kw_only=True)
class MailSettings:
    """Where and how to send; ``repr`` never shows the password."""

    host: str
    port: int
    tls: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str
    timeout: float = DEFAULT_TIMEOUT

    def describe(self) -> str:
        """``smtp.example.com:587 (starttls, as ops)`` — safe to print."""
        who = f", as {self.user}" if self.user else ""
        return f"{self.host}:{self.port} ({self.tls}{who})"


def is_address(text: str) -> bool:
    """A plausible ``local@domain`` address (no display name, no spaces)."""
    return len(text) <= 254 and ADDRESS.fullmatch(text) is not None


def parse_recipients(value: str | Sequence[str]) -> list[str]:
    """``--email-to ADDR[,ADDR]`` (or a repeated option) as a list; duplicates dropped.

    Raises :class:`UsageError` naming the first address that is not plausible.
    """
    parts = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    seen: set[str] = set()
    for part in parts:
        for raw in part.split(","):
            address = raw.strip()
            if not address:
                continue
            if not is_address(address):
                raise UsageError(
                    f"invalid --email-to address {address!r}",
                    hint="expected name@domain, several separated by commas",
                )
            if address.lower() not in seen:
                seen.add(address.lower())
                out.append(address)
    if not out:
        raise UsageError("--email-to needs at least one address")
    return out


def _is_loopback(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _sender(value: str, where: str, path: Path | None, line: int | None) -> str:
    if "\n" in value or "\r" in value:
        raise ConfigError(f"{where}: the sender must be on one line", path=path, line=line)
    name, address = parseaddr(value)
    if not is_address(address):
        raise ConfigError(
            f"{where}: {value!r} is not a sender address",
            path=path,
            line=line,
            hint="e.g. reports@example.com or 'LLM reports <reports@example.com>'",
        )
    return formataddr((name, address)) if name else address


def mail_settings(
    config_raw_smtp: Mapping[str, Any] | None,
    environ: Mapping[str, str],
    *,
    path: Path | None = None,
) -> MailSettings:
    """SMTP settings from the ``smtp:`` section (``Config.raw.get("smtp")``) and ``environ``.

    ``path`` (the config file) only makes error messages say ``file:line``. Every problem is
    a :class:`ConfigError` that names the setting and how to fix it.
    """
    spec: Mapping[str, Any] = config_raw_smtp if config_raw_smtp is not None else {}
    line = line_of(spec)
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"smtp must be a mapping of settings ({', '.join(YAML_KEYS)})", path=path, line=line
        )
    if "password" in spec:
        raise ConfigError(
            "smtp.password is not allowed in tokaudit.yaml",
            path=path,
            line=line,
            hint=f"set {ENVIRONMENT['password']} in the environment instead",
        )
    unknown = sorted(str(key) for key in spec if key not in YAML_KEYS)
    if unknown:
        raise ConfigError(
            f"smtp: unknown key(s) {', '.join(unknown)} (known: {', '.join(YAML_KEYS)})",
            path=path,
            line=line,
        )

    def pick(key: str) -> tuple[Any, str, Path | None, int | None]:
        """The value and where it came from: the environment first, then the file."""
        variable = ENVIRONMENT[key]
        env_value = environ.get(variable, "").strip()
        if env_value:
            return env_value, variable, None, None
        return spec.get(key), f"smtp.{key}", path, line

    host, where, at, at_line = pick("host")
    if host is None or not str(host).strip():
        raise ConfigError(
            "no SMTP server: set smtp.host in tokaudit.yaml or TOKAUDIT_SMTP_HOST", path=path
        )
    host = str(host).strip()
    if any(c.isspace() for c in host) or "/" in host:
        raise ConfigError(f"{where}: {host!r} is not a host name", path=at, line=at_line)

    tls, where, at, at_line = pick("tls")
    tls = DEFAULT_TLS if tls is None else str(tls).strip().lower()
    if tls not in TLS_MODES:
        raise ConfigError(
            f"{where}: unknown TLS mode {tls!r} (choose from {', '.join(TLS_MODES)})",
            path=at,
            line=at_line,
        )

    port_value, where, at, at_line = pick("port")
    if port_value is None:
        port = DEFAULT_PORTS[tls]
    else:
        if isinstance(port_value, bool) or not isinstance(port_value, int | str):
            raise ConfigError(f"{where}: the port must be a number", path=at, line=at_line)
        try:
            port = int(port_value)
        except ValueError:
            raise ConfigError(
                f"{where}: {port_value!r} is not a port number", path=at, line=at_line
            ) from None
        if not 1 <= port <= 65535:
            raise ConfigError(
                f"{where}: port {port} is out of range (1-65535)", path=at, line=at_line
            )

    user_value, where, at, at_line = pick("user")
    user = str(user_value).strip() if user_value is not None else None
    if user is not None and (not user or any(c in user for c in "\r\n")):
        raise ConfigError(f"{where}: the user name must be one non-empty line", path=at)
    password = environ.get(ENVIRONMENT["password"]) or None
    if user and not password:
        raise ConfigError(
            f"an SMTP user is set ({where}) but {ENVIRONMENT['password']} is not",
            hint="the password is read from the environment only",
        )
    if password and not user:
        raise ConfigError(
            f"{ENVIRONMENT['password']} is set but no SMTP user "
            f"(smtp.user or {ENVIRONMENT['user']})",
        )
    if user and tls == "none" and not _is_loopback(host):
        raise ConfigError(
            f"refusing to send the SMTP password unencrypted to {host}",
            hint="set tls to starttls or ssl (TOKAUDIT_SMTP_TLS)",
        )

    sender_value, where, at, at_line = pick("from")
    if sender_value is None or not str(sender_value).strip():
        raise ConfigError(
            "no sender address: set smtp.from in tokaudit.yaml or TOKAUDIT_SMTP_FROM", path=path
        )
    sender = _sender(str(sender_value).strip(), where, at, at_line)
    return MailSettings(host=host, port=port, tls=tls, user=user, password=password, sender=sender)


def subject_line(report_data: Mapping[str, Any]) -> str:
    """``LLM spend 2026-06: $137.43 (tokaudit)``."""
    totals = report_data.get("totals") or {}
    cost = totals.get("cost_usd")
    total = format_usd(Decimal(str(cost)) if cost is not None else None)
    return f"LLM spend {report_data.get('month', '?')}: {total} (tokaudit)"


def _generated_at(report_data: Mapping[str, Any]) -> datetime:
    text = str(report_data.get("generated_at") or "")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def build_message(
    report_data: Mapping[str, Any],
    html: str,
    text: str,
    findings_csv: str,
    recipients: list[str],
    sender: str,
) -> EmailMessage:
    """The report email: text and HTML alternatives plus the findings CSV attachment.

    ``report_data`` is :func:`~audit.report.serialize.report_dict` (month, totals,
    generated_at are read). Deterministic for the same inputs (see the module docstring).
    """
    if not recipients:
        raise UsageError("no recipients for the report email")
    for address in recipients:
        if not is_address(address):
            raise UsageError(f"invalid recipient address {address!r}")
    month = str(report_data.get("month", "report"))
    safe_month = re.sub(r"[^0-9A-Za-z-]", "_", month)
    subject = subject_line(report_data)
    moment = _generated_at(report_data)
    digest = hashlib.sha256(
        json.dumps(
            [subject, sender, recipients, moment.isoformat(), text, html, findings_csv],
            ensure_ascii=False,
        ).encode("utf-8")
    ).hexdigest()
    domain = parseaddr(sender)[1].rpartition("@")[2] or "tokaudit.invalid"

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(moment.astimezone(UTC))
    message["Message-ID"] = f"<tokaudit.{safe_month}.{digest[:32]}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    message.add_attachment(
        findings_csv.encode("utf-8"),
        maintype="text",
        subtype="csv",
        filename=f"tokaudit-findings-{safe_month}.csv",
        params={"charset": "utf-8"},
    )
    body = "".join(str(part.get_payload()) for part in message.walk() if not part.is_multipart())
    for index, part in enumerate(part for part in message.walk() if part.is_multipart()):
        boundary = f"tokaudit-{digest[32:56]}-{index}"
        while boundary in body:  # practically never: the digest is not in the content
            boundary += "x"
        part.set_boundary(boundary)
    return message


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _smtp_reason(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_text(exc.smtp_error)}".strip()


def _reason(exc: BaseException, settings: MailSettings) -> str:
    """A one-line, password-free reason for a delivery failure."""
    import smtplib
    import socket
    import ssl

    if isinstance(exc, smtplib.SMTPAuthenticationError):
        reason = f"authentication failed for user {settings.user!r}: {_smtp_reason(exc)}"
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = "; ".join(
            f"{address} ({code} {_text(msg)})"
            for address, (code, msg) in sorted(exc.recipients.items())
        )
        reason = f"every recipient was refused: {refused}"
    elif isinstance(exc, smtplib.SMTPSenderRefused):
        reason = f"the sender {exc.sender!r} was refused: {_smtp_reason(exc)}"
    elif isinstance(exc, smtplib.SMTPDataError):
        reason = f"the server rejected the message: {_smtp_reason(exc)}"
    elif isinstance(exc, smtplib.SMTPConnectError):
        reason = f"the server refused the session: {_smtp_reason(exc)}"
    elif isinstance(exc, smtplib.SMTPNotSupportedError):
        reason = f"the server does not support it: {exc}"
        if settings.tls == "starttls":
            reason = "the server does not offer STARTTLS (use tls: ssl for port 465)"
    elif isinstance(exc, smtplib.SMTPResponseException):
        reason = f"the server answered {_smtp_reason(exc)}"
    elif isinstance(exc, smtplib.SMTPServerDisconnected):
        if isinstance(exc.__context__, TimeoutError):  # smtplib wraps a read timeout
            reason = f"no answer within {settings.timeout:g} s (timed out)"
        else:
            reason = f"the server closed the connection ({exc or 'no reason given'})"
    elif isinstance(exc, smtplib.SMTPException):
        reason = f"SMTP error: {exc}"
    elif isinstance(exc, ssl.SSLCertVerificationError):
        reason = f"TLS certificate not trusted: {exc.verify_message or exc}"
    elif isinstance(exc, ssl.SSLError):
        reason = f"TLS failed: {exc.reason or exc}"
        if settings.tls == "ssl":
            reason += " (does the server speak implicit TLS on this port? try tls: starttls)"
    elif isinstance(exc, TimeoutError):
        reason = f"no answer within {settings.timeout:g} s (timed out)"
    elif isinstance(exc, ConnectionRefusedError):
        reason = "connection refused (is an SMTP server listening there?)"
    elif isinstance(exc, socket.gaierror):
        reason = f"cannot resolve the host name ({exc.strerror or exc})"
    elif isinstance(exc, OSError):
        reason = f"network error: {exc.strerror or exc}"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    if settings.password:
        reason = reason.replace(settings.password, "***")
    return reason


def send_message(
    message: EmailMessage, settings: MailSettings, *, context: ssl.SSLContext | None = None
) -> None:
    """Deliver ``message`` to every address in its ``To`` header.

    ``context`` replaces the default TLS context (system trust store, hostname checked):
    tests pass one that trusts their own certificate. Raises :class:`MailError` with the
    reason when anything fails, including when some recipients were refused.
    """
    import smtplib  # here, not at the top: see the TYPE_CHECKING import
    import ssl

    where = f"{settings.host}:{settings.port}"
    tls_context = context or ssl.create_default_context()
    client: smtplib.SMTP | None = None
    try:
        if settings.tls == "ssl":
            client = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=tls_context
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        client.ehlo()
        if settings.tls == "starttls":
            client.starttls(context=tls_context)
            client.ehlo()
        if settings.user:
            client.login(settings.user, settings.password or "")
        refused = client.send_message(message)
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()  # the message was accepted; a failed goodbye changes nothing
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"email not sent via {where}: {_reason(exc, settings)}") from exc
    finally:
        if client is not None:
            client.close()
    if refused:
        listed = "; ".join(
            f"{address} ({code} {_text(msg)})" for address, (code, msg) in sorted(refused.items())
        )
        raise MailError(f"email sent via {where}, but the server refused some recipients: {listed}")


__all__ = [
    "MailError",
    "MailSettings",
    "build_message",
    "mail_settings",
    "parse_recipients",
    "send_message",
    "subject_line",
]

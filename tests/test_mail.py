"""Emailing the report: settings, the message, and delivery to a real SMTP server on loopback.

The server is aiosmtpd in a thread on 127.0.0.1 with an ephemeral port; what it receives is
parsed back with :mod:`email`. TLS (STARTTLS and implicit TLS) runs for real with a
throwaway certificate made by the ``openssl`` command; a fake ``smtplib`` checks the same
choices where ``openssl`` is missing.
"""

from __future__ import annotations

import copy
import csv
import email
import io
import json
import shutil
import smtplib
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from audit.config import load_config
from audit.errors import ConfigError, ExitCode, UsageError
from audit.ingest import ingest
from audit.mail import (
    MailError,
    MailSettings,
    build_message,
    mail_settings,
    parse_recipients,
    send_message,
    subject_line,
)
from audit.money import format_usd
from audit.period import parse_month
from audit.pricing import PriceBook
from audit.report.csv_format import findings_csv
from audit.report.html import render_html, render_text
from audit.report.model import ReportOptions, build_report
from audit.report.serialize import report_dict
from audit.store import Store

from conftest import JUNE_END, write

SENDER = "LLM reports <reports@example.com>"
RECIPIENTS = ["finance@example.com", "cto@example.org"]
PASSWORD = "s3cret-Pa55word"
ROWS = [
    {"request_id": "a", "timestamp": "2026-06-01T10:00:00Z", "provider": "openai", "model": "gpt-4o-mini",
     "input_tokens": 1_000_000, "output_tokens": 100_000, "user": "ann"},
    {"request_id": "b", "timestamp": "2026-06-02T11:00:00Z", "provider": "openai", "model": "gpt-4o",
     "input_tokens": 10_000, "output_tokens": 1_000, "cost_usd": 137.22, "user": "bo"},
]  # fmt: skip
FINDING = {
    "rule": "overqualification",
    "severity": "high",
    "title": "Premium models on simple work",
    "subject": "=bo · gpt-4o",
    "records": 1,
    "cost_usd": 137.2,
    "savings_usd": 120.5,
    "evidence": [{"record_id": "b", "cost_usd": 137.2}],
    "recommendation": "Route simple work to gpt-4o-mini.",
}


# ── a real SMTP server on loopback ───────────────────────────────────────────────────


@dataclass
class Inbox:
    """An aiosmtpd handler keeping every envelope; refuses recipients at ``nobody@``."""

    received: list[Any] = field(default_factory=list)
    encrypted: list[bool] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope)
        self.encrypted.append(server.transport.get_extra_info("cipher") is not None)
        return "250 OK: queued"


class LoopbackController(Controller):
    """aiosmtpd's thread controller on an ephemeral port (port 0, read back once bound)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


def serve(inbox: Inbox, **kwargs: Any) -> LoopbackController:
    controller = LoopbackController(inbox, hostname="127.0.0.1", port=0, **kwargs)
    controller.start()
    return controller


@pytest.fixture
def server(inbox: Inbox) -> Iterator[LoopbackController]:
    controller = serve(inbox)
    yield controller
    controller.stop()


def settings_for(port: int, **kw: Any) -> MailSettings:
    values: dict[str, Any] = {"host": "127.0.0.1", "port": port, "tls": "none",
                              "sender": SENDER, "timeout": 10.0}  # fmt: skip
    values.update(kw)
    return MailSettings(**values)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ── report data and message ──────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, book: PriceBook) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("mail")
    store = Store(tmp / "store")
    ingest([write(tmp / "log.jsonl", "".join(json.dumps(r) + "\n" for r in ROWS))], store)
    month = parse_month("2026-06", now=JUNE_END, timezone="UTC")
    out = report_dict(build_report(store, book, ReportOptions(month, JUNE_END)))
    out["findings"] = [copy.deepcopy(FINDING)]
    return out


def message_for(data: dict[str, Any], recipients: list[str] | None = None) -> EmailMessage:
    return build_message(
        data,
        render_html(data),
        render_text(data),
        findings_csv(data),
        recipients or RECIPIENTS,
        SENDER,
    )


def parts(message: email.message.EmailMessage) -> dict[str, email.message.EmailMessage]:
    return {part.get_content_type(): part for part in message.walk()}  # type: ignore[misc]


def test_send_and_read_back_the_received_message(
    data: dict[str, Any], server: LoopbackController, inbox: Inbox
) -> None:
    send_message(message_for(data), settings_for(server.port))
    assert len(inbox.received) == 1
    envelope = inbox.received[0]
    assert envelope.mail_from == "reports@example.com"
    assert envelope.rcpt_tos == RECIPIENTS
    received = email.message_from_bytes(envelope.content, policy=default_policy)
    total = format_usd(Decimal(str(data["totals"]["cost_usd"])))
    assert total == "$137.43"
    assert received["Subject"] == f"LLM spend 2026-06: {total} (tokaudit)"
    assert received["From"] == SENDER
    assert received["To"] == ", ".join(RECIPIENTS)
    assert received["Auto-Submitted"] == "auto-generated"
    assert received["Date"] == "Thu, 02 Jul 2026 12:00:00 +0000"  # the report's generated_at
    assert received.get_content_type() == "multipart/mixed"
    found = parts(received)  # type: ignore[arg-type]
    assert "multipart/alternative" in found
    alternative = found["multipart/alternative"]
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    html_part, text_part = found["text/html"], found["text/plain"]
    assert html_part.get_content().replace("\r\n", "\n") == render_html(data)
    assert text_part.get_content().replace("\r\n", "\n") == render_text(data)
    assert "Total spend          $137.43" in text_part.get_content()
    attachment = found["text/csv"]
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "tokaudit-findings-2026-06.csv"
    raw = attachment.get_payload(decode=True)
    assert raw == findings_csv(data).encode("utf-8")  # byte for byte (base64)
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert [(r["rule"], r["subject"], r["savings_usd"]) for r in rows] == [
        ("overqualification", "'=bo · gpt-4o", "120.500000")
    ]
    assert inbox.encrypted == [False]


def test_message_is_deterministic(data: dict[str, Any]) -> None:
    first, second = message_for(data), message_for(data)
    assert first.as_bytes() == second.as_bytes()
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Message-ID"].endswith("@example.com>")
    other = message_for(data, ["someone@example.net"])
    assert other["Message-ID"] != first["Message-ID"]
    assert subject_line(data) == "LLM spend 2026-06: $137.43 (tokaudit)"


def test_build_message_rejects_bad_recipients(data: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        message_for(data, ["not an address"])


def test_connection_refused_is_a_mail_error(data: dict[str, Any]) -> None:
    port = closed_port()
    with pytest.raises(MailError) as caught:
        send_message(message_for(data), settings_for(port))
    assert caught.value.exit_code == ExitCode.ERROR == 1
    assert str(caught.value) == (
        f"email not sent via 127.0.0.1:{port}: connection refused "
        "(is an SMTP server listening there?)"
    )


def test_a_silent_server_times_out(data: dict[str, Any]) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the TCP connection, never says hello
        port = silent.getsockname()[1]
        with pytest.raises(MailError, match=r"no answer within 0.5 s \(timed out\)"):
            send_message(message_for(data), settings_for(port, timeout=0.5))


def test_refused_recipients(data: dict[str, Any], server: LoopbackController, inbox: Inbox) -> None:
    with pytest.raises(MailError) as caught:
        send_message(message_for(data, ["nobody@example.com"]), settings_for(server.port))
    assert "every recipient was refused: nobody@example.com (550 5.1.1 no such user here)" in str(
        caught.value
    )
    assert inbox.received == []
    with pytest.raises(MailError, match=r"refused some recipients: nobody@example\.com"):
        send_message(
            message_for(data, ["finance@example.com", "nobody@example.com"]),
            settings_for(server.port),
        )
    assert [e.rcpt_tos for e in inbox.received] == [["finance@example.com"]]


def test_starttls_requested_but_not_offered(
    data: dict[str, Any], server: LoopbackController
) -> None:
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        send_message(message_for(data), settings_for(server.port, tls="starttls"))


def test_implicit_tls_against_a_plain_server(
    data: dict[str, Any], server: LoopbackController
) -> None:
    with pytest.raises(MailError, match="TLS failed"):
        send_message(message_for(data), settings_for(server.port, tls="ssl", timeout=5.0))


def test_plain_login_to_a_loopback_relay(data: dict[str, Any], inbox: Inbox) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
        assert isinstance(auth, LoginPassword)
        logins.append((auth.login, auth.password))
        return AuthResult(success=auth.password == PASSWORD.encode(), handled=False)

    controller = serve(inbox, authenticator=authenticator, auth_require_tls=False)
    try:
        good = settings_for(controller.port, user="ops", password=PASSWORD)
        send_message(message_for(data), good)
        assert logins == [(b"ops", PASSWORD.encode())]
        assert len(inbox.received) == 1
        bad = settings_for(controller.port, user="ops", password="wrong-" + PASSWORD)
        with pytest.raises(MailError) as caught:
            send_message(message_for(data), bad)
    finally:
        controller.stop()
    text = str(caught.value)
    assert "authentication failed for user 'ops': 535" in text
    assert PASSWORD not in text
    assert len(inbox.received) == 1


# ── TLS for real: a throwaway certificate from the openssl command ───────────────────


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("!!! the openssl command is missing: real TLS tests skipped (fakes still run)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return Certificate(cert, key)


def test_starttls_with_login_for_real(
    data: dict[str, Any], inbox: Inbox, certificate: Certificate
) -> None:
    logins: list[bytes] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
        logins.append(auth.login)
        return AuthResult(success=auth.password == PASSWORD.encode(), handled=False)

    controller = serve(
        inbox,
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    try:
        settings = settings_for(controller.port, tls="starttls", user="ops", password=PASSWORD)
        send_message(message_for(data), settings, context=certificate.client_context())
        assert logins == [b"ops"]
        assert inbox.encrypted == [True]
        # the system trust store does not know our certificate: refused, with the reason
        with pytest.raises(MailError, match=r"TLS certificate not trusted: .*self.signed"):
            send_message(message_for(data), settings)
        # without TLS the server refuses to go on, and so do we (no password in clear)
        plain = settings_for(controller.port)
        with pytest.raises(MailError, match="530"):
            send_message(message_for(data), plain)
    finally:
        controller.stop()
    assert len(inbox.received) == 1


def test_implicit_tls_for_real(
    data: dict[str, Any], inbox: Inbox, certificate: Certificate
) -> None:
    controller = serve(inbox, ssl_context=certificate.server_context())
    try:
        settings = settings_for(controller.port, tls="ssl")
        send_message(message_for(data), settings, context=certificate.client_context())
    finally:
        controller.stop()
    assert inbox.encrypted == [True]
    received = email.message_from_bytes(inbox.received[0].content, policy=default_policy)
    assert received["Subject"] == "LLM spend 2026-06: $137.43 (tokaudit)"


# ── the smtplib class and calls chosen per TLS mode (no network) ─────────────────────


class FakeSMTP:
    calls: ClassVar[list[tuple[Any, ...]]] = []

    def __init__(self, host: str, port: int, timeout: float, **kw: Any) -> None:
        FakeSMTP.calls.append((type(self).__name__, host, port, timeout, "context" in kw))

    def ehlo(self) -> None:
        FakeSMTP.calls.append(("ehlo",))

    def starttls(self, context: ssl.SSLContext) -> None:
        FakeSMTP.calls.append(("starttls", isinstance(context, ssl.SSLContext)))

    def login(self, user: str, password: str) -> None:
        FakeSMTP.calls.append(("login", user, password == PASSWORD))

    def send_message(self, message: EmailMessage) -> dict[str, Any]:
        FakeSMTP.calls.append(("send", message["To"]))
        return {}

    def quit(self) -> None:
        FakeSMTP.calls.append(("quit",))

    def close(self) -> None:
        FakeSMTP.calls.append(("close",))


class FakeSMTPSSL(FakeSMTP):
    pass


@pytest.mark.parametrize(
    ("tls", "user", "expected"),
    [
        ("none", None, [("FakeSMTP", "mail", 25, 30.0, False), ("ehlo",)]),
        ("starttls", "ops", [("FakeSMTP", "mail", 587, 30.0, False), ("ehlo",),
                             ("starttls", True), ("ehlo",), ("login", "ops", True)]),
        ("ssl", "ops", [("FakeSMTPSSL", "mail", 465, 30.0, True), ("ehlo",),
                        ("login", "ops", True)]),
    ],
)  # fmt: skip
def test_smtplib_class_per_tls_mode(
    data: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tls: str,
    user: str | None,
    expected: list[tuple[Any, ...]],
) -> None:
    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    monkeypatch.setattr(smtplib, "SMTP_SSL", FakeSMTPSSL)
    FakeSMTP.calls = []
    environ = {"TOKAUDIT_SMTP_HOST": "mail", "TOKAUDIT_SMTP_TLS": tls,
               "TOKAUDIT_SMTP_FROM": "reports@example.com"}  # fmt: skip
    if user:
        environ |= {"TOKAUDIT_SMTP_USER": user, "TOKAUDIT_SMTP_PASSWORD": PASSWORD}
    send_message(message_for(data), mail_settings(None, environ))
    assert FakeSMTP.calls == [*expected, ("send", ", ".join(RECIPIENTS)), ("quit",), ("close",)]


# ── settings ─────────────────────────────────────────────────────────────────────────


def test_settings_defaults_and_ports() -> None:
    base = {"host": "mail.example.com", "from": "reports@example.com"}
    settings = mail_settings(base, {})
    assert (settings.host, settings.port, settings.tls) == ("mail.example.com", 587, "starttls")
    assert settings.sender == "reports@example.com"
    assert (settings.user, settings.password) == (None, None)
    assert mail_settings({**base, "tls": "none"}, {}).port == 25
    assert mail_settings({**base, "tls": "ssl"}, {}).port == 465
    assert mail_settings({**base, "tls": "SSL", "port": 2465}, {}).port == 2465
    named = mail_settings({**base, "from": "LLM reports <reports@example.com>"}, {})
    assert named.sender == "LLM reports <reports@example.com>"


def test_environment_wins_over_the_file() -> None:
    yaml_smtp = {"host": "file-host", "port": 2525, "tls": "none", "user": "file-user",
                 "from": "file@example.com"}  # fmt: skip
    environ = {
        "TOKAUDIT_SMTP_HOST": "env-host",
        "TOKAUDIT_SMTP_PORT": "1465",
        "TOKAUDIT_SMTP_TLS": "ssl",
        "TOKAUDIT_SMTP_USER": "env-user",
        "TOKAUDIT_SMTP_PASSWORD": PASSWORD,
        "TOKAUDIT_SMTP_FROM": "env@example.com",
    }
    settings = mail_settings(yaml_smtp, environ)
    assert settings == MailSettings(host="env-host", port=1465, tls="ssl", user="env-user",
                                    password=PASSWORD, sender="env@example.com")  # fmt: skip
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in settings.describe()
    # empty variables count as unset
    partly = mail_settings(yaml_smtp | {"tls": "starttls"}, {"TOKAUDIT_SMTP_HOST": " ",
                           "TOKAUDIT_SMTP_PASSWORD": PASSWORD})  # fmt: skip
    assert (partly.host, partly.port, partly.user) == ("file-host", 2525, "file-user")


@pytest.mark.parametrize(
    ("smtp", "environ", "message"),
    [
        ({"host": "h", "from": "a@b.c", "password": "x"}, {},
         "smtp.password is not allowed in tokaudit.yaml (set TOKAUDIT_SMTP_PASSWORD"),
        ({"host": "h", "from": "a@b.c", "tls": "tls1.3"}, {},
         "smtp.tls: unknown TLS mode 'tls1.3' (choose from none, starttls, ssl)"),
        ({"host": "h", "from": "a@b.c"}, {"TOKAUDIT_SMTP_TLS": "yes"},
         "TOKAUDIT_SMTP_TLS: unknown TLS mode 'yes'"),
        ({"host": "h", "from": "a@b.c"}, {"TOKAUDIT_SMTP_PORT": "smtp"},
         "TOKAUDIT_SMTP_PORT: 'smtp' is not a port number"),
        ({"host": "h", "from": "a@b.c", "port": 70000}, {},
         "smtp.port: port 70000 is out of range"),
        ({"host": "h", "from": "a@b.c", "port": True}, {}, "smtp.port: the port must be a number"),
        ({"from": "a@b.c"}, {}, "no SMTP server: set smtp.host"),
        ({"host": "h"}, {}, "no sender address: set smtp.from"),
        ({"host": "h", "from": "not-an-address"}, {}, "smtp.from: 'not-an-address' is not a sender"),
        ({"host": "h", "from": "a@b.c", "user": "ops"}, {},
         "an SMTP user is set (smtp.user) but TOKAUDIT_SMTP_PASSWORD is not"),
        ({"host": "h", "from": "a@b.c"}, {"TOKAUDIT_SMTP_PASSWORD": "x"},
         "TOKAUDIT_SMTP_PASSWORD is set but no SMTP user"),
        ({"host": "mail.example.com", "from": "a@b.c", "tls": "none", "user": "ops"},
         {"TOKAUDIT_SMTP_PASSWORD": "x"},
         "refusing to send the SMTP password unencrypted to mail.example.com"),
        ({"host": "h", "from": "a@b.c", "server": "x"}, {},
         "smtp: unknown key(s) server (known: host, port, tls, user, from)"),
        (["h"], {}, "smtp must be a mapping"),
    ],
)  # fmt: skip
def test_settings_errors(smtp: Any, environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        mail_settings(smtp, environ)
    assert message in str(caught.value)
    assert caught.value.exit_code == ExitCode.USAGE


def test_loopback_relay_may_take_a_password_without_tls() -> None:
    settings = mail_settings(
        {"host": "localhost", "tls": "none", "user": "ops", "from": "a@b.c"},
        {"TOKAUDIT_SMTP_PASSWORD": PASSWORD},
    )
    assert (settings.port, settings.user, settings.password) == (25, "ops", PASSWORD)


def test_a_password_in_the_yaml_names_file_and_line(tmp_path: Path) -> None:
    config = write(
        tmp_path / "tokaudit.yaml",
        "timezone: UTC\nsmtp:\n  host: mail.example.com\n  from: a@example.com\n  password: hunter2\n",
    )
    settings = load_config(config)
    with pytest.raises(ConfigError) as caught:
        mail_settings(settings.raw.get("smtp"), {}, path=config)
    text = str(caught.value)
    assert text.startswith(f"{config}:3: smtp.password is not allowed")
    assert "hunter2" not in text


def test_recipients() -> None:
    assert parse_recipients("finance@example.com, cto@example.org") == RECIPIENTS
    assert parse_recipients(["a@example.com", "b@example.com,A@example.com"]) == [
        "a@example.com",
        "b@example.com",
    ]
    assert parse_recipients("ops@mailhost,") == ["ops@mailhost"]
    for bad in ("finance", "a@", "@b.com", "a b@c.com", "a@b.com\nBcc: evil@x.com", "a@-b.com",
                "Finance <f@example.com>"):  # fmt: skip
        with pytest.raises(UsageError) as caught:
            parse_recipients(bad)
        assert caught.value.exit_code == ExitCode.USAGE
        assert "invalid --email-to address" in str(caught.value)
    with pytest.raises(UsageError, match="at least one address"):
        parse_recipients(" , ")

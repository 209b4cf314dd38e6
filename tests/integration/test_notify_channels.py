"""The channel adapters against real peers: aiosmtpd on a loopback port (plain, and STARTTLS with
AUTH over a self-signed certificate), and a fake SMS gateway on a real socket."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from callcenter.config import Settings, load_settings
from callcenter.notifications.channels import DeliveryError, EmailChannel, SmsChannel, build_channels
from tests.notify_support import (
    SMTP_PASSWORD,
    SMTP_USER,
    json_body,
    start_gateway,
    start_mail_server,
)


def _settings(**values: object) -> Settings:
    return load_settings(environ={}, overrides={"secret_key": "test-secret", **values})


def test_channels_are_off_until_configured() -> None:
    assert build_channels(_settings()) == {}
    on = build_channels(_settings(smtp_host="127.0.0.1", sms_url="http://127.0.0.1:9/send"))
    assert sorted(on) == ["email", "sms"]


async def test_email_plain_delivery(mail_server) -> None:
    channel = EmailChannel(_settings(smtp_host="127.0.0.1", smtp_port=mail_server.port, smtp_starttls=False))
    message_id = await channel.send("citizen@example.ru", "Заявка № 2600001 зарегистрирована", "Текст сообщения", "n1")
    assert message_id and "n1" in message_id
    (got,) = mail_server.handler.received
    assert got.recipients == ["citizen@example.ru"]
    assert str(got.message["Subject"]) == "Заявка № 2600001 зарегистрирована"
    assert "Текст сообщения" in mail_server.handler.bodies()[0]
    assert got.tls is False


async def test_email_starttls_and_auth(tmp_path: Path) -> None:
    server, info = await start_mail_server(tmp_path)
    try:
        base = {
            "smtp_host": "127.0.0.1",
            "smtp_port": info.port,
            "smtp_username": SMTP_USER,
            "smtp_password": SMTP_PASSWORD,
            "smtp_ca_file": str(info.cert),
        }
        await EmailChannel(_settings(**base)).send("a@example.ru", "Тема", "Текст", "n7")
        (got,) = info.handler.received
        assert got.tls is True and got.authenticated is True
        with pytest.raises(DeliveryError) as refused:
            await EmailChannel(_settings(**{**base, "smtp_password": "wrong"})).send("a@example.ru", "Т", "Т", "n8")
        assert "535" in refused.value.message and refused.value.permanent is False  # our config: retried, shown
        with pytest.raises(DeliveryError):  # the server requires STARTTLS: plain AUTH is never tried
            await EmailChannel(_settings(**{**base, "smtp_starttls": False})).send("a@example.ru", "Т", "Т", "n9")
        assert len(info.handler.received) == 1
    finally:
        server.close()
        await server.wait_closed()


async def test_email_refused_recipient_is_permanent_and_dead_server_is_transient(mail_server) -> None:
    mail_server.handler.refuse.add("gone@example.ru")
    channel = EmailChannel(_settings(smtp_host="127.0.0.1", smtp_port=mail_server.port, smtp_starttls=False))
    with pytest.raises(DeliveryError) as refused:
        await channel.send("gone@example.ru", "Т", "Т", "n1")
    assert refused.value.permanent is True
    dead = EmailChannel(_settings(smtp_host="127.0.0.1", smtp_port=1, smtp_starttls=False, smtp_timeout=2.0))
    with pytest.raises(DeliveryError) as unreachable:
        await dead.send("a@example.ru", "Т", "Т", "n2")
    assert unreachable.value.permanent is False


async def test_sms_gateway_json_auth_and_result() -> None:
    runner, gateway = await start_gateway()
    try:
        settings = _settings(
            sms_url=gateway.url,
            sms_auth_header="Authorization: Bearer t0ken",
            sms_body_template='{"to": "{phone}", "message": "{text}", "sender": "1563"}',
        )
        channel = SmsChannel(settings)
        text = 'Заявка № 2600001: выполнено. "Кавычки" и \\ слэш\nвторая строка'
        assert await channel.send("+79781234567", "тема", text, "n5") == "sms-1"
        (req,) = gateway.requests
        assert req["method"] == "POST"
        assert req["headers"]["Authorization"] == "Bearer t0ken"
        assert req["headers"]["Idempotency-Key"] == "n5"
        assert json_body(req) == {"to": "+79781234567", "message": text, "sender": "1563"}

        gateway.script = [(200, {"status": "rejected"}), (503, "busy"), (400, "bad number"), (200, "not json")]
        outcomes = []
        for _ in range(4):
            with pytest.raises(DeliveryError) as err:
                await channel.send("+79781234567", "т", "т", "n6")
            outcomes.append(err.value.permanent)
        assert outcomes == [True, False, True, False]
        await channel.close()
    finally:
        await runner.cleanup()


async def test_sms_gateway_get_with_query_template_and_nested_result() -> None:
    runner, gateway = await start_gateway()
    try:
        settings = _settings(
            sms_url=gateway.url + "?to={phone}&msg={text}",
            sms_method="GET",
            sms_result_field="result.code",
            sms_ok_values=["0"],
        )
        gateway.script = [(200, {"result": {"code": 0}, "id": 77})]
        channel = SmsChannel(settings)
        assert await channel.send("+79781234567", "т", "Заявка & № 1", "n1") == "77"
        assert gateway.requests[0]["query"] == {"to": "+79781234567", "msg": "Заявка & № 1"}
        await channel.close()
    finally:
        await runner.cleanup()


def test_sms_settings_are_checked() -> None:
    from callcenter.config import ConfigError

    with pytest.raises(ConfigError):
        _settings(sms_method="DELETE")
    with pytest.raises(ConfigError):
        _settings(sms_auth_header="no-colon")
    assert dataclasses.replace(_settings(), smtp_host="x").smtp_host == "x"


def test_notify_settings_are_checked_and_secrets_masked() -> None:
    from callcenter.config import ConfigError, settings_table

    with pytest.raises(ConfigError, match="NOTIFY_LEASE_SECONDS"):
        _settings(notify_lease_seconds=10)
    with pytest.raises(ConfigError, match="NOTIFY_NO_ANSWER_ACTION"):
        _settings(notify_no_answer_action="delete")
    shown = dict(
        settings_table(
            _settings(smtp_password="p4ss", sms_auth_header="Authorization: Bearer t0k", notify_link_secret="s3cret")
        )
    )
    assert shown["CALLCENTER_SMTP_PASSWORD"] == shown["CALLCENTER_SMS_AUTH_HEADER"] == "********"
    assert shown["CALLCENTER_NOTIFY_LINK_SECRET"] == "********"
    env = load_settings(environ={"CALLCENTER_SMTP_HOST": "mail.local", "CALLCENTER_NOTIFY_QUIET_CHANNELS": "sms,email"})
    assert env.smtp_host == "mail.local" and env.notify_quiet_channels == ["sms", "email"]

"""Phone spellings, ticket numbers and settings validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.config import ConfigError, load_settings
from callcenter.domain.errors import ValidationError
from callcenter.domain.phones import InvalidPhone, last_digits, normalize_phone
from callcenter.domain.ticket_numbers import clean_ticket_number, format_ticket_number


@pytest.mark.parametrize(
    "raw",
    [
        "8 978 123-45-67",
        "89781234567",
        "+7(978)1234567",
        "+7 (978) 123-45-67",
        "978 123 45 67",
        "9781234567",
        "+79781234567",
        "8(978)123 45 67",
        " 8-978-123-45-67 ",
    ],
)
def test_real_spellings_of_one_crimean_mobile(raw: str) -> None:
    assert normalize_phone(raw) == "+79781234567"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("8 (8692) 55-12-34", "+78692551234"),  # a Sevastopol landline
        ("+7 495 123-45-67", "+74951234567"),
    ],
)
def test_landlines(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "123", "abc", "8 978 123", "+7 978 123 45 67 89 00", "<unknown>"])
def test_unusable_numbers_are_refused_with_a_russian_message(raw: str) -> None:
    with pytest.raises(InvalidPhone) as info:
        normalize_phone(raw)
    assert "не распознан" in info.value.message


def test_last_digits_for_tracking() -> None:
    assert last_digits("+79781234567") == "4567"


def test_ticket_numbers_are_digits_and_grow_past_five_digits() -> None:
    assert format_ticket_number(2026, 42) == "2600042"
    assert format_ticket_number(2026, 123456) == "26123456"
    assert clean_ticket_number("№ 26-00042") == "2600042"
    with pytest.raises(ValidationError):
        clean_ticket_number("42")


def test_defaults_are_valid_and_embedded() -> None:
    settings = load_settings(environ={})
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.agi_host == "127.0.0.1" and not settings.ami_enabled


def test_order_defaults_file_environment_flags(tmp_path: Path) -> None:
    config = tmp_path / "cc.toml"
    config.write_text('port = 9000\ncallback_mode = "operator"\n[ami]\nhost = "10.0.0.5"\nsecret = "s"\n')
    settings = load_settings(config, environ={"CALLCENTER_PORT": "9100"}, overrides={"port": 9200})
    assert settings.port == 9200 and settings.callback_mode == "operator" and settings.ami_host == "10.0.0.5"
    assert load_settings(config, environ={"CALLCENTER_PORT": "9100"}).port == 9100


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CALLCENTER_PORT": "abc"}, "CALLCENTER_PORT"),
        ({"CALLCENTER_PORT": "70000"}, "CALLCENTER_PORT"),
        ({"CALLCENTER_CALLBACK_HOURS": "21:00-09:00"}, "CALLCENTER_CALLBACK_HOURS"),
        ({"CALLCENTER_CALLBACK_MODE": "robot"}, "CALLCENTER_CALLBACK_MODE"),
        ({"CALLCENTER_DATABASE_URL": "mysql://x"}, "CALLCENTER_DATABASE_URL"),
        ({"CALLCENTER_DIAL_TEMPLATE": "PJSIP/trunk"}, "CALLCENTER_DIAL_TEMPLATE"),
        ({"CALLCENTER_AMI_HOST": "127.0.0.1"}, "CALLCENTER_AMI_SECRET"),
        ({"CALLCENTER_TIMEZONE": "Mars/Olympus"}, "CALLCENTER_TIMEZONE"),
    ],
)
def test_a_bad_value_names_the_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ=env)
    assert str(info.value).startswith(named + ":")
    assert "\n" not in str(info.value)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    config = tmp_path / "cc.toml"
    config.write_text("prot = 80\n")
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_settings(config, environ={})


def test_a_missing_speech_model_does_not_stop_the_service() -> None:
    # the hotline must keep taking calls; speech-to-text reports itself unavailable instead
    assert load_settings(environ={"CALLCENTER_STT_MODEL": "/nonexistent/model"}).stt_model is not None


@pytest.mark.parametrize("template", ["PJSIP/{digits}@city-trunk", "SIP/city/{national}", "PJSIP/{number}@t"])
def test_every_documented_dial_template_field_is_accepted(template: str) -> None:
    """docs/asterisk.md offers {number}, {digits} and {national}; a template with any one of them starts."""
    assert load_settings(environ={"CALLCENTER_DIAL_TEMPLATE": template}).dial_template == template

"""One typed settings object: defaults, then a TOML file, then CALLCENTER_* environment, then flags.

Every value is checked at start; a bad one stops the program with one line naming the setting
(``ConfigError: CALLCENTER_PORT: expected a whole number from 1 to 65535, got 'abc'``).
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callcenter.domain.escalation import parse_chain

ENV_PREFIX = "CALLCENTER_"


class ConfigError(Exception):
    """A setting with a bad value; the message names the setting and what was expected."""


class ListenError(ConfigError):
    """A listener could not bind its address (a second instance, another program on the port)."""

    def __init__(self, setting: str, host: str, port: int, err: OSError) -> None:
        reason = "is already in use" if err.errno == errno.EADDRINUSE else f"cannot be used: {err.strerror or err}"
        super().__init__(
            f"{ENV_PREFIX}{setting.upper()}: {host}:{port} {reason} "
            f"(another callcenter running? choose another port with {ENV_PREFIX}{setting.upper()})"
        )


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Field names map to ``CALLCENTER_<NAME>`` and to TOML keys
    (flat, or grouped: ``[ami] host = ...`` is ``ami_host``)."""

    database_url: str = "sqlite+aiosqlite:///callcenter.db"
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    timezone: str = "Europe/Simferopol"
    log_level: str = "INFO"
    secret_key: str = ""  # signs sessions and CSRF tokens; made and kept in data_dir if empty
    # How citizens' browsers and Open311 clients reach us (discovery, media_url); derived from
    # host and port when not set: set it behind a reverse proxy or when listening on 0.0.0.0.
    public_url: str = ""

    ami_host: str = ""  # AMI is off while no host is set
    ami_port: int = 5038
    ami_username: str = "callcenter"
    ami_secret: str = ""
    ami_ping_interval: float = 10.0
    ami_action_timeout: float = 10.0

    agi_enabled: bool = True
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    agi_allowed_peers: list[str] = field(default_factory=lambda: ["127.0.0.1", "::1"])
    agi_recordings_dir: str = ""  # the recordings folder as Asterisk sees it; ours if empty
    # Where Asterisk reads the IVR's prompts (e.g. /var/lib/asterisk/sounds/ru/1563). When set,
    # `serve` makes the missing ones there (espeak-ng placeholders) and /healthz checks them.
    ivr_prompts_dir: Path | None = None
    ivr_menu_file: Path | None = None  # an edited copy of ivr/menu.yaml; the shipped menu if empty
    # Who records the IVR's messages: "audiosocket" (Asterisk streams the audio to us, we write the
    # file and transcribe it live; no shared folder) or "record_file" (Asterisk's RECORD FILE into a
    # folder both see, CALLCENTER_AGI_RECORDINGS_DIR).
    ivr_recorder: str = "audiosocket"
    audiosocket_host: str = "127.0.0.1"
    audiosocket_port: int = 9092
    audiosocket_allowed_peers: list[str] = field(default_factory=lambda: ["127.0.0.1", "::1"])
    audiosocket_address: str = ""  # host:port as Asterisk reaches us; the listening address if empty

    stt_model: Path | None = None  # a Vosk model folder; speech-to-text is off without it
    stt_workers: int = 2
    stt_job_timeout: float = 300.0
    # Calls transcribed live (AudioSocket) at once; more are transcribed from the file after the
    # message. About what stt_workers decode in real time (docs/benchmarks.md: half a core per
    # caller speaking, with the Korean test model on this machine); 0 turns it off.
    stt_live_max_calls: int = 2
    # The operator's conversation with the caller, transcribed live beside the ticket form and
    # kept on the call's row (docs/asterisk.md, "Live conversation transcript"). Off by default:
    # turn it on only where callers are told the call is recorded (the IVR's greeting says so).
    # Needs AMI, the AudioSocket server and the [conversation-spy] dialplan context.
    live_conversation: bool = False
    live_conversation_context: str = "conversation-spy"
    live_conversation_max_seconds: float = 3600.0  # one conversation's recording stops here
    live_conversation_max_calls: int = 10  # conversations transcribed at once; more are not spied on
    # The decoder's search, over the model's conf/model.conf (empty: the model's own). Narrower is
    # faster and makes more search errors: docs/stt.md "Speed" says what was measured.
    stt_max_active: int | None = None
    stt_beam: float | None = None
    # Live calls stop decoding silence after this many seconds of it (0: decode every frame);
    # a frame is silence under this peak-to-peak amplitude (16-bit).
    stt_live_silence_tail: float = 1.0
    stt_live_silence_threshold: int = 600

    dial_template: str = "PJSIP/{number}@city-trunk"
    callback_delay_seconds: int = 900
    callback_hours: str = "09:00-21:00"
    callback_days: str = "mon,tue,wed,thu,fri,sat,sun"
    callback_mode: str = "auto"
    callback_retry_minutes: list[int] = field(default_factory=lambda: [15, 120, 1440])
    callback_max_attempts: int = 3
    callback_max_concurrent: int = 4
    callback_lease_seconds: int = 300
    callback_tick_seconds: float = 5.0
    # Per-category calling hours overriding callback_hours, e.g. water_leak=08:00-22:00,garbage=10:00-18:00
    callback_category_hours: list[str] = field(default_factory=list)
    click_to_call_context: str = "outbound"  # dialplan context that dials the citizen once the operator answers
    # The wallboard (docs/wallboard.md): a queue's service level when Asterisk did not report one
    # (asterisk-config/queues.conf: servicelevel = 20), its wrap-up time (wrapuptime = 10), and
    # how short a wait makes an abandoned call a "short abandon" (left out of the shares).
    wallboard_service_level_seconds: int = 20
    wallboard_wrapup_seconds: int = 10
    wallboard_short_abandon_seconds: float = 5.0
    # Escalation of late tickets (docs/wallboard.md): the chain of steps (duty, head, supervisor),
    # the time between two steps, how often late tickets are looked for; 0 turns it off.
    escalation_chain: str = "duty,head,supervisor"
    escalation_step_minutes: float = 10.0
    escalation_tick_seconds: float = 30.0

    dispatch_target_seconds: int = 60
    archive_after_days: int = 30

    max_photo_bytes: int = 10 * 1024 * 1024
    max_photos: int = 5
    max_request_bytes: int = 60 * 1024 * 1024
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    # Reverse proxies (addresses or networks) whose X-Forwarded-For is believed; nobody else's is.
    trusted_proxies: list[str] = field(default_factory=list)
    open311_jurisdiction: str = "sevastopol"  # the GeoReport v2 jurisdiction_id this server answers for
    # Two-factor sign-in: admins and supervisors must enrol within this many days of their account's creation.
    totp_grace_days: int = 7
    # 152-FZ: citizens' personal data of closed tickets are erased this many days after closing (0: never).
    retention_days: int = 0

    # Citizens' notifications (docs/notifications.md): each channel is off until configured.
    notify_link_secret: str = ""  # HMAC key of the answer/unsubscribe links; secret_key (or data_dir) if empty
    notify_link_days: int = 14  # how long a "выполнено" answer link stays valid
    notify_tick_seconds: float = 5.0
    notify_batch: int = 20
    notify_lease_seconds: int = 120  # a claimed notification returns to the queue after this
    notify_retry_minutes: list[int] = field(default_factory=lambda: [1, 5, 30, 120])
    notify_max_attempts: int = 6
    notify_quiet_channels: list[str] = field(default_factory=lambda: ["sms"])  # sent only in callback hours
    notify_no_answer_days: int = 7
    notify_no_answer_action: str = "supervisors"  # or "close": closed as «нет ответа»
    smtp_host: str = ""  # e-mail is off while no host is set
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True  # STARTTLS after connecting (port 587)
    smtp_tls: bool = False  # implicit TLS from the first byte (port 465)
    smtp_from: str = "1563 <noreply@localhost>"
    smtp_timeout: float = 30.0
    smtp_ca_file: str = ""  # extra CA bundle for the relay's certificate (a private CA); the system's if empty
    sms_url: str = ""  # SMS is off while no gateway URL is set
    sms_method: str = "POST"
    sms_auth_header: str = ""  # e.g. "Authorization: Bearer <token>"
    sms_body_template: str = '{"to": "{phone}", "text": "{text}"}'  # {phone}, {text} (JSON-escaped)
    sms_content_type: str = "application/json"
    sms_result_field: str = "status"  # dotted path in the JSON answer; empty: any 2xx is delivered
    sms_ok_values: list[str] = field(default_factory=lambda: ["ok", "sent", "accepted", "queued"])
    sms_timeout: float = 15.0

    def __post_init__(self) -> None:
        # Absolute from the start: Asterisk is told these paths (RECORD FILE) and resolves a
        # relative one under its own sounds folder, where it cannot write.
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().absolute())
        if self.ivr_prompts_dir is not None:
            object.__setattr__(self, "ivr_prompts_dir", Path(self.ivr_prompts_dir).expanduser().absolute())

    # ---------------------------------------------------------------- derived values

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def ami_enabled(self) -> bool:
        return bool(self.ami_host)

    @property
    def callback_window(self) -> tuple[time, time]:
        return _parse_hours(self.callback_hours)

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def photos_dir(self) -> Path:
        return self.data_dir / "photos"


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _parse_hours(text: str) -> tuple[time, time]:
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
    if not match:
        raise ValueError("expected hours like 09:00-21:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if not (0 <= h1 < 24 and 0 <= h2 <= 24 and m1 < 60 and m2 < 60):
        raise ValueError("hours must be within 00:00-24:00")
    start, end = time(h1, m1), time(min(h2, 23), 59 if h2 == 24 else m2)
    if start >= end:
        raise ValueError("the window must start before it ends (no calls at night)")
    return start, end


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(Settings)


def _convert(name: str, raw: Any, kind: Any) -> Any:
    """Turn a TOML or environment value into the field's type, or raise ConfigError."""
    env_name = ENV_PREFIX + name.upper()
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        inner = [t for t in typing.get_args(kind) if t is not type(None)][0]
        if raw is None or raw == "":
            return None
        return _convert(name, raw, inner)
    try:
        if kind is bool:
            return _to_bool(raw)
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is Path:
            return Path(str(raw)).expanduser()
        if origin is list:
            (item,) = typing.get_args(kind)
            items = raw if isinstance(raw, list) else [p for p in str(raw).split(",") if p.strip()]
            return [item(str(p).strip()) if item is not str else str(p).strip() for p in items]
        if not isinstance(raw, (str, int, float)):
            raise ValueError
        return str(raw)
    except (TypeError, ValueError) as err:
        expected = {int: "a whole number", float: "a number", bool: "true or false"}.get(kind, str(kind))
        raise ConfigError(f"{env_name}: expected {expected}, got {raw!r}") from err


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def _flatten_toml(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}".replace("-", "_").lower()
        if isinstance(value, Mapping):
            flat.update(_flatten_toml(value, name + "_"))
        else:
            flat[name] = value
    return flat


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings in the contract's order and validate them."""
    types_by_name = _field_types()
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(_read_toml(config_file, types_by_name))
    env = os.environ if environ is None else environ
    for name in types_by_name:
        key = ENV_PREFIX + name.upper()
        if key in env:
            values[name] = env[key]
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = value
    converted = {name: _convert(name, raw, types_by_name[name]) for name, raw in values.items()}
    if not converted.get("public_url"):
        converted["public_url"] = derived_public_url(
            converted.get("host", Settings.host), converted.get("port", Settings.port)
        )
    settings = Settings(**converted)
    validate(settings)
    return settings


def derived_public_url(host: str, port: int) -> str:
    """``http://host:port`` of the web listener; a wildcard address becomes the loopback one."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _read_toml(path: Path, types_by_name: Mapping[str, Any]) -> dict[str, Any]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"--config: file {path} does not exist") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"--config: {path} is not valid TOML: {err}") from err
    flat = _flatten_toml(data)
    unknown = sorted(set(flat) - set(types_by_name))
    if unknown:
        raise ConfigError(f"--config: {path}: unknown setting {unknown[0]!r}")
    return flat


def validate(settings: Settings) -> None:
    """Check values that have a type but also a range or a format."""

    def fail(name: str, message: str) -> None:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}: {message}")

    for name in ("port", "agi_port", "ami_port", "audiosocket_port"):
        if not 0 <= getattr(settings, name) <= 65535:
            fail(name, f"expected a port from 0 to 65535, got {getattr(settings, name)}")
    if not re.match(r"^(sqlite\+aiosqlite|postgresql\+asyncpg)://", settings.database_url):
        fail("database_url", "expected sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB")
    try:
        settings.zone  # noqa: B018 - evaluating the property is the check
    except (ZoneInfoNotFoundError, ValueError):
        fail("timezone", f"unknown time zone {settings.timezone!r}")
    try:
        settings.callback_window  # noqa: B018 - evaluating the property is the check
    except ValueError as err:
        fail("callback_hours", f"{err}, got {settings.callback_hours!r}")
    days = [d.strip().lower() for d in settings.callback_days.split(",") if d.strip()]
    if not days or any(d not in _WEEKDAYS for d in days):
        fail("callback_days", f"expected days like mon,tue,...,sun, got {settings.callback_days!r}")
    if settings.notify_no_answer_action not in ("supervisors", "close"):
        fail("notify_no_answer_action", f"expected supervisors or close, got {settings.notify_no_answer_action!r}")
    if settings.notify_lease_seconds <= max(settings.smtp_timeout, settings.sms_timeout):
        fail("notify_lease_seconds", "must be longer than the SMTP and SMS timeouts (a live send must keep its claim)")
    if settings.notify_link_days < 1 or settings.notify_no_answer_days < 1 or settings.notify_max_attempts < 1:
        fail("notify_link_days", "notify_link_days, notify_no_answer_days and notify_max_attempts must be at least 1")
    if settings.sms_method.upper() not in ("POST", "PUT", "GET"):
        fail("sms_method", f"expected POST, PUT or GET, got {settings.sms_method!r}")
    if settings.sms_auth_header and ":" not in settings.sms_auth_header:
        fail("sms_auth_header", "expected 'Header-Name: value'")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,80}", settings.live_conversation_context):
        fail(
            "live_conversation_context", f"expected a dialplan context name, got {settings.live_conversation_context!r}"
        )
    if not 10 <= settings.live_conversation_max_seconds <= 86400:
        fail("live_conversation_max_seconds", f"must be 10..86400, got {settings.live_conversation_max_seconds}")
    if settings.live_conversation_max_calls < 1:
        fail("live_conversation_max_calls", f"must be at least 1, got {settings.live_conversation_max_calls}")
    if settings.stt_live_max_calls < 0:
        fail("stt_live_max_calls", f"must be 0 (off) or more, got {settings.stt_live_max_calls}")
    if settings.stt_max_active is not None and settings.stt_max_active < 200:
        fail("stt_max_active", f"must be at least 200 (or empty: the model's own), got {settings.stt_max_active}")
    if settings.stt_beam is not None and not 1.0 <= settings.stt_beam <= 30.0:
        fail("stt_beam", f"must be between 1 and 30 (or empty: the model's own), got {settings.stt_beam}")
    if settings.stt_live_silence_tail < 0 or settings.stt_live_silence_threshold < 0:
        fail("stt_live_silence_tail", "stt_live_silence_tail and stt_live_silence_threshold must not be negative")
    if settings.ivr_recorder not in ("audiosocket", "record_file"):
        fail("ivr_recorder", f"expected audiosocket or record_file, got {settings.ivr_recorder!r}")
    for peer in settings.audiosocket_allowed_peers:
        try:
            ipaddress.ip_network(peer, strict=False)
        except ValueError:
            fail("audiosocket_allowed_peers", f"expected IP addresses or networks, got {peer!r}")
    if settings.audiosocket_address and not re.fullmatch(
        r"(\[[0-9a-fA-F:.]+\]|[^\s:,\[\]]+):\d{1,5}", settings.audiosocket_address
    ):
        fail("audiosocket_address", f"expected host:port as Asterisk reaches us, got {settings.audiosocket_address!r}")
    if settings.callback_mode not in ("auto", "operator"):
        fail("callback_mode", f"expected auto or operator, got {settings.callback_mode!r}")
    if not any(field in settings.dial_template for field in ("{number}", "{digits}", "{national}")):
        fail(
            "dial_template",
            f"must contain {{number}}, {{digits}} or {{national}} (docs/asterisk.md), got {settings.dial_template!r}",
        )
    _validate_positive(settings, fail)
    _validate_category_hours(settings, fail)
    for proxy in settings.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            fail("trusted_proxies", f"expected IP addresses or networks like 10.0.0.1,10.1.0.0/16, got {proxy!r}")
    for name in ("totp_grace_days", "retention_days"):
        if not 0 <= getattr(settings, name) <= 36500:
            fail(name, f"expected days from 0 to 36500, got {getattr(settings, name)}")
    if settings.ami_enabled and not settings.ami_secret:
        fail("ami_secret", "AMI host is set but the secret is empty")
    if settings.agi_recordings_dir and not settings.agi_recordings_dir.startswith("/"):
        fail(
            "agi_recordings_dir",
            f"must be an absolute path (as Asterisk sees the recordings folder), got {settings.agi_recordings_dir!r}",
        )
    if settings.ivr_menu_file is not None and not settings.ivr_menu_file.is_file():
        fail("ivr_menu_file", f"{settings.ivr_menu_file} does not exist")
    # A missing or broken Vosk model does not stop the hotline: SpeechService logs one line and
    # recordings are kept untranscribed (see callcenter/stt/service.py).


def _validate_positive(settings: Settings, fail: Any) -> None:
    for name in (
        "stt_workers",
        "callback_max_attempts",
        "callback_max_concurrent",
        "callback_lease_seconds",
        "max_photo_bytes",
        "max_photos",
        "max_request_bytes",
        "archive_after_days",
        "dispatch_target_seconds",
    ):
        if getattr(settings, name) <= 0:
            fail(name, f"must be greater than 0, got {getattr(settings, name)}")
    if settings.callback_delay_seconds < 0:
        fail("callback_delay_seconds", "must not be negative")
    try:
        parse_chain(settings.escalation_chain)
    except ValueError as err:
        fail("escalation_chain", str(err))
    if settings.escalation_step_minutes <= 0 or settings.escalation_tick_seconds < 0:
        fail("escalation_step_minutes", "the step must be > 0 minutes and the tick >= 0 seconds")
    if any(m <= 0 for m in settings.callback_retry_minutes):
        fail("callback_retry_minutes", "every retry delay must be greater than 0")


def _validate_category_hours(settings: Settings, fail: Any) -> None:
    for entry in settings.callback_category_hours:
        code, sep, hours = entry.partition("=")
        try:
            if not sep or not code.strip():
                raise ValueError("expected CODE=HH:MM-HH:MM")
            _parse_hours(hours)
        except ValueError as err:
            fail("callback_category_hours", f"{err}, got {entry!r}")


def settings_table(settings: Settings) -> list[tuple[str, str]]:
    """(environment name, value) pairs for `callcenter config show`, secrets masked."""
    rows = []
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if f.name in ("ami_secret", "secret_key", "smtp_password", "sms_auth_header", "notify_link_secret") and value:
            value = "********"
        rows.append((ENV_PREFIX + f.name.upper(), str(value)))
    return rows

"""public_url follows the listener unless an admin sets it (Open311 discovery and media_url use it)."""

from __future__ import annotations

from callcenter.config import derived_public_url, load_settings


def test_public_url_follows_the_port_and_host() -> None:
    assert load_settings(environ={}).public_url == "http://127.0.0.1:8080"
    assert load_settings(environ={}, overrides={"port": 9137}).public_url == "http://127.0.0.1:9137"
    assert (
        load_settings(environ={"CALLCENTER_PORT": "8181", "CALLCENTER_HOST": "10.0.0.5"}).public_url
        == "http://10.0.0.5:8181"
    )


def test_an_explicit_public_url_wins() -> None:
    settings = load_settings(environ={"CALLCENTER_PUBLIC_URL": "https://1563.example.ru"}, overrides={"port": 9137})
    assert settings.public_url == "https://1563.example.ru"


def test_wildcard_listen_addresses_become_loopback() -> None:
    assert derived_public_url("0.0.0.0", 80) == "http://127.0.0.1:80"
    assert derived_public_url("::", 8080) == "http://[::1]:8080"
    assert derived_public_url("::1", 8080) == "http://[::1]:8080"

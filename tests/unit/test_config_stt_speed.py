"""The speech settings for speed: the decoder's search (empty: the model's own) and the live
silence gate, read from the environment and refused with a clear error when out of range."""

from __future__ import annotations

import pytest

from callcenter.config import ConfigError, load_settings


def test_defaults_keep_the_models_search_and_gate_silence_after_a_second() -> None:
    settings = load_settings(environ={})
    assert settings.stt_max_active is None and settings.stt_beam is None
    assert settings.stt_live_silence_tail == 1.0 and settings.stt_live_silence_threshold == 600


def test_the_environment_sets_them_and_empty_means_the_models_own() -> None:
    settings = load_settings(
        environ={
            "CALLCENTER_STT_MAX_ACTIVE": "1000",
            "CALLCENTER_STT_BEAM": "8",
            "CALLCENTER_STT_LIVE_SILENCE_TAIL": "0",
        }
    )
    assert (settings.stt_max_active, settings.stt_beam, settings.stt_live_silence_tail) == (1000, 8.0, 0.0)
    assert load_settings(environ={"CALLCENTER_STT_BEAM": ""}).stt_beam is None


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("CALLCENTER_STT_MAX_ACTIVE", "50", "CALLCENTER_STT_MAX_ACTIVE: must be at least 200"),
        ("CALLCENTER_STT_BEAM", "0.5", "CALLCENTER_STT_BEAM: must be between 1 and 30"),
        ("CALLCENTER_STT_BEAM", "wide", "CALLCENTER_STT_BEAM"),
        ("CALLCENTER_STT_LIVE_SILENCE_TAIL", "-1", "CALLCENTER_STT_LIVE_SILENCE_TAIL: "),
    ],
)
def test_out_of_range_values_are_refused_by_name(name: str, value: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(environ={name: value})

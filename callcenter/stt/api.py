"""The speech-to-text feature's public module: what other features may import from it."""

from callcenter.stt.errors import AudioDecodeError, SttError, SttUnavailable
from callcenter.stt.service import SpeechService
from callcenter.stt.voice_reports import VoiceReports

__all__ = ["AudioDecodeError", "SpeechService", "SttError", "SttUnavailable", "VoiceReports"]

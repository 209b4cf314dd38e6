"""The speech-to-text feature's public module: what other features may import from it."""

from callcenter.stt.errors import AudioDecodeError, SttError, SttUnavailable
from callcenter.stt.live import LiveRecognizer, LiveText, SilenceGate
from callcenter.stt.recognizer import DecoderOptions
from callcenter.stt.service import SpeechService
from callcenter.stt.transcript import Transcript
from callcenter.stt.voice_reports import VoiceReports

__all__ = [
    "AudioDecodeError",
    "DecoderOptions",
    "LiveRecognizer",
    "LiveText",
    "SilenceGate",
    "SpeechService",
    "SttError",
    "SttUnavailable",
    "Transcript",
    "VoiceReports",
]

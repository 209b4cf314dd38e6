"""The speech-to-text feature: loads the Vosk model with the app, transcribes what a restart
left pending, and adds ``callcenter transcribe``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from callcenter.config import Settings
from callcenter.features import Command, Feature, SubParsers
from callcenter.services import Services

logger = logging.getLogger(__name__)


def setup(app: web.Application, services: Services) -> None:
    """Start speech-to-text with the app (``services.speech`` and ``services.voice``)."""

    async def speech_ctx(_app: web.Application) -> AsyncIterator[None]:
        """Load the Vosk model off the loop; recordings left pending by a restart are transcribed again."""
        await services.speech.start()
        if services.speech.available:
            queued = await services.voice.resume_pending()
            logger.info("speech-to-text ready (%s); %d pending recordings queued", services.speech.model_name, queued)
        yield
        await services.voice.close()
        await services.speech.close()

    app.cleanup_ctx.append(speech_ctx)


def _register_transcribe(sub: SubParsers) -> None:
    transcribe = sub.add_parser("transcribe", help="print the transcript and draft of recordings (Vosk)")
    transcribe.add_argument("files", nargs="+", type=Path, metavar="FILE")
    transcribe.add_argument("--model", type=Path, help="Vosk model folder (default CALLCENTER_STT_MODEL)")
    transcribe.add_argument("--json", action="store_true", help="one JSON object per file")


async def _transcribe(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.stt.cli import transcribe_command

    return await transcribe_command(
        list(args.files), args.model or settings.stt_model, settings.stt_workers, json_output=args.json
    )


FEATURE = Feature("stt", setup, commands=(Command("transcribe", _register_transcribe, _transcribe),))

"""``callcenter transcribe FILE...``: transcripts and drafts of recordings, for admins.

The argparse wiring lives in ``callcenter/cli.py``; it calls :func:`run_transcribe_command`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from callcenter.reference import ReferenceData, load_reference
from callcenter.stt.drafting import Draft
from callcenter.stt.errors import SttError, SttUnavailable
from callcenter.stt.service import SpeechService
from callcenter.stt.transcript import Transcript

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_UNAVAILABLE = 2
DEFAULT_JOB_TIMEOUT = 3600.0  # an admin's batch: allow an hour-long call


@dataclass(frozen=True)
class FileResult:
    """One file's outcome: a transcript and draft, or the error that prevented them."""

    path: Path
    transcript: Transcript | None = None
    draft: Draft | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready dict."""
        return {
            "path": str(self.path),
            "transcript": self.transcript.to_dict() if self.transcript else None,
            "draft": self.draft.to_dict() if self.draft else None,
            "error": self.error,
        }


async def transcribe_files(
    paths: Sequence[Path],
    service: SpeechService,
    *,
    out: TextIO | None = None,
    json_output: bool = False,
) -> list[FileResult]:
    """Transcribe and draft every file (as many at once as the service has workers).

    Results come back in the order of ``paths``; with ``out`` each one is also printed as
    it finishes, under a tqdm progress bar (on stderr, shown for more than one file).
    """
    results: dict[int, FileResult] = {}

    async def one(index: int, path: Path) -> tuple[int, FileResult]:
        try:
            transcript, draft = await service.transcribe_and_draft(path)
        except SttError as err:
            return index, FileResult(path, error=str(err))
        return index, FileResult(path, transcript, draft)

    tasks = [asyncio.create_task(one(i, Path(p))) for i, p in enumerate(paths)]
    try:
        with tqdm(total=len(tasks), unit="file", disable=len(tasks) < 2, file=sys.stderr) as bar:
            for finished in asyncio.as_completed(tasks):
                index, result = await finished
                results[index] = result
                if out is not None:
                    bar.write(format_result(result, json_output), file=out)
                bar.update(1)
    finally:
        # An unexpected error (or Ctrl-C) leaves no decode running behind our back.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [results[i] for i in range(len(tasks))]


def format_result(result: FileResult, json_output: bool = False) -> str:
    """Human-readable block (or one JSON line) for one file."""
    if json_output:
        return json.dumps(result.to_dict(), ensure_ascii=False)
    if result.error is not None:
        return f"== {result.path}\nerror: {result.error}\n"
    transcript, draft = result.transcript, result.draft
    assert transcript is not None and draft is not None
    lines = [
        f"== {result.path} ({transcript.duration:.1f} s, model {transcript.model}, "
        f"confidence {transcript.confidence:.2f})",
        f"text: {transcript.text or '(no speech)'}",
        f"category: {draft.category_code} ({draft.category_name}) -> {draft.department_code}, "
        f"confidence {draft.confidence:.2f}",
        f"address: {draft.address or '(none heard)'}",
        f"title: {draft.title}",
        f"keywords: {', '.join(draft.matched_keywords) or '-'}",
    ]
    return "\n".join(lines) + "\n"


async def _run(
    paths: Sequence[Path],
    model_path: Path | None,
    workers: int,
    out: TextIO,
    json_output: bool,
    reference: ReferenceData | None,
) -> int:
    if reference is None:
        reference = await asyncio.to_thread(load_reference)
    service = SpeechService(model_path, workers, DEFAULT_JOB_TIMEOUT, reference)
    await service.start()
    try:
        if not service.available:
            raise SttUnavailable(service.unavailable_reason or "no speech model")
        results = await transcribe_files(paths, service, out=out, json_output=json_output)
    finally:
        await service.close()
    return EXIT_SOME_FAILED if any(r.error for r in results) else EXIT_OK


def run_transcribe_command(
    paths: list[Path],
    model_path: Path | None,
    workers: int,
    out: TextIO = sys.stdout,
    *,
    json_output: bool = False,
    reference: ReferenceData | None = None,
) -> int:
    """Run ``callcenter transcribe``; returns the exit code.

    0 every file transcribed; 1 some files could not be decoded (each says why);
    2 speech-to-text is unavailable (no model or a broken one) or no files were given.
    """
    return asyncio.run(
        transcribe_command(paths, model_path, workers, out, json_output=json_output, reference=reference)
    )


async def transcribe_command(
    paths: list[Path],
    model_path: Path | None,
    workers: int,
    out: TextIO = sys.stdout,
    *,
    json_output: bool = False,
    reference: ReferenceData | None = None,
) -> int:
    """:func:`run_transcribe_command` inside a running event loop."""
    if not paths:
        print("error: no files given", file=sys.stderr)
        return EXIT_UNAVAILABLE
    try:
        return await _run(paths, model_path, workers, out, json_output, reference)
    except SttUnavailable as err:
        print(f"error: speech-to-text unavailable: {err}", file=sys.stderr)
        return EXIT_UNAVAILABLE

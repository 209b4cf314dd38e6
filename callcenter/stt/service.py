"""The speech-to-text service the application wires: transcripts and drafts, off the loop.

Decoding is CPU-bound (Vosk releases the GIL while it works), so jobs run in a thread
pool; a semaphore admits at most ``workers`` decodes at once, so waiting jobs wait
cheaply (and cancellably) in asyncio rather than in the executor's queue.
Each job has a time limit. The model is loaded once, in :meth:`SpeechService.start`.

Without a model (none configured, or a broken folder) the service still starts:
``available`` is False, one log line says why, and every call raises
:class:`SttUnavailable` so the caller keeps the recording and marks the transcript
unavailable.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from callcenter.reference import ReferenceData
from callcenter.stt.audio import find_ffmpeg
from callcenter.stt.drafting import Draft, Drafter
from callcenter.stt.errors import SttCancelled, SttError, SttTimeout, SttUnavailable
from callcenter.stt.live import LiveRecognizer, SilenceGate, Updates
from callcenter.stt.recognizer import (
    DecoderOptions,
    JobControl,
    LoadedModel,
    load_model,
    recognize_phrases,
    transcribe_file,
)
from callcenter.stt.transcript import Transcript

logger = logging.getLogger(__name__)

T = TypeVar("T")
# A job checks its own time limit between chunks; this margin only covers a worker stuck
# outside that loop (it should never be needed).
_WATCHDOG_MARGIN = 30.0
_STOP_WAIT = 10.0
# Decoding is background work: worker threads (and the ffmpeg they start) run at a lower
# CPU priority, so the event-loop thread gets a core at once when it wakes (the AMI
# reader must answer within Asterisk's 100 ms write timeout, screen pops must not wait).
DEFAULT_WORKER_NICE = 10


class SpeechService:
    """Speech-to-text and drafting for the IVR, the CLI and the ticket service.

    ``model_path`` is a Vosk model folder (``CALLCENTER_STT_MODEL``) or None;
    ``workers`` bounds concurrent decodes; ``job_timeout`` bounds one decode, in seconds.
    Call :meth:`start` before use and :meth:`close` at shutdown. ``model`` and ``drafter``
    are optional already-built parts (``model`` then wins over ``model_path``);
    ``worker_nice`` is added to the worker threads' nice value (0 leaves it alone);
    ``decoder`` overrides the model's search options, ``live_gate`` sets when live calls stop
    decoding silence.
    """

    def __init__(
        self,
        model_path: Path | None,
        workers: int,
        job_timeout: float,
        reference: ReferenceData,
        *,
        ffmpeg: str = "ffmpeg",
        model: LoadedModel | None = None,
        drafter: Drafter | None = None,
        worker_nice: int = DEFAULT_WORKER_NICE,
        decoder: DecoderOptions | None = None,
        live_gate: SilenceGate | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if job_timeout <= 0:
            raise ValueError(f"job_timeout must be positive, got {job_timeout}")
        self.model_path = model_path
        self.workers = workers
        self.job_timeout = job_timeout
        self.reference = reference
        self.ffmpeg = ffmpeg
        self.worker_nice = worker_nice
        self.decoder = decoder or DecoderOptions()
        self.live_gate = live_gate or SilenceGate()
        self.unavailable_reason: str | None = "not started"
        # Already-built parts may be handed in (tests, benchmarks, several services
        # sharing one model); start() then skips building them.
        self._preloaded = model
        self._model: LoadedModel | None = None
        self._drafter: Drafter | None = drafter
        self._executor: ThreadPoolExecutor | None = None
        self._slots = asyncio.Semaphore(workers)
        self._active: set[JobControl] = set()
        self._closed = False

    @property
    def available(self) -> bool:
        """True once a model is loaded and until :meth:`close`."""
        return self._model is not None and not self._closed

    @property
    def model_name(self) -> str | None:
        """The loaded model's name, or None."""
        return self._model.name if self._model else None

    async def start(self) -> None:
        """Build the drafter and load the model, in worker threads (loading a large model
        takes minutes). Never raises for a missing or broken model: see ``available``."""
        loop = asyncio.get_running_loop()
        if self._executor is not None:
            raise RuntimeError("SpeechService.start() called twice")
        # One thread more than decode slots: drafting and loading never queue behind a
        # long decode.
        self._executor = ThreadPoolExecutor(
            self.workers + 1,
            thread_name_prefix="stt",
            initializer=_lower_thread_priority,
            initargs=(self.worker_nice,),
        )
        if self._drafter is None:
            self._drafter = await loop.run_in_executor(self._executor, Drafter, self.reference)
        try:
            await loop.run_in_executor(self._executor, find_ffmpeg, self.ffmpeg)
            self._model = self._preloaded or await loop.run_in_executor(
                self._executor, load_model, self.model_path, self.decoder
            )
        except SttUnavailable as err:
            self.unavailable_reason = str(err)
            logger.warning("speech-to-text unavailable, recordings are kept untranscribed: %s", err)
            return
        self.unavailable_reason = None

    async def close(self) -> None:
        """Stop running jobs, wait for the worker threads, free the model. Idempotent."""
        self._closed = True
        self.unavailable_reason = "service closed"
        for control in list(self._active):
            control.cancel()
        executor, self._executor = self._executor, None
        if executor is not None:
            # Queued jobs are not dropped: their controls are cancelled, so each one starts,
            # sees that, and ends with SttCancelled for its caller.
            await asyncio.to_thread(executor.shutdown, wait=True)
        self._model = None
        self._preloaded = None

    async def transcribe(self, path: Path) -> Transcript:
        """Transcript of one recording. Raises :class:`SttUnavailable`,
        :class:`AudioDecodeError` (corrupt audio: no transcript) or :class:`SttTimeout`."""
        model = self._require_model()
        job = functools.partial(transcribe_file, model, Path(path), ffmpeg=self.ffmpeg)
        return await self._run(job, Path(path))

    async def recognize_phrases(self, path: Path, phrases: Sequence[str]) -> str | None:
        """Which of ``phrases`` the recording says ("да"/"нет" for the IVR), or None."""
        model = self._require_model()
        job = functools.partial(recognize_phrases, model, Path(path), list(phrases), ffmpeg=self.ffmpeg)
        return await self._run(job, Path(path))

    def draft(self, transcript: Transcript) -> Draft:
        """Suggested category, executor, address and title (pure; CPU only).

        Takes milliseconds for a complaint but longer for an hour of speech: for long
        transcripts prefer :meth:`transcribe_and_draft`, which drafts in a worker thread.
        """
        if self._drafter is None:
            raise SttUnavailable("speech service not started")
        return self._drafter.draft(transcript)

    async def transcribe_and_draft(self, path: Path) -> tuple[Transcript, Draft]:
        """Transcript and draft of one recording (same errors as :meth:`transcribe`)."""
        transcript = await self.transcribe(path)
        loop = asyncio.get_running_loop()
        executor = self._executor
        if executor is None:
            raise SttUnavailable("speech service closed")
        draft = await loop.run_in_executor(executor, self.draft, transcript)
        return transcript, draft

    def live(self, on_update: Updates | None = None, *, chunk_seconds: float = 0.25) -> LiveRecognizer:
        """A recogniser for one call's audio as it arrives (8 kHz slin16, AudioSocket); its
        chunks run in this pool. Raises :class:`SttUnavailable` without a model."""
        return LiveRecognizer(
            self._require_model(), self._run_live, on_update, chunk_seconds=chunk_seconds, gate=self.live_gate
        )

    async def draft_async(self, transcript: Transcript) -> Draft:
        """:meth:`draft` in a worker thread (the address search is CPU work)."""
        executor = self._executor
        if executor is None or self._drafter is None:
            raise SttUnavailable("speech service not started")
        return await asyncio.get_running_loop().run_in_executor(executor, self.draft, transcript)

    async def _run_live(self, job: Callable[[], T]) -> T:
        """One live chunk: waits for a slot like every job, bounded by the job time limit."""
        async with self._slots:
            executor = self._executor
            if self._closed or executor is None:
                raise SttUnavailable("speech service closed")
            future = asyncio.get_running_loop().run_in_executor(executor, job)
            try:
                return await asyncio.wait_for(asyncio.shield(future), self.job_timeout)
            except TimeoutError:
                raise SttTimeout(Path("live"), self.job_timeout) from None

    def _require_model(self) -> LoadedModel:
        if self._closed:
            raise SttUnavailable("speech service closed")
        if self._model is None:
            raise SttUnavailable(self.unavailable_reason or "no speech model")
        return self._model

    async def _run(self, job: Callable[..., T], path: Path) -> T:
        async with self._slots:
            model_executor = self._executor
            if self._closed or model_executor is None:
                raise SttUnavailable("speech service closed")
            control = JobControl(self.job_timeout)
            self._active.add(control)
            try:
                future = asyncio.get_running_loop().run_in_executor(
                    model_executor, functools.partial(job, control=control)
                )
                return await self._await_job(future, control, path)
            finally:
                self._active.discard(control)

    async def _await_job(self, future: asyncio.Future[T], control: JobControl, path: Path) -> T:
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.job_timeout + _WATCHDOG_MARGIN)
        except TimeoutError:
            control.cancel()
            await _wait_stopped(future)
            raise SttTimeout(path, self.job_timeout) from None
        except asyncio.CancelledError:
            # Free the worker before giving the slot back, or cancelled jobs would pile up
            # in the executor beyond ``workers``.
            control.cancel()
            await _wait_stopped(future)
            task = asyncio.current_task()
            if future.cancelled() and task is not None and not task.cancelling():
                # The executor dropped the job (shutdown), not our caller.
                raise SttCancelled(f"speech recognition of {path} was cancelled") from None
            raise


def _lower_thread_priority(nice: int) -> None:
    """Raise this worker thread's nice value (Linux nice is per thread; ffmpeg children
    inherit it). Lowering priority needs no privileges; failure only costs latency."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, current + nice))
    except OSError as err:
        logger.debug("cannot lower the speech worker's priority: %s", err)


async def _wait_stopped(future: asyncio.Future[object]) -> None:
    """Wait (bounded) for a cancelled job's thread to notice, and consume its outcome."""
    done, _ = await asyncio.wait({future}, timeout=_STOP_WAIT)
    if future in done and not future.cancelled():
        error = future.exception()
        if error is not None and not isinstance(error, SttError):
            logger.error("speech job failed while stopping", exc_info=error)

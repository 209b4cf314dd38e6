"""Live transcript over AudioSocket in the running app (the small Korean Vosk model of the test
extra, espeak-ng speech): frames reach the call's recogniser as they arrive, ``voice_live``
messages go out on the hub while the caller speaks, and the draft ticket gets the live
transcript without a second decode."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

import pytest

from callcenter.audiosocket import protocol as p
from callcenter.config import Settings
from tests.conftest import LiveServer
from tests.integration.test_ivr_audiosocket import CALLER, caller, play
from tests.protocol.agi_peer import step
from tests.stt_fixtures import HELLO, THANKS, korean_model_dir, speak
from tests.telephony_fixtures import HubWatch

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, stt_model=korean_model_dir(), stt_workers=1)


def spoken_frames(tmp_path: Path, text: str) -> list[p.Message]:
    """``text`` spoken, as Asterisk streams it: 20 ms frames of 8 kHz slin16, then '#'."""
    source = speak(text, tmp_path / "speech.wav")
    raw = tmp_path / "speech.sln"
    subprocess.run(
        ["sox", "-D", str(source), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", str(raw)],
        check=True,
        timeout=60,
    )
    pcm = raw.read_bytes()
    frames = [p.Message(p.Kind.AUDIO, pcm[i : i + p.FRAME_BYTES]) for i in range(0, len(pcm), p.FRAME_BYTES)]
    return frames + [p.Message(p.Kind.DTMF, b"#")]


async def test_live_transcript_reaches_the_hub_and_the_draft(live_server: LiveServer, tmp_path: Path) -> None:
    services = live_server.services
    assert services.speech.available, services.speech.unavailable_reason
    stream = spoken_frames(tmp_path, f"{HELLO} {THANKS}")
    script = [
        step("ANSWER", "200 result=0"),
        play("greeting"),
        play("main-menu", "1"),
        play("report-category", "9"),
        play("record-after-beep"),
        step("EXEC AudioSocket ", "200 result=0"),
        play("report-accepted"),
        play("ticket-number"),
    ]
    with HubWatch(services, lambda m: m.get("type") == "voice_live") as live:
        peer = caller(live_server, script, stream, dead_after=True, auto_variables=True)
        await peer.run()
        final = None
        seen = []
        while final is None:
            message = await live.next(60)
            seen.append(message)
            if message["final"]:
                final = message
    assert all(m["phone"] == CALLER and m["kind"] == "ivr" for m in seen)
    assert final["text"], seen
    assert [m for m in seen if not m["final"]], "no update while the caller was speaking"
    assert final["suggestion"] is not None and "category" in final["suggestion"]
    await services.voice.drain()
    (ticket,) = await services.tickets.tickets_for_phone(CALLER)
    detail = await services.tickets.detail(ticket.number)
    (recording,) = detail.attachments
    assert recording.transcript_status == "done"
    assert recording.transcript["text"] == final["text"] and recording.transcript["model"]
    assert detail.ticket.description == final["text"]


async def test_live_transcripts_are_capped(live_server: LiveServer, tmp_path: Path) -> None:
    """Past stt_live_max_calls a call gets no live recogniser (its file is decoded after the
    message); a finished call frees its place."""
    from callcenter.audiosocket.live import LiveTranscripts
    from callcenter.audiosocket.server import END_DTMF, MessageSpec, RecordingOutcome

    live = LiveTranscripts(live_server.services.speech, live_server.services.hub, max_calls=1)
    first = live(MessageSpec(path=tmp_path / "a.wav", call_uniqueid="a"))
    assert first is not None and live.active == 1
    assert live(MessageSpec(path=tmp_path / "b.wav", call_uniqueid="b")) is None and live.declined == 1
    first.feed(b"\x00\x00" * 4000)
    await first.finish(RecordingOutcome(tmp_path / "a.wav", END_DTMF, "#", 8000, False))
    assert live.active == 0 and live(MessageSpec(path=tmp_path / "c.wav", call_uniqueid="c")) is not None


HEATING = "нет отопления мёрзнем с детьми улица вакуленчука дом двадцать шесть квартира сто пять"


async def test_open_tickets_at_the_suggested_place_go_out_with_the_live_transcript(
    live_server: LiveServer, tmp_path: Path
) -> None:
    """A phrase names a place where an open ticket of that category exists: the duplicates
    search runs off the recognition path and its result rides the ``voice_live`` messages,
    the final one included; a closed ticket there and a ticket of another category are not
    listed. (The recogniser's callback is given the Russian phrase directly: the test model
    is Korean.)"""
    from callcenter.audiosocket.live import LiveTranscripts
    from callcenter.audiosocket.server import END_DTMF, MessageSpec, RecordingOutcome
    from callcenter.domain.tickets import Actor, Channel, Role, Status
    from callcenter.portal.api import NearbyOpenTickets
    from callcenter.stt.api import LiveText, Transcript
    from callcenter.tickets.schemas import NewTicket

    services = live_server.services
    draft = services.speech.draft(Transcript(text=HEATING, words=(), duration=3.0, model="test"))
    assert draft.street and draft.house and draft.lat is not None, draft
    operator = Actor(role=Role.OPERATOR, name="Оператор", user_id=None)

    async def ticket(category: str) -> str:
        view = await services.tickets.create(
            NewTicket(
                channel=Channel.PHONE,
                phone="+79780000001",
                category=category,
                description="Холодные батареи",
                address=draft.address,
                street=draft.street,
                house=draft.house,
                lat=draft.lat,
                lon=draft.lon,
            ),
            operator,
        )
        return view.number

    open_one = await ticket(draft.category_code)
    closed = await ticket(draft.category_code)
    await services.tickets.move(closed, Status.REJECTED, operator, note="Не подтвердилось")
    other = await ticket("garbage" if draft.category_code != "garbage" else "water_leak")

    live = LiveTranscripts(
        services.speech,
        services.hub,
        nearby=NearbyOpenTickets(services.sessions, services.reference),
        nearby_interval=60.0,  # one search per place: the second phrase names the same place
    )
    call = live(MessageSpec(path=tmp_path / "near.wav", call_uniqueid="near.1", phone=CALLER))
    assert call is not None
    with HubWatch(services, lambda m: m.get("type") == "voice_live" and m["call_uniqueid"] == "near.1") as watch:
        call._update(LiveText(HEATING, "", 3.0))  # what the recogniser calls when a phrase ends
        message = await watch.next(30)
        while not message["nearby"]:
            message = await watch.next(30)
        call._update(LiveText(HEATING + " третий день", "", 4.0))
        await call.finish(RecordingOutcome(tmp_path / "near.wav", END_DTMF, "#", 8000, False))
        final = await watch.next(30)
        while not final["final"]:
            final = await watch.next(30)
    assert message["suggestion"]["street"] == draft.street and message["text"] == HEATING
    (found,) = message["nearby"]
    assert found["number"] == open_one and found["url"] == f"/staff/tickets/{open_one}"
    assert found["category"] == draft.category_code and found["status"] == "new"
    assert found["address"] == draft.address and found["same_address"] is True
    assert (found["lat"], found["lon"]) == (draft.lat, draft.lon)  # the pop's map puts its marker there
    assert closed not in str(final) and other not in str(final)
    assert final["nearby"] == message["nearby"]
    assert live.nearby_searches == 1


async def test_final_phrases_land_on_one_draft_as_the_caller_speaks(live_server: LiveServer, tmp_path: Path) -> None:
    """The call's draft ticket is made at the first final phrase and follows the next ones;
    the voice report at the end of the message reuses it (one draft, the recording on it,
    the whole text as its description). An operator's own description is never replaced."""
    from callcenter.audiosocket.live import LiveTranscripts
    from callcenter.audiosocket.server import MessageSpec
    from callcenter.stt.api import LiveText, Transcript

    services = live_server.services
    phone = "+79785550101"
    live = LiveTranscripts(services.speech, services.hub, drafts=services.voice.live_draft)
    call = live(MessageSpec(path=tmp_path / "d.wav", call_uniqueid="draft.1", phone=phone))
    assert call is not None
    first = "нет отопления мёрзнем с детьми"
    call._update(LiveText(first, "", 2.0))  # what the recogniser calls when a phrase ends
    assert call._drafting is not None
    await call._drafting
    (draft,) = await services.tickets.tickets_for_phone(phone)
    assert draft.is_draft and draft.description == first and draft.extra["call_uniqueid"] == "draft.1"
    assert draft.category is not None  # the suggestion's category, filled while still empty

    call._update(LiveText(HEATING, "", 4.0))
    await call._drafting
    (again,) = await services.tickets.tickets_for_phone(phone)
    assert again.number == draft.number and again.description == HEATING
    assert again.street and again.house == "26" and again.extra["draft"]["street"] == again.street

    recording = tmp_path / "d.wav"
    recording.write_bytes(b"RIFF" + b"\x00" * 100)
    whole = HEATING + " третий день"
    view = await services.voice.submit(
        phone=phone,
        category_code=None,
        recording_path=str(recording),
        call_uniqueid="draft.1",
        ivr_path="1>9",
        transcript=Transcript(text=whole, words=(), duration=5.0, model="live"),
    )
    await services.voice.drain()
    assert view.number == draft.number
    (final,) = await services.tickets.tickets_for_phone(phone)
    detail = await services.tickets.detail(final.number)
    assert final.description == whole and final.extra["ivr_path"] == "1>9"
    assert [a.kind for a in detail.attachments] == ["recording"]

    # An operator rewrote the description: a late phrase does not overwrite it.
    from callcenter.domain.tickets import Actor, Role

    await services.tickets.edit(
        final.number, {"description": "Со слов оператора"}, Actor(role=Role.OPERATOR, name="Оператор", user_id=None)
    )
    late = Transcript(text=whole + " ещё", words=(), duration=6.0, model="live")
    await services.voice.live_draft(
        phone=phone, call_uniqueid="draft.1", text=late.text, draft=services.speech.draft(late)
    )
    assert (await services.tickets.get(final.number)).description == "Со слов оператора"


async def test_the_nearby_search_is_throttled_and_repeated_only_for_a_new_place(
    live_server: LiveServer, tmp_path: Path
) -> None:
    """Within ``nearby_interval`` a new place waits (no second search yet); the same place is
    never searched twice; when the message ends the newest place is searched at once and
    the final message carries its list."""
    from callcenter.audiosocket.live import LiveTranscripts
    from callcenter.audiosocket.server import END_DTMF, MessageSpec, RecordingOutcome
    from callcenter.stt.api import LiveText

    services = live_server.services
    asked: list[str | None] = []

    async def nearby(suggested: Any) -> list[dict[str, Any]]:
        asked.append(suggested.get("house"))
        return [{"number": f"house-{suggested.get('house')}"}]

    live = LiveTranscripts(services.speech, services.hub, nearby=nearby, nearby_interval=3600.0)
    call = live(MessageSpec(path=tmp_path / "t.wav", call_uniqueid="throttle.1", phone=CALLER))
    assert call is not None
    with HubWatch(services, lambda m: m.get("type") == "voice_live" and m["call_uniqueid"] == "throttle.1") as watch:
        call._update(LiveText(HEATING, "", 3.0))
        message = await watch.next(30)
        while not message["nearby"]:
            message = await watch.next(30)
        assert message["nearby"] == [{"number": "house-26"}]
        call._update(LiveText(HEATING + " повторяю улица вакуленчука дом двадцать шесть", "", 5.0))
        await call._drafting
        other = "нет отопления улица вакуленчука дом тридцать"
        call._update(LiveText(other, "", 7.0))  # a new place, within the interval: it waits
        await call._drafting
        assert call._suggestion is not None and call._suggestion["house"] == "30"
        assert asked == ["26"]
        await call.finish(RecordingOutcome(tmp_path / "t.wav", END_DTMF, "#", 8000, False))
        final = await watch.next(30)
        while not final["final"]:
            final = await watch.next(30)
    assert asked == ["26", "30"] and live.nearby_searches == 2
    assert final["nearby"] == [{"number": "house-30"}]

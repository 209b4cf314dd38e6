"""The event hub routes per-user message types by ``user_id`` (issue 19) and fans the rest out."""

from __future__ import annotations

from callcenter.events import EventHub


async def test_routed_types_reach_only_their_user_and_the_unaddressed() -> None:
    hub = EventHub()
    hub.route_by_user("pop")
    asked: list[int] = []

    def counting(uid: int):  # type: ignore[no-untyped-def]
        def accepts(message: dict[str, object]) -> bool:
            asked.append(uid)
            return message.get("type") != "pop" or message.get("user_id") == uid

        return accepts

    sockets = {uid: hub.subscribe(counting(uid), user_id=uid) for uid in range(1, 41)}
    second = hub.subscribe(counting(7), user_id=7)  # the same operator in a second tab
    board = hub.subscribe()  # a consumer that is no user's: sees everything
    hub.publish({"type": "pop", "user_id": 7, "linkedid": "a"})
    assert sorted(asked) == [7, 7]  # two filters asked, not 41
    assert sockets[7].queue.get_nowait()["linkedid"] == "a"
    assert second.queue.get_nowait()["linkedid"] == "a"
    assert board.queue.get_nowait()["linkedid"] == "a"
    assert all(sub.queue.empty() for uid, sub in sockets.items() if uid != 7)

    asked.clear()
    hub.publish({"type": "ticket", "number": "2600001"})  # not routed: every filter decides
    assert len(asked) == 41  # 40 sockets and the second tab
    assert all(sub.queue.get_nowait()["number"] == "2600001" for sub in [*sockets.values(), second])

    hub.publish({"type": "pop", "user_id": 99})  # nobody's: only the unaddressed consumer
    assert board.queue.qsize() == 2 and all(sub.queue.empty() for sub in sockets.values())

    second.close()
    sockets[7].close()
    hub.publish({"type": "pop", "user_id": 7})
    assert hub.subscriber_count == 40  # 39 sockets and the board
    assert second.queue.empty() and sockets[7].queue.empty()


async def test_an_unrouted_hub_keeps_asking_every_filter() -> None:
    hub = EventHub()
    mine = hub.subscribe(lambda m: m.get("user_id") == 1, user_id=1)
    other = hub.subscribe(lambda m: m.get("user_id") == 2, user_id=2)
    hub.publish({"type": "pop", "user_id": 1})
    assert mine.queue.qsize() == 1 and other.queue.empty()

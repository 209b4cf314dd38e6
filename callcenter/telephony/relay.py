"""AMI actions from any instance: a follower's request is done by the AMI leader.

With several instances on one PostgreSQL only the holder of the advisory lock keeps the AMI
link (deploy/several-instances.md), but an operator's browser may be on any instance, and the
escalation job runs on every one. :class:`AmiActions` is what they call instead of the link:

* where the local link is connected (one instance, or the leader) it is used directly;
* elsewhere, with ``relay`` on (PostgreSQL), the request goes out on the event hub, which the
  bridge carries to every instance as ``NOTIFY``; the instance whose link is connected sends
  "accepted" at once, does it, and sends the result back the same way.

A request nobody accepts within ``accept_timeout`` s (no leader: a failover under way, Asterisk
down) is answered as not sent, and carries a deadline so that a leader who sees it later
refuses it instead of dialling after the operator was told nothing was dialled. Idempotency
stays where it was: the link's originate ledger by request id, the calls table's claim.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from typing import Any

from callcenter.domain.calls import OriginateOutcome, OriginateResult
from callcenter.events import EventHub, Message
from callcenter.tasks import cancel_and_wait, start_task
from callcenter.telephony.ami_link import ActionResult, AmiLink, LinkState
from callcenter.telephony.ami_protocol import AmiError, AmiNotConnected, AmiTimeout
from callcenter.telephony.originate import InvalidOriginate, OriginateRequest

logger = logging.getLogger(__name__)

REQUEST = "ami_relay"
REPLY = "ami_relay_reply"


class AmiActions:
    """``originate`` and ``send_action`` on this instance's link or, over the hub, the leader's."""

    def __init__(
        self,
        link: AmiLink | None,
        hub: EventHub,
        *,
        relay: bool,
        accept_timeout: float = 3.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._link = link
        self._hub = hub
        self._relay = relay and link is not None
        self._accept_timeout = accept_timeout
        self._clock = clock
        self._waiting: dict[str, _Waiting] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self._reader: asyncio.Task[None] | None = None
        self.relayed = 0  # requests this instance sent to the leader
        self.served = 0  # requests this instance did for another

    @property
    def state(self) -> LinkState:
        """DISABLED without AMI; CONNECTED when this instance or (relay on) a leader may act."""
        if self._link is None:
            return LinkState.DISABLED
        if self._link.state is LinkState.CONNECTED or self._relay:
            return LinkState.CONNECTED
        return self._link.state

    async def start(self) -> None:
        if self._relay and self._reader is None:
            subscription = self._hub.subscribe(accepts=_relay_message, maxsize=1024)
            self._reader = start_task(self._read(subscription), name="ami-relay", logger=logger)

    async def close(self) -> None:
        await cancel_and_wait(self._reader, *self._serving)
        self._reader = None
        for waiting in self._waiting.values():
            waiting.fail()
        self._waiting.clear()

    # --- the caller's side -------------------------------------------------------------------

    def _local(self) -> AmiLink | None:
        if self._link is not None and (self._link.state is LinkState.CONNECTED or not self._relay):
            return self._link
        return None

    async def originate(self, request: OriginateRequest, *, timeout: float | None = None) -> OriginateResult:
        link = self._local()
        if link is not None or self._link is None:
            if link is None:
                return OriginateResult(request.request_id, OriginateOutcome.NOT_SENT, detail="AMI is disabled")
            return await link.originate(request, timeout=timeout)
        wait = timeout if timeout is not None else request.ring_timeout + 15.0
        payload = {"request": _request_fields(request), "timeout": timeout}
        try:
            reply = await self._ask("originate", payload, wait)
        except _NotAccepted:
            return OriginateResult(request.request_id, OriginateOutcome.NOT_SENT, detail="no AMI leader answered")
        except TimeoutError:
            return OriginateResult(
                request.request_id,
                OriginateOutcome.TIMED_OUT,
                detail=f"the AMI leader gave no result within {wait:.0f} s",
            )
        return _result(reply, request.request_id)

    async def send_action(
        self, fields: Mapping[str, str | Iterable[str]], *, timeout: float | None = None
    ) -> ActionResult:
        link = self._local()
        if link is not None:
            return await link.send_action(fields, timeout=timeout)
        if self._link is None:
            raise AmiNotConnected("AMI is disabled")
        wait = (timeout or 5.0) + 1.0
        payload = {"fields": {k: v if isinstance(v, str) else list(v) for k, v in fields.items()}, "timeout": timeout}
        try:
            reply = await self._ask("action", payload, wait)
        except _NotAccepted:
            raise AmiNotConnected("no AMI leader answered") from None
        except TimeoutError:
            raise AmiTimeout(f"the AMI leader gave no answer within {wait:.0f} s") from None
        if "error" in reply:
            raise AmiNotConnected(str(reply["error"]))
        return ActionResult(response=dict(reply["response"]))

    async def _ask(self, op: str, payload: dict[str, Any], wait: float) -> dict[str, Any]:
        token = secrets.token_hex(12)
        waiting = _Waiting()
        self._waiting[token] = waiting
        self.relayed += 1
        deadline = self._clock() + self._accept_timeout
        try:
            self._hub.publish({"type": REQUEST, "id": token, "op": op, "deadline": deadline, **payload})
            try:
                await asyncio.wait_for(asyncio.shield(waiting.accepted), self._accept_timeout)
            except TimeoutError:
                raise _NotAccepted from None
            return await asyncio.wait_for(asyncio.shield(waiting.done), wait)
        finally:
            self._waiting.pop(token, None)
            waiting.fail()

    # --- the leader's side -------------------------------------------------------------------

    async def _read(self, subscription: Any) -> None:
        with subscription:
            while True:
                message = await subscription.get()
                if message["type"] == REPLY:
                    self._on_reply(message)
                elif self._link is not None and self._link.state is LinkState.CONNECTED:
                    if message.get("id") in self._waiting:
                        continue  # our own request (we lost the link a moment ago): not for us
                    task = start_task(self._serve(message), name=f"ami-relay-{message.get('op')}", logger=logger)
                    self._serving.add(task)
                    task.add_done_callback(self._serving.discard)

    def _on_reply(self, message: Message) -> None:
        waiting = self._waiting.get(str(message.get("id")))
        if waiting is None:
            return
        if message.get("phase") == "accepted":
            waiting.accept()
        else:
            waiting.accept()
            waiting.finish(message.get("result") or {})

    async def _serve(self, message: Message) -> None:
        token = str(message.get("id", ""))
        if not isinstance(message.get("deadline"), (int, float)) or self._clock() > message["deadline"]:
            logger.warning("AMI relay %s %s arrived after its deadline: not done", message.get("op"), token)
            return
        assert self._link is not None
        self._hub.publish({"type": REPLY, "id": token, "phase": "accepted"})
        self.served += 1
        result: dict[str, Any]
        try:
            if message.get("op") == "originate":
                request = _request_from(message["request"])
                outcome = await self._link.originate(request, timeout=message.get("timeout"))
                result = {**asdict(outcome), "outcome": outcome.outcome.value}
            elif message.get("op") == "action":
                answer = await self._link.send_action(message["fields"], timeout=message.get("timeout"))
                result = {"response": answer.response}
            else:
                result = {"error": f"unknown relay operation {message.get('op')!r}"}
        except (AmiError, InvalidOriginate, KeyError, TypeError, ValueError) as err:
            result = {"error": str(err) or type(err).__name__}
        self._hub.publish({"type": REPLY, "id": token, "phase": "done", "result": result})


class _NotAccepted(Exception):
    """No instance with an AMI link took the request in time."""


class _Waiting:
    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.accepted: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[dict[str, Any]] = loop.create_future()

    def accept(self) -> None:
        if not self.accepted.done():
            self.accepted.set_result(None)

    def finish(self, result: dict[str, Any]) -> None:
        if not self.done.done():
            self.done.set_result(result)

    def fail(self) -> None:
        for future in (self.accepted, self.done):
            if not future.done():
                future.cancel()


def _relay_message(message: Message) -> bool:
    return message.get("type") in (REQUEST, REPLY)


def _request_fields(request: OriginateRequest) -> dict[str, Any]:
    fields = asdict(request)
    fields["variables"] = [list(pair) for pair in request.variables]
    return fields


def _request_from(fields: Mapping[str, Any]) -> OriginateRequest:
    values = dict(fields)
    values["variables"] = tuple((str(k), str(v)) for k, v in values.get("variables", ()))
    return OriginateRequest(**values)  # its checks run again here: the leader trusts no message


def _result(reply: Mapping[str, Any], request_id: str) -> OriginateResult:
    if "error" in reply or "outcome" not in reply:
        return OriginateResult(request_id, OriginateOutcome.REJECTED, detail=str(reply.get("error", "no result")))
    return OriginateResult(
        request_id=request_id,
        outcome=OriginateOutcome(reply["outcome"]),
        reason=reply.get("reason"),
        uniqueid=reply.get("uniqueid"),
        channel=reply.get("channel"),
        detail=str(reply.get("detail", "")),
        repeated=bool(reply.get("repeated", False)),
    )

"""The dialplan in asterisk-config/extensions.conf and callcenter/ivr/channel_vars.py agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callcenter.ivr import channel_vars as cv

EXTENSIONS = Path(__file__).resolve().parents[2] / "asterisk-config" / "extensions.conf"


def dialplan_lines() -> list[str]:
    """extensions.conf without comments (a ';' starts one) and blank lines."""
    lines = [line.split(";", 1)[0].rstrip() for line in EXTENSIONS.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line.strip()]


def variable_names(lines: list[str]) -> set[str]:
    """Names read as ${NAME} or ${NAME(...)} and names written by Set(NAME=...) / Set(NAME(...)=...)."""
    text = "\n".join(lines)
    read = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text)
    written = re.findall(r"\bSet\(([A-Za-z_][A-Za-z0-9_]*)", text)
    return set(read) | set(written)


def test_the_parser_sees_names() -> None:
    names = variable_names(["exten => s,1,Set(FOO(x)=${BAR})", ' same => n,GotoIf($["${BAZ(y)}" = "1"]?q)'])
    assert names == {"FOO", "BAR", "BAZ"}


def test_every_dialplan_variable_is_in_channel_vars() -> None:
    names = variable_names(dialplan_lines())
    assert {cv.IVR_ROUTE, cv.TICKET_ID, cv.CALLBACK_ID, cv.CALLBACK_RESULT} <= names
    assert sorted(names - cv.ALL_VARIABLE_NAMES) == []


def test_every_agi_script_is_known() -> None:
    scripts = re.findall(r"AGI\(agi://[^/)]+/([^?,)]+)", "\n".join(dialplan_lines()))
    assert sorted(set(scripts)) == sorted(cv.SCRIPTS)


@pytest.mark.parametrize(
    ("context", "exten"), [(cv.CONTEXT_HOTLINE, cv.HOTLINE_EXTEN), (cv.CONTEXT_CALLBACK, cv.CALLBACK_EXTEN)]
)
def test_contexts_route_operator_to_the_queue(context: str, exten: str) -> None:
    text = "\n".join(dialplan_lines())
    body = re.search(rf"^\[{context}\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
    assert body is not None, f"[{context}] missing"
    assert f"exten => {exten},1," in body.group(1)
    assert f'$["${{{cv.IVR_ROUTE}}}" = "{cv.ROUTE_OPERATOR}"]' in body.group(1)
    assert f"Queue({cv.QUEUE_HOTLINE}," in body.group(1)


def test_channel_vars_names_are_unique() -> None:
    assert len(set(cv.OUR_VARIABLES)) == len(cv.OUR_VARIABLES)
    assert len(set(cv.CALLBACK_OUTCOMES)) == len(cv.CALLBACK_OUTCOMES)

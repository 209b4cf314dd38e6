"""Typed keys for what middlewares put on a request."""

from __future__ import annotations

from aiohttp import web

from callcenter.accounts.users import UserView

CURRENT_USER = web.RequestKey("current_user", UserView)

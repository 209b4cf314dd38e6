"""The citizens' portal feature: the request form, tracking, the public map, duplicate search.

Its routes are added by :func:`callcenter.portal.web.setup`, kept beside the handlers."""

from __future__ import annotations

from callcenter.features import Feature
from callcenter.portal.web import setup

FEATURE = Feature("portal", setup)

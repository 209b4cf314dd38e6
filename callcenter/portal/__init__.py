"""The citizens' portal: request form with photos and a map point, tracking, the public map,
duplicate search. Mounted by :func:`callcenter.portal.web.setup` (listed in ``default_features``)."""

from callcenter.portal.duplicates import DuplicateCandidate, DuplicateFinder, DuplicateReport, duplicates_of
from callcenter.portal.web import photo_urls, setup

__all__ = ["DuplicateCandidate", "DuplicateFinder", "DuplicateReport", "duplicates_of", "photo_urls", "setup"]

"""The citizens' portal: request form with photos and a map point, tracking, the public map,
duplicate search. Joins the app through ``callcenter.portal.feature.FEATURE``; other features
import only ``callcenter.portal.api``."""

from callcenter.portal.duplicates import DuplicateCandidate, DuplicateFinder, DuplicateReport, duplicates_of

__all__ = ["DuplicateCandidate", "DuplicateFinder", "DuplicateReport", "duplicates_of"]

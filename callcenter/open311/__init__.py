"""Open311 GeoReport v2 at ``/open311/v2/`` (see docs/open311.md). Joins the app through
``callcenter.open311.feature.FEATURE`` (endpoints and the ``open311-key`` command)."""

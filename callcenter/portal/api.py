"""The portal feature's public module: what other features may import (Open311 shares the
city's bounds, distances, the public coordinate and the public address with the portal)."""

from callcenter.portal.geo import haversine_m, in_city, public_coordinate
from callcenter.portal.public import public_address

__all__ = ["haversine_m", "in_city", "public_address", "public_coordinate"]

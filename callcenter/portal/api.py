"""The portal feature's public module: what other features may import (Open311 shares the
city's bounds, distances, the public coordinate and the public address with the portal; the
notifications feature's answer page and the staff's «Выполнено» reuse the photo decoder, the photo
store and the form reader;
the composition root hands the live transcript the duplicates search)."""

from callcenter.portal.duplicates import NearbyOpenTickets
from callcenter.portal.geo import haversine_m, in_city, public_coordinate
from callcenter.portal.multipart import read_form
from callcenter.portal.photos import PhotoDecoder, PhotoLimits, check_size, clean_photo_and_trim
from callcenter.portal.public import public_address
from callcenter.portal.uploads import PhotoStore, StoredPhoto

__all__ = [
    "NearbyOpenTickets",
    "PhotoDecoder",
    "PhotoLimits",
    "PhotoStore",
    "StoredPhoto",
    "check_size",
    "clean_photo_and_trim",
    "haversine_m",
    "in_city",
    "public_address",
    "public_coordinate",
    "read_form",
]

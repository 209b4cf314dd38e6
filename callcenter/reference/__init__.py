"""Reference data of the 1563 service (executors, categories, streets) and an offline geocoder.

Public API::

    data = load_reference()            # or load_reference(Path("/etc/callcenter/reference"))
    data.category("water_leak").department
    gazetteer = Gazetteer(data.streets)  # optionally Gazetteer(streets, morph=MorphAnalyzer())
    gazetteer.geocode("ул. Ленина, д. 5, кв. 12")
"""

from callcenter.reference.geocode import Gazetteer, GeocodeResult
from callcenter.reference.loader import (
    CATEGORIES_FILE,
    DEPARTMENT_KIND_LABELS,
    DEPARTMENTS_FILE,
    DISTRICTS,
    STREETS_FILE,
    Category,
    Department,
    ReferenceData,
    ReferenceError,
    Street,
    department_kind_label,
    load_reference,
)

__all__ = [
    "CATEGORIES_FILE",
    "DEPARTMENT_KIND_LABELS",
    "department_kind_label",
    "DEPARTMENTS_FILE",
    "DISTRICTS",
    "STREETS_FILE",
    "Category",
    "Department",
    "Gazetteer",
    "GeocodeResult",
    "ReferenceData",
    "ReferenceError",
    "Street",
    "load_reference",
]

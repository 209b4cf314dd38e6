"""Web templates and static files (installed as a data package)."""

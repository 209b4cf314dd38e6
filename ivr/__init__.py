"""IVR menu definitions and prompt texts (installed as a data package)."""

"""Outage incidents: known outages announced in the IVR, callers joined to a master ticket, called back when fixed."""

"""Automatic callbacks after a ticket is done: planning, dispatching, outcomes, the boards.

The feature joins the app through ``callcenter.callbacks.feature.FEATURE``; other features and
the composition root import only ``callcenter.callbacks.api`` (the IVR's satisfaction script
reports to ``services.callbacks.outcomes``).
"""

"""Telephony: the AMI link, the call tracker, originate, and their wiring into the product.

The feature joins the app through ``callcenter.telephony.feature.FEATURE``; other features and
the composition root import only ``callcenter.telephony.api``.
"""

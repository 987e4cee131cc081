"""Genesys Cloud as a source platform: extractors, permission table, simulator.

``platform`` (``PLATFORM``, the registry's entry: feeds, permission table, ``open_source``),
``feeds`` (each domain's mapper and extractor on Genesys Cloud), ``jobs`` (Telephony: analytics
conversation-details async jobs), ``evaluations`` (Quality: evaluation search), ``schedules``
(WFM: published schedule search), ``permissions`` (which permission a refused path needs),
``simulator`` (a local Genesys Cloud). Requests go through the platform-neutral ``producer.api``
client; the mappers live with their domain in ``domains/``.
"""

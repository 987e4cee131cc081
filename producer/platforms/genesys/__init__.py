"""Genesys Cloud as a source platform: extractors, permission table, simulator.

``jobs`` (Telephony: analytics conversation-details async jobs), ``evaluations`` (Quality:
evaluation search), ``schedules`` (WFM: published schedule search), ``permissions`` (which
permission a refused path needs), ``simulator`` (a local Genesys Cloud). Requests go through the
platform-neutral ``producer.api`` client; the mappers live with their domain in ``domains/``.
"""

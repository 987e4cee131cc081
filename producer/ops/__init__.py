"""Operator tools around the lake: not steps of a window, but commands a person runs.

``audit`` (``lake audit``: recount a product and compare it with its checkpoint), ``replay``
(``dlq replay``: move dead letters that now pass into their window), ``dlq_commands`` (the
command line of both), ``status`` (``status``: where each domain is, from the lake alone),
``backfill`` (``backfill``: re-export a chosen range of landed windows).
"""

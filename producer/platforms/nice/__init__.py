"""NICE CXone as a source platform: auth and discovery, extractors, mappers, simulator.

``auth`` (access-key grant through the shared token lifecycle, API base discovery),
``contacts`` (Telephony: Reporting API completed contacts), ``extraction`` (Quality: Data
Extraction jobs for QM workflows), ``map_telephony``/``map_quality`` (records -> the existing
contracts), ``registry`` (which domains CXone feeds: not WFM), ``simulator`` (a local CXone).
Facts and their sources: ``docs/nice.md``.
"""

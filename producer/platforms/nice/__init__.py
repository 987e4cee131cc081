"""NICE CXone as a source platform: auth and discovery, extractors, simulator.

``platform`` (``PLATFORM``, the registry's entry), ``wiring`` (a domain's CXone source and the
tenant gates), ``auth`` (access-key grant through the shared token lifecycle, API base discovery),
``contacts`` (Telephony: Reporting API completed contacts), ``extraction`` (Quality: Data
Extraction jobs for QM workflows), ``registry`` (which domains CXone feeds: not WFM),
``simulator`` (a local CXone). The mappers live with their domain: ``domains/*/nice.py``.
Facts and their sources: ``docs/nice.md``.
"""

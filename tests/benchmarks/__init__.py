"""Benchmarks: run by hand (``python -m tests.benchmarks.<name>``), never collected by pytest.

``perf`` measures the producer's CPU per record, memory, and behaviour at the API limit;
``burst`` runs three domains against a shared budget below their demand.
"""

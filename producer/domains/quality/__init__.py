"""Step 3 (map) for Quality: one mapper module per source platform, owned by the domain team.

``genesys`` (quality evaluations) and ``nice`` (CXone QM workflows): each turns a source object
into a contract record or a rejection. The registry (``producer.domains``) wires them into the
flow.
"""

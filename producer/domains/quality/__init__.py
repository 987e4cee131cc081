"""Step 3 (map) for Quality: one mapper module per source platform, owned by the domain team.

``genesys`` (quality evaluations) and ``nice`` (CXone QM workflows): each turns a source object
into a contract record or a rejection; ``spec`` declares what the domain plugs into the flow,
and the registry (``producer.domains``) looks it up.
"""

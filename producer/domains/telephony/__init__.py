"""Step 3 (map) for Telephony: one mapper module per source platform, owned by the domain team.

``genesys`` (analytics conversation details) and ``nice`` (CXone completed contacts): each turns
a source object into a contract record or a rejection; ``spec`` declares what the domain plugs
into the flow, and the registry (``producer.domains``) looks it up.
"""

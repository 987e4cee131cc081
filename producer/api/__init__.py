"""Step 2 (extract), platform-neutral: the request path every platform's extractors use.

``client`` (``ApiClient``: limiter, bearer token, ``x-priority``, send, decide), ``retry``
(``RetryPolicy``, ``Retry-After`` parsing) and ``pages`` (the shape rules an answer is checked
against). Both Genesys Cloud (``platforms/genesys``) and NICE CXone (``platforms/nice``) build on
it; nothing here knows a platform's paths or records.
"""

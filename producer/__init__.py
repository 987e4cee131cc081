"""ccaas-mesh-producer: contact-center domains as independent data products in a lake.

One window of one domain flows top to bottom (each step names its module)::

    plan       windows.py            next closed window after the checkpoint, up to availability
    extract    source/client.py      ApiClient: limiter, bearer token, x-priority, retries, 401
               auth.py               TokenManager: client-credentials grant, refresh ahead
               ratelimit.py          DomainLimiter: the domain's own quota, Retry-After pauses
               source/jobs.py        analytics async jobs (Telephony)
    map        domains/telephony.py  source conversation -> contract record, or a rejection
    validate   contracts/            versioned JSON Schema, compiled once
    write      lake/                 gzip NDJSON parts with deterministic keys; DLQ parts
    commit     checkpoint.py         watermark advanced by compare-and-swap, after the data

``worker.py`` runs those steps per window, ``daemon.py`` wires one worker per domain (the
composition root), ``cli.py`` is the command line, ``telemetry/`` the metrics and health port.
"""

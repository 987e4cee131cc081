"""ccaas-mesh-producer: contact-center domains as independent data products in a lake.

One window of one domain flows top to bottom (each step names its module)::

    plan       windows.py            planners: consecutive windows up to availability, or weekly
                                     snapshots; worker.py adds re-sweeps of recent windows
    extract    api/client.py         ApiClient: limiter, bearer token, x-priority, retries, 401
               auth/                 TokenManager: client-credentials grant, refresh ahead
               ratelimit.py          DomainLimiter: own quota, Retry-After pauses, adaptive rate
               budget.py             PriorityBudget: org-wide budget served by priority
               platforms/genesys/    jobs.py (Telephony), evaluations.py, schedules.py (Quality,
                                     WFM), simulator/; platforms/nice/ the same for CXone
    map        domains/              one mapper per domain: source object -> record or rejection
               routing.py            window membership, de-duplication, map + validate per object
    validate   contracts/            versioned JSON Schema, compiled once; compat gate, registry
    write      lake/                 gzip NDJSON parts with deterministic keys; DLQ parts
               catalog/              the contract registry in the lake, subscriptions, readers
    commit     checkpoint.py         watermark advanced by compare-and-swap, after the data

``worker.py`` runs those steps per window, ``daemon.py`` wires one worker per domain (the
composition root), ``cli.py`` is the command line, ``telemetry/`` the metrics, health and admin
port, ``alerts.py`` the dead-letter webhook; ``ops/`` (audit, replay, status, backfill),
``catalog/consumer.py`` and ``governance/`` serve operators and consumers around the lake.
"""

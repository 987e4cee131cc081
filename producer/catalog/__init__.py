"""Step 5, beside the lake: the data products' contracts as consumers find them in the lake.

``publish.py`` (the registry: published versions, consumers' subscriptions), ``migration.py``
(who still reads an older major, beside a worker) and ``consumer.py`` (the consumer library).
They read and write through a ``lake`` store and use the ``contracts`` rules, so they sit above
both; the command line that drives them is ``ops/contracts_commands.py``.
"""

"""``python -m producer`` is ``mesh-producer``."""

from producer.cli import main

raise SystemExit(main())

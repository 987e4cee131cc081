"""Source platforms: one folder per contact-center platform (its client, extractors, simulator)."""

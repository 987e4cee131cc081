"""Step 5b, the event output port: contract-valid records published to a message bus."""

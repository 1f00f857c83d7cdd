"""Code shared by all QuoteFlow services: events, topics, settings, broker, store, telemetry."""

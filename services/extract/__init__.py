"""Extract: key facts, summary and tags from a normalized thread (rules or LLM engine)."""

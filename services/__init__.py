"""The four QuoteFlow services and the `quoteflow` command line."""

"""Commands that span services (above them, like the CLI): ``quoteflow extract`` reads mail as ingest does and
extracts as extract does, without a broker."""

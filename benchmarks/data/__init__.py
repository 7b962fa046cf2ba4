"""Generated evaluation data: PII and clean corpora, semantic-cache stress pairs."""

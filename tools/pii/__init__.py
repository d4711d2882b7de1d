"""The PII family: ``scan_pii`` with its Presidio engine, recognizers (secrets included) and redaction."""

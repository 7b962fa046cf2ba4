"""PII detectors behind `router.privacy`: validators, candidate patterns, phone numbers."""

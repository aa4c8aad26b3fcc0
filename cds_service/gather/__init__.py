"""Gathering the patient's FHIR data: what the client prefetched, and what the service must fetch itself."""

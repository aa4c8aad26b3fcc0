"""Imatinib CDS Hooks service.

The flow, one package per step: a CDS Hooks request comes in (`cds_service.protocol`, `hooks`), the patient's FHIR
data is gathered from prefetch or the FHIR server (`cds_service.gather`), facts are extracted from it
(`cds_service.facts`), rules built on the knowledge base (`cds_service.knowledge`) turn facts into cards
(`cds_service.rules`), and the cards go back (`cds_service.protocol.cards`).
"""

__version__ = "0.1.0"

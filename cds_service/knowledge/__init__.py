"""The clinical knowledge base: versioned data files with sources, validated once at start-up."""

from cds_service.knowledge.loader import Knowledge, KnowledgeError, load_knowledge

__all__ = ["Knowledge", "KnowledgeError", "load_knowledge"]

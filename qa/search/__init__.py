"""Retrieval: hybrid dense + lexical search, fusion and re-ranking."""

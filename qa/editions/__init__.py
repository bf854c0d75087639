"""Editions in: OCR page text and article JSONL parsed into Articles, Articles cut into passages."""

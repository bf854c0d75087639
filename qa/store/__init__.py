"""Passages and their index: SQLite + FTS5, the lexical terms, FAISS vectors, the index folder."""

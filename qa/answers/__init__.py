"""Answers read from the retrieved passages, follow-up questions and conversations."""

"""Errors raised by edition-qa; each message tells the user what to do next."""

from __future__ import annotations


class QAError(Exception):
    """Base class: anything the user can fix. The CLI prints it as one line and exits 1."""


class InputError(QAError):
    """An edition or question file that cannot be read or understood."""


class QuestionError(QAError):
    """A question that cannot be asked (empty, or not text)."""


class ModelError(QAError):
    """An embedding model that cannot be found, materialized or loaded."""


class IndexFormatError(QAError):
    """An index folder that is missing, corrupt, or built with other settings."""


class StoreUnavailableError(QAError):
    """An index store (a Milvus server) that cannot be reached or did not answer in time."""


__all__ = ["QAError", "InputError", "QuestionError", "ModelError", "IndexFormatError",
           "StoreUnavailableError"]

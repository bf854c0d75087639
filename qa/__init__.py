"""edition-qa: ask questions of a newspaper edition, get cited extracts."""

from qa.errors import IndexFormatError, InputError, ModelError, QAError, QuestionError
from qa.types import Answer, Article, Citation, Hit, Passage

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Article",
    "Citation",
    "Hit",
    "IndexFormatError",
    "InputError",
    "ModelError",
    "Passage",
    "QAError",
    "QuestionError",
    "__version__",
]

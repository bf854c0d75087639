"""edition-qa: ask questions of a newspaper edition, get cited extracts."""

from qa.answer import ask
from qa.chat import Conversation, resolve_question
from qa.edition import load_edition, parse_page
from qa.embed import Embedder, get_embedder
from qa.errors import IndexFormatError, InputError, ModelError, QAError, QuestionError
from qa.index import Index, default_index
from qa.retrieve import retrieve
from qa.types import Answer, Article, Citation, Hit, Passage

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Article",
    "Citation",
    "Conversation",
    "Embedder",
    "Hit",
    "Index",
    "IndexFormatError",
    "InputError",
    "ModelError",
    "Passage",
    "QAError",
    "QuestionError",
    "__version__",
    "ask",
    "default_index",
    "get_embedder",
    "load_edition",
    "parse_page",
    "resolve_question",
    "retrieve",
]

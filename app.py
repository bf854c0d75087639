"""Chat UI over an edition: `python app.py [--host H] [--port P] [--index DIR]`.

Serves on http://127.0.0.1:7860 by default, building the sample index when it is missing.
The app itself lives in `qa.app.ui` (so `edition-qa serve` works from an installed package).
"""

from qa.app.ui import build_app, main, serve

__all__ = ["build_app", "main", "serve"]

if __name__ == "__main__":
    raise SystemExit(main())

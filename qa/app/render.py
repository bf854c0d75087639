"""Answers as the surfaces show them: HTML for the chat UI (answers, citations, the source panel,
the retrieved-passages table), and the JSON and plain-text forms of the CLI and the API.

Pure functions from `qa.types` values to HTML strings. Every piece of edition or question
text goes through `escape` before it becomes HTML, so an edition that contains `<script>`
shows it as text. Chat messages are single-line HTML blocks: the chatbot's Markdown renderer
passes an HTML block through untouched only while it has no blank line, and an indented line
would become a code block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qa.types import Answer, Article, Citation, Hit

MAX_QUESTION_CHARS = 1000
SOURCE_MARK_ID = "qa-source-mark"  # the source panel scrolls this element into view
# The styles of the classes used below (the UI passes them to Gradio's launch).
CSS = """
.qa-answer p { margin: 0.25em 0; }
.qa-short { font-weight: 600; font-size: 1.1em; }
.qa-english { margin: 0.1em 0; color: #495057; }
.qa-resolved, .qa-note, .qa-confidence, .qa-notice { font-size: 0.88em; opacity: 0.8; }
.qa-none { font-weight: 600; }
.qa-cites { margin: 0.3em 0 0.2em 0; padding-left: 1.4em; }
.qa-cites blockquote.qa-extract { margin: 0.2em 0; padding: 0.2em 0.6em; border-left: 3px solid #d0a000; }
.qa-cite { font-size: 0.86em; opacity: 0.85; }
.qa-cites li { cursor: pointer; }
.qa-meta { opacity: 0.8; }
mark { background: #ffe066; color: inherit; padding: 0 1px; }
#qa-source .qa-source-body { max-height: 62vh; overflow-y: auto; padding-right: 0.5em; }
#qa-source mark.qa-extract { background: #fff3bf; }
#qa-source mark.qa-span { background: #ffc078; }
#qa-source .qa-headline { margin: 0.2em 0; }
#qa-source .qa-kicker, #qa-source .qa-subhead, #qa-source .qa-source-tag { font-size: 0.9em; opacity: 0.8; margin: 0.1em 0; }
table.qa-hits { font-size: 0.85em; border-collapse: collapse; width: 100%; }
.qa-add-error { color: #c92a2a; margin: 0.1em 0; } .qa-add-ok { color: #2b8a3e; margin: 0.1em 0; }
table.qa-hits td, table.qa-hits th { border-bottom: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
"""

# Markdown and LaTeX triggers; as entities they display the same but never format.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
             "*": "&#42;", "_": "&#95;", "`": "&#96;", "~": "&#126;", "$": "&#36;",
             "[": "&#91;", "]": "&#93;", "\\": "&#92;", "|": "&#124;", "#": "&#35;",
             "\n": "<br>", "\r": ""}


def escape(text: str) -> str:
    """Text as inert HTML: tags, quotes, Markdown/LaTeX characters and newlines neutralized."""
    return "".join(_ENTITIES.get(ch, ch) for ch in str(text))


def is_english(question: str) -> bool:
    """True for a question in English (code-switched included: `qa.language.translate.question_language`)."""
    from qa.language.translate import question_language

    return question_language(question) == "en"


def clip_question(question: str, *, limit: int = MAX_QUESTION_CHARS) -> tuple[str, bool]:
    """The question stripped and cut to `limit` characters; the flag says whether it was cut."""
    text = (question or "").strip()
    if len(text) <= limit:
        return text, False
    return text[:limit], True


def _valid_span(span: tuple[int, int] | None, length: int) -> tuple[int, int] | None:
    if span is None:
        return None
    s, e = int(span[0]), int(span[1])
    return (s, e) if 0 <= s < e <= length else None


def mark_extract(extract: str, highlight: tuple[int, int] | None) -> str:
    """The extract escaped, with the highlight span (offsets into `extract`) in `<mark>`."""
    span = _valid_span(highlight, len(extract))
    if span is None:
        return escape(extract)
    s, e = span
    return f"{escape(extract[:s])}<mark>{escape(extract[s:e])}</mark>{escape(extract[e:])}"


def article_meta(article: Article) -> str:
    """Byline, date and page of an article, escaped, joined with middle dots."""
    parts = [escape(" ".join(article.byline))] if article.byline else []
    if article.date:
        parts.append(escape(article.date))
    if article.page:
        parts.append(f"page {int(article.page)}")
    return " · ".join(parts)


def citation_label(citation: Citation, *, lead: int = 14) -> str:
    """Plain-text label for the citation picker: "[n] title: start of the extract…"."""
    text = " ".join(citation.extract.split())
    start = text[:lead] + ("…" if len(text) > lead else "")
    return f"[{citation.n}] {citation.article.title}: {start}" if start else f"[{citation.n}] {citation.article.title}"


def _cite_line(n: int, article: Article) -> str:
    meta = article_meta(article)
    meta_html = f' <span class="qa-meta">{meta}</span>' if meta else ""
    return (f'<div class="qa-cite"><span class="qa-n">[{int(n)}]</span> '
            f'<b class="qa-title">{escape(article.title)}</b>{meta_html}</div>')


def render_question(question: str) -> str:
    """The user's question as a chat bubble."""
    return f'<div class="qa-question">{escape(question)}</div>'


def render_notice(text: str) -> str:
    """A short system message (a prompt, a cut notice, an error) for the chat."""
    return f'<div class="qa-answer"><p class="qa-notice">{escape(text)}</p></div>'


def related_reading(answer: Answer, *, limit: int = 3) -> list[tuple[int, Article, str]]:
    """(n, article, text) of the passages to list as related reading when there is no answer."""
    if answer.citations:
        return [(c.n, c.article, c.extract) for c in answer.citations[:limit]]
    items = []
    for i, hit in enumerate(answer.hits[:limit], start=1):
        text = hit.passage.text
        items.append((i, hit.article, text[:200] + ("…" if len(text) > 200 else "")))
    return items


def render_answer(answer: Answer, *, notices: Sequence[str] = ()) -> str:
    """One chat message: resolved question, short answer, cited extracts with the span marked.

    When `answer.no_answer` is set it says so plainly and lists the closest passages as related
    reading, without marking anything in them.
    """
    parts = ['<div class="qa-answer">']
    for notice in notices:
        parts.append(f'<p class="qa-notice">{escape(notice)}</p>')
    if answer.resolved_question and answer.resolved_question.strip() != answer.question.strip():
        parts.append(f'<p class="qa-resolved">Understood as: <q>{escape(answer.resolved_question)}</q></p>')
    if answer.no_answer:
        parts.append('<p class="qa-none">The edition does not answer this question.</p>')
        related = related_reading(answer)
        if related:
            parts.append('<p class="qa-related-head">Closest passages, as related reading:</p><ol class="qa-cites qa-related">')
            for n, article, text in related:
                parts.append(f'<li><blockquote class="qa-extract">{escape(text)}</blockquote>{_cite_line(n, article)}</li>')
            parts.append("</ol>")
    else:
        if answer.short_answer:
            parts.append(f'<p class="qa-short">{escape(answer.short_answer)}</p>')
            if answer.english:
                parts.append(f'<p class="qa-english">In English: {escape(answer.english)}</p>')
        parts.append('<ol class="qa-cites">')
        for c in answer.citations:
            parts.append(f'<li><blockquote class="qa-extract">{mark_extract(c.extract, c.highlight)}</blockquote>{_cite_line(c.n, c.article)}</li>')
        parts.append("</ol>")
        if not answer.citations:
            parts.append('<p class="qa-none">No passage of the edition matched.</p>')
    if is_english(answer.question):
        read_as = (f'; the question was read with its dictionary terms: <q>{escape(answer.reading)}</q>'
                   if answer.reading else "")
        parts.append(f'<p class="qa-note">Extracts are quoted in Chinese, as printed in the edition{read_as}.</p>')
    if not answer.no_answer and answer.citations:
        parts.append(f'<p class="qa-confidence">confidence {answer.confidence:.2f}</p>')
    parts.append("</div>")
    return "".join(parts)


def _locate(article: Article, start: int, end: int, extract: str) -> tuple[int, int] | None:
    """Offsets of the extract in the body: the given ones when they match, else a search."""
    body = article.body
    if 0 <= start < end <= len(body) and (not extract or body[start:end] == extract):
        return start, end
    if extract:
        found = body.find(extract)
        if found >= 0:
            return found, found + len(extract)
    return None


def _marked_body(body: str, extract: tuple[int, int] | None, span: tuple[int, int] | None) -> str:
    """Body paragraphs as <p>, the extract in <mark class="qa-extract">, the span also qa-span."""
    cuts = {0, len(body)}
    for rng in (extract, span):
        if rng:
            cuts.update(rng)
    out = []
    first_mark = True
    pos = 0
    for para in body.split("\n"):
        p_start, p_end = pos, pos + len(para)
        pos = p_end + 1
        if not para.strip():
            continue
        points = sorted({p_start, p_end} | {c for c in cuts if p_start < c < p_end})
        segs = []
        for a, b in zip(points, points[1:]):
            text = escape(body[a:b])
            in_extract = extract is not None and extract[0] <= a < extract[1]
            if not in_extract:
                segs.append(text)
                continue
            in_span = span is not None and span[0] <= a < span[1]
            cls = "qa-extract qa-span" if in_span else "qa-extract"
            ident = f' id="{SOURCE_MARK_ID}"' if first_mark else ""
            first_mark = False
            segs.append(f'<mark class="{cls}"{ident}>{text}</mark>')
        out.append(f"<p>{''.join(segs)}</p>")
    return "".join(out)


def render_source(citation: Citation | None, *, related: bool = False) -> str:
    """The cited article in full, the extract highlighted (id `SOURCE_MARK_ID`) for scrolling."""
    if citation is None:
        return '<div class="qa-source qa-source-empty"><p>Ask a question; the cited article opens here.</p></div>'
    article = citation.article
    located = _locate(article, citation.start, citation.end, citation.extract)
    span = None
    if located and not related:
        hl = _valid_span(citation.highlight, located[1] - located[0])
        span = (located[0] + hl[0], located[0] + hl[1]) if hl else None
    head = [f'<div class="qa-source" data-article="{escape(article.id)}">']
    tag = "Related reading" if related else "Source"
    head.append(f'<p class="qa-source-tag">{tag} [{int(citation.n)}]</p>')
    if article.kicker:
        head.append(f'<p class="qa-kicker">{escape(article.kicker)}</p>')
    head.append(f'<h3 class="qa-headline">{escape(article.title)}</h3>')
    for sub in article.subheads[:3]:
        head.append(f'<p class="qa-subhead">{escape(sub)}</p>')
    meta = article_meta(article)
    if meta:
        head.append(f'<p class="qa-meta">{meta}</p>')
    if located is None and citation.extract:
        head.append(f'<blockquote class="qa-extract">{mark_extract(citation.extract, citation.highlight)}</blockquote>')
    head.append(f'<div class="qa-source-body">{_marked_body(article.body, located, span)}</div>')
    if article.continued_to:
        head.append(f'<p class="qa-continued">Continued on {escape(article.continued_to)}.</p>')
    head.append("</div>")
    return "".join(head)


def source_citations(answer: Answer) -> list[Citation]:
    """The citations the source panel can show: the answer's, or related reading from hits."""
    if answer.citations:
        return list(answer.citations)
    return [Citation(i, h.article, h.passage.text, h.passage.start, h.passage.end)
            for i, h in enumerate(answer.hits[:3], start=1)]


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def render_hits(hits: Sequence[Hit]) -> str:
    """The retrieved passages as a table: rank, fused, dense and lexical scores, article, text."""
    if not hits:
        return '<p class="qa-hits-empty">No passages retrieved yet.</p>'
    rows = ['<table class="qa-hits"><thead><tr><th>#</th><th>fused</th><th>dense</th>'
            '<th>lexical</th><th>article</th><th>passage</th></tr></thead><tbody>']
    for h in hits:
        text = h.passage.text
        short = text[:160] + ("…" if len(text) > 160 else "")
        rows.append(
            f"<tr><td>{int(h.rank)}</td><td>{_score(h.score)}</td><td>{_score(h.dense)}</td>"
            f"<td>{_score(h.lexical)}</td><td>{escape(h.article.title)}</td><td>{escape(short)}</td></tr>"
        )
    rows.append("</tbody></table>")
    return "".join(rows)


# ---- plain forms: the JSON of the CLI and the API, and terminal text ----------------------


def answer_json(answer: Answer) -> dict[str, Any]:
    """The JSON form of an Answer for the CLI and the API (flat citations, no retrieved hits)."""
    return {
        "question": answer.question,
        "resolved_question": answer.resolved_question,
        "reading": answer.reading,
        "short_answer": answer.short_answer,
        "english": answer.english,
        "no_answer": answer.no_answer,
        "confidence": round(answer.confidence, 4),
        "citations": [
            {
                "n": c.n,
                "article_id": c.article.id,
                "headline": c.article.title,
                "byline": list(c.article.byline),
                "date": c.article.date,
                "page": c.article.page,
                "extract": c.extract,
                "start": c.start,
                "end": c.end,
                "highlight": list(c.highlight) if c.highlight else None,
            }
            for c in answer.citations
        ],
    }


def format_answer(answer: Answer) -> str:
    """Plain-text rendering: short answer, then cited extracts with the span in 【】."""
    lines = []
    if answer.resolved_question != answer.question:
        lines.append(f"(understood as: {answer.resolved_question})")
    if answer.no_answer:
        lines.append("The edition does not answer this. Related reading:")
    elif answer.short_answer:
        lines.append(f"Answer: {answer.short_answer}" + (f" ({answer.english})" if answer.english else ""))
    for c in answer.citations:
        text = c.extract
        if c.highlight and not answer.no_answer:
            s, e = c.highlight
            text = f"{text[:s]}【{text[s:e]}】{text[e:]}"
        byline = "，".join(c.article.byline)
        where = " · ".join(x for x in (c.article.title, byline, c.article.date, f"p.{c.article.page}") if x)
        lines.append(f"[{c.n}] {text}")
        lines.append(f"    — {where}")
    lines.append(f"confidence {answer.confidence:.2f}")
    return "\n".join(lines)

"""The archive front page in a real browser (Debian chromium through playwright, as in
test_browser.py): upload an edition and ask about it, read-only serving, the date-range filter."""

from __future__ import annotations

import shutil

import pytest
from test_browser import ask, browser_page, free_port, only_local  # noqa: F401 (browser_page: a fixture)

from qa.app import ui
from qa.paths import sample_editions
from qa.types import Answer, Citation

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

SAMPLE = sample_editions()[0].path
PARK = "青岩刘水上公园今日开园"
NEW_PAGE = (f"{PARK}\n"
            "本报讯 3月5日，义乌青岩刘水上公园正式开园。公园面积12.6公顷，设有亲水步道2.4公里，"
            "园内种植乔木1200余株。\n"
            "市民可免费入园，开放时间为每天6时至22时。\n")


def _serve(index, **kw):
    demo = ui.build_app(index, **kw)
    return demo, ui.launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)


def _served_copy(sample_index_dir, tmp_path):
    """A private copy of the sample index, loaded for serving, and a folder for files to upload."""
    folder = tmp_path / "idx"
    shutil.copytree(sample_index_dir, folder)
    (tmp_path / "files").mkdir()
    return ui.load_index(folder), tmp_path / "files"


def _open(page, selector: str) -> None:
    """Open a closed Gradio accordion by its label."""
    page.locator(f"{selector} > button").first.click()


@pytest.mark.slow
def test_upload_an_edition_then_ask_about_it(sample_index_dir, browser_page, tmp_path):  # noqa: F811
    page, requests = browser_page
    live, files = _served_copy(sample_index_dir, tmp_path)
    good = files / "edition-2021-03-05-p01.txt"
    good.write_text(NEW_PAGE, encoding="utf-8")
    bad = files / "scan-2021-03-05.pdf"
    bad.write_bytes(b"this is no pdf")
    demo, url = _serve(live)
    try:
        page.goto(url)
        page.wait_for_selector("#qa-question textarea")
        assert "2020-11-14 page 1 (8 articles)" in page.locator("#qa-header").inner_text()
        _open(page, "#qa-add")
        page.locator("#qa-add-files input[type=file]").set_input_files([str(good), str(bad)])
        page.wait_for_function("document.querySelectorAll('#qa-add-files tr.file, #qa-add-files .file').length >= 2"
                               " || document.querySelector('#qa-add-files').innerText.includes('scan-2021')",
                               timeout=30_000)
        page.locator("#qa-add-button").click()
        page.wait_for_selector("#qa-add-result .qa-add-ok", timeout=120_000)
        result = page.locator("#qa-add-result")
        assert "added 2021-03-05 p.1" in result.locator(".qa-add-ok").inner_text()
        errors = result.locator(".qa-add-error").all_inner_texts()
        assert len(errors) == 1 and "scan-2021-03-05.pdf is not a PDF" in errors[0] and "\n" not in errors[0]
        assert PARK in result.locator("table").inner_text()
        # the front page follows: header and editions table list the new date
        page.wait_for_function("document.querySelector('#qa-header').innerText.includes('2021-03-05')",
                               timeout=30_000)
        _open(page, "#qa-archive-acc")
        assert "2021-03-05" in page.locator("#qa-archive").inner_text()

        ask(page, "青岩刘水上公园的面积是多少？", timeout=60_000)
        answer = page.locator("#qa-chat [data-testid=bot]").last
        assert any("12.6公顷" in m for m in answer.locator("mark").all_inner_texts())
        assert "2021-03-05" in answer.inner_text()
        assert not only_local(requests), only_local(requests)
    finally:
        demo.close()
        live.current().close()


@pytest.mark.slow
def test_upload_a_scanned_page_then_ask_about_it(sample_index_dir, browser_page, tmp_path):  # noqa: F811
    from qa.editions.parse import parse_page
    from qa.evaluation.pageimage import render_page

    page, requests = browser_page
    live, files = _served_copy(sample_index_dir, tmp_path)
    scan = files / "edition-2021-03-05-p02.jpg"
    articles = parse_page(f"{PARK}\n\n全媒体记者 王婷\n\n" + NEW_PAGE.split("\n", 1)[1], date="2021-03-05", page=2)
    render_page(articles, columns=2).image.save(scan, quality=85)
    demo, url = _serve(live)
    try:
        page.goto(url)
        page.wait_for_selector("#qa-question textarea")
        _open(page, "#qa-add")
        page.locator("#qa-add-files input[type=file]").set_input_files([str(scan)])
        page.wait_for_function("document.querySelector('#qa-add-files').innerText.includes('edition-2021')",
                               timeout=30_000)
        page.locator("#qa-add-button").click()
        page.wait_for_selector("#qa-add-result .qa-add-ok", timeout=120_000)
        result = page.locator("#qa-add-result")
        assert "added 2021-03-05 p.2" in result.locator(".qa-add-ok").inner_text()
        assert PARK in result.locator("table").inner_text()
        page.wait_for_function("document.querySelector('#qa-header').innerText.includes('2021-03-05')",
                               timeout=30_000)
        ask(page, "青岩刘水上公园的面积是多少？", timeout=60_000)
        answer = page.locator("#qa-chat [data-testid=bot]").last
        assert any("12.6公顷" in m.replace(" ", "") for m in answer.locator("mark").all_inner_texts())
        assert "2021-03-05" in answer.inner_text() and PARK in answer.inner_text()
        assert not only_local(requests), only_local(requests)
    finally:
        demo.close()
        live.current().close()


@pytest.fixture
def dated_live(tmp_path, hash_embedder, monkeypatch):
    """A served folder with the sample page on three dates (hash embedder, no model)."""
    import qa.models.embed
    from qa.store.archive import add_editions

    monkeypatch.setattr(qa.models.embed, "get_embedder", lambda model=None: hash_embedder)
    files = []
    for date in ("2020-11-14", "2020-11-20", "2020-12-01"):
        files.append(tmp_path / "in" / f"edition-{date}-p01.txt")
        files[-1].parent.mkdir(exist_ok=True)
        shutil.copyfile(SAMPLE, files[-1])
    add_editions(tmp_path / "idx", files, model=hash_embedder)
    live = ui.load_index(tmp_path / "idx")
    yield live
    live.current().close()


def retrieve_ask(question, *, index, history, date, page, since=None, until=None):
    """The real retrieval (filters included) without the reader: the top hit is cited."""
    from qa.search.retrieve import retrieve

    hits = retrieve(question, k=5, index=index, date=date, page=page, since=since, until=until)
    if not hits:
        return Answer(question, question, no_answer=True)
    h = hits[0]
    cite = Citation(1, h.article, h.passage.text, h.passage.start, h.passage.end, None)
    return Answer(question, question, "", (cite,), 0.9, hits=tuple(hits))


def test_date_range_widgets_filter_and_read_only_has_no_add_panel(dated_live, browser_page, monkeypatch):  # noqa: F811
    monkeypatch.setattr(ui, "_ask", retrieve_ask)
    page, requests = browser_page
    demo, url = _serve(dated_live, read_only=True)
    try:
        page.goto(url)
        page.wait_for_selector("#qa-question textarea")
        assert page.locator("#qa-add").count() == 0 and page.locator("#qa-add-files").count() == 0
        assert "3 editions, 2020-11-14 to 2020-12-01" in page.locator("#qa-header").inner_text()
        since, until = page.locator("#qa-since input").first, page.locator("#qa-until input").first
        since.fill("2020-11-15")
        since.press("Enter")
        until.fill("2020-11-30")
        until.press("Enter")
        ask(page, "美国馆的面积是多少？")
        cited = page.locator("#qa-chat [data-testid=bot]").last.inner_text()
        assert "2020-11-20" in cited and "2020-11-14" not in cited and "2020-12-01" not in cited
        since.fill("2020-11-25")
        since.press("Enter")
        ask(page, "美国馆的面积是多少？")  # 2020-11-25 to 2020-11-30: no edition, no answer
        assert "2020-11-20" not in page.locator("#qa-chat [data-testid=bot]").last.inner_text()
        assert not only_local(requests), only_local(requests)
    finally:
        demo.close()
    demo, url = _serve(dated_live)
    try:
        page.goto(url)
        page.wait_for_selector("#qa-question textarea")
        assert page.locator("#qa-add").count() == 1
    finally:
        demo.close()

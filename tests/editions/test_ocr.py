"""Scanned pages: OCR (RapidOCR, the PP-OCRv4 models its wheel ships) of pages the tests lay out
themselves with Debian's fonts-wqy-microhei (`qa.evaluation.pageimage`), clean and degraded.

The sample page is the bundled edition's items set in five columns; the figures it must meet
are the project's targets (CER <= 2% clean, <= 5% degraded, the same 8 items with their
headlines). Smaller pages (one or two items) keep the file and error tests quick.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from qa.editions.parse import load_edition, parse_page
from qa.errors import InputError
from qa.evaluation.ocr_quality import cer, edit_distance

Image = pytest.importorskip("PIL.Image")
pageimage = pytest.importorskip("qa.evaluation.pageimage")
try:
    pageimage.cjk_font_path()
except InputError:  # pragma: no cover - CI installs fonts-wqy-microhei
    pytest.skip("no CJK font installed (apt-get install fonts-wqy-microhei)", allow_module_level=True)

PARK_PAGE = ("青岩刘水上公园今日开园\n\n"
             "全媒体记者 王婷  通讯员 金巧\n\n"
             "本报讯 3月5日，义乌青岩刘水上公园正式开园。公园面积12.6公顷，设有亲水步道2.4公里，"
             "园内种植乔木1200余株。\n\n"
             "市民可免费入园，开放时间为每天6时至22时。\n")


def key(a) -> tuple:
    return a.kind, a.headline.replace(" ", ""), a.byline


def small_page(tmp_path: Path, name: str = "edition-2021-03-05-p03.png", text: str = PARK_PAGE) -> tuple[Path, list]:
    articles = parse_page(text, date="2021-03-05", page=3)
    page = pageimage.render_page(articles, columns=2)
    path = tmp_path / name
    page.image.save(path)
    return path, articles


# ---------------------------------------------------------------- the sample page


@pytest.fixture(scope="module")
def sample_page():
    from qa.paths import sample_editions

    articles = load_edition(sample_editions()[0].path)
    return articles, pageimage.render_page(articles)


def scan_of(articles, copy: str):
    """The sample page as scanned: clean; degraded; at 150 dpi, degraded; with rules and a halftone photo."""
    if copy == "150dpi":
        page = pageimage.render_page(articles, body_px=21)
        return page, pageimage.degrade(page.image, angle=-2.0)
    if copy == "rules+photo":
        page = pageimage.render_page(articles, print_like=True)
        return page, pageimage.degrade(page.image, angle=2.5, jpeg_quality=40)
    page = pageimage.render_page(articles)
    return page, page.image if copy == "clean" else pageimage.degrade(page.image)


@pytest.mark.slow
@pytest.mark.parametrize(("copy", "most"), [("clean", 0.02), ("degraded", 0.05), ("150dpi", 0.05), ("rules+photo", 0.05)])
def test_the_sample_page_as_a_scan_reads_back_into_its_eight_items(sample_page, copy: str, most: float) -> None:
    from qa.editions.ocr import ocr_page_text

    articles, _ = sample_page
    page, image = scan_of(articles, copy)
    text = ocr_page_text(image)
    assert cer(page.text, text) <= most
    items = parse_page(text, date="2020-11-14", page=1)
    assert [(a.kind, a.headline.replace(" ", "")) for a in items] == [(a.kind, a.headline.replace(" ", ""))
                                                                      for a in articles]
    assert items[0].kicker.replace(" ", "") == articles[0].kicker.replace(" ", "")
    # bylines: the same roles and names, but for a rare character misread now and then (祉)
    assert sum(a.byline == b.byline for a, b in zip(articles, items)) >= 7
    assert [len(a.byline) for a in items] == [len(a.byline) for a in articles]
    assert all(cer(a.body, b.body) <= most for a, b in zip(articles, items) if a.body)


@pytest.mark.slow
def test_the_bundled_questions_answer_from_the_scan_as_from_the_text(sample_page, sample_index, embedder) -> None:
    from qa.editions.ocr import ocr_page_text
    from qa.evaluation.evaluate import evaluate
    from qa.evaluation.questions import load_questions
    from qa.paths import sample_questions
    from qa.store.index import Index

    _, page = sample_page
    scanned = parse_page(ocr_page_text(pageimage.degrade(page.image)), date="2020-11-14", page=1)
    questions = load_questions(sample_questions())
    text = evaluate(questions, index=sample_index, progress=False)
    scan = evaluate(questions, index=Index.from_articles(scanned, model="multilingual-e5-small", progress=False),
                    progress=False)
    for metric in ("short_answer_exact", "short_answer_f1", "article_hit@1"):
        assert abs(scan.metrics[metric] - text.metrics[metric]) <= 0.05, metric
    same = sum(a.short_answer == b.short_answer for a, b in zip(text.questions, scan.questions))
    assert same >= 0.85 * len(questions)


def test_a_skewed_scan_is_measured_and_turned_straight(tmp_path: Path) -> None:
    import numpy as np

    from qa.editions.ocr import skew_angle

    path, articles = small_page(tmp_path)
    page = Image.open(path)
    assert abs(skew_angle(np.asarray(page))) < 0.2
    turned = page.rotate(1.4, resample=Image.BICUBIC, expand=True, fillcolor=255)
    assert skew_angle(np.asarray(turned)) == pytest.approx(-1.4, abs=0.15)
    turned.save(tmp_path / "edition-2021-03-05-p03.jpg", quality=70)
    assert [key(a) for a in load_edition(tmp_path / "edition-2021-03-05-p03.jpg")] == [key(a) for a in articles]


# ---------------------------------------------------------------- files


def test_a_page_image_is_an_edition_page_dated_from_its_name(tmp_path: Path) -> None:
    path, articles = small_page(tmp_path)
    got = load_edition(path)
    assert [key(a) for a in got] == [key(a) for a in articles]
    assert got[0].byline == ("全媒体记者 王婷", "通讯员 金巧")  # the printed spaces are read from the image
    assert "公园面积12.6公顷" in got[0].body.replace(" ", "")
    assert {(a.date, a.page) for a in got} == {("2021-03-05", 3)}


def test_an_image_only_pdf_is_read_by_ocr_like_the_image(tmp_path: Path) -> None:
    path, articles = small_page(tmp_path)
    pdf = tmp_path / "edition-2021-03-05-p03.pdf"
    Image.open(path).convert("RGB").save(pdf, resolution=200.0)  # one image, no text layer
    assert [key(a) for a in load_edition(pdf)] == [key(a) for a in articles]


def test_each_frame_of_a_tiff_is_a_page(tmp_path: Path) -> None:
    first, _ = small_page(tmp_path, "a.png")
    second, articles = small_page(tmp_path, "b.png", PARK_PAGE.replace("青岩刘水上公园今日开园", "佛堂古镇游客中心启用"))
    tiff = tmp_path / "edition-2021-03-05.tif"
    Image.open(first).save(tiff, save_all=True, append_images=[Image.open(second)])
    got = load_edition(tiff)
    assert [(a.page, a.headline) for a in got] == [(1, "青岩刘水上公园今日开园"), (2, "佛堂古镇游客中心启用")]


def _bad(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{kind}.png"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        good, _ = small_page(tmp_path, "good.png")
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif kind == "not-an-image":
        path.write_text("义乌新闻\n\n这是一个改了扩展名的文本文件。\n", encoding="utf-8")
    elif kind == "blank":
        Image.new("L", (1200, 1600), 255).save(path)
    elif kind == "tiny":
        Image.new("L", (20, 20), 255).save(path)
    elif kind == "huge":
        Image.new("1", (12_000, 9_000), 1).save(path)  # 108 million pixels, a small file
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", r"is empty; give a scanned page image"),
        ("truncated", r"is not a readable image \(damaged or truncated\?\)"),
        ("not-an-image", r"is not a readable image"),
        ("blank", r"no text found on this image"),
        ("tiny", r"is 20x20 pixels, too small to hold a page of text"),
        ("huge", r"is 12000x9000 pixels, more than 100 million; scan at 200-400 dpi"),
    ],
)
def test_bad_images_give_one_line_input_errors(tmp_path: Path, kind: str, message: str) -> None:
    path = _bad(kind, tmp_path)
    with pytest.raises(InputError, match=message) as info:
        load_edition(path)
    assert "\n" not in str(info.value) and str(info.value).startswith(path.name)


def test_a_bad_image_in_a_batch_loses_nothing_else(tmp_path: Path, hash_embedder, monkeypatch) -> None:
    import qa.models.embed
    from qa.store.archive import add_editions

    monkeypatch.setattr(qa.models.embed, "get_embedder", lambda model=None: hash_embedder)
    files = tmp_path / "files"
    files.mkdir()
    good, _ = small_page(files)
    (files / "edition-2021-03-06-p01.png").write_bytes(good.read_bytes()[:500])
    result = add_editions(tmp_path / "idx", [files])
    status = {Path(o.path).name: o.status for o in result.outcomes}
    assert status == {"edition-2021-03-05-p03.png": "added", "edition-2021-03-06-p01.png": "failed"}
    assert result.saved and result.counts["articles"] == 1


def test_cli_add_reads_a_scan(tmp_path: Path) -> None:
    import subprocess
    import sys

    path, _ = small_page(tmp_path)
    cli = Path(__file__).resolve().parents[1] / "store" / "hash_cli.py"
    done = subprocess.run([sys.executable, cli, "add", str(path), "--index", str(tmp_path / "idx")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "added      2021-03-05 p.3  1 items" in done.stdout


def test_a_progress_bar_counts_the_pages_read(tmp_path: Path, capsys) -> None:
    first, _ = small_page(tmp_path, "a.png")
    tiff = tmp_path / "scan.tif"
    Image.open(first).save(tiff, save_all=True, append_images=[Image.open(first)])
    load_edition(tiff, progress=True)
    err = capsys.readouterr().err
    assert "OCR scan.tif" in err and "2/2" in err


# ---------------------------------------------------------------- the measure


def test_edit_distance_matches_the_textbook_recurrence() -> None:
    def slow(a: str, b: str) -> int:
        row = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            prev, row[0] = row[0], i
            for j, cb in enumerate(b, 1):
                prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
        return row[-1]

    rng = random.Random(7)
    for _ in range(200):
        a = "".join(rng.choice("义乌小镇ab1") for _ in range(rng.randrange(0, 12)))
        b = "".join(rng.choice("义乌小镇ab1") for _ in range(rng.randrange(0, 12)))
        assert edit_distance(a, b) == slow(a, b)
    assert edit_distance("kitten", "sitting") == 3
    assert cer("义乌 绿色\n动力", "义乌绿色动刀") == pytest.approx(1 / 6)


def test_without_the_ocr_engine_a_scan_is_refused_in_one_line(tmp_path: Path, monkeypatch) -> None:
    import sys

    import qa.editions.ocr as ocr
    from qa.errors import ModelError

    path, _ = small_page(tmp_path)
    monkeypatch.setattr(ocr, "_engine", None)
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # import fails, as where not installed
    with pytest.raises(ModelError, match=r"the OCR engine cannot start .*pip install rapidocr-onnxruntime") as info:
        load_edition(path)
    assert "\n" not in str(info.value)


def test_two_scans_read_at_once_read_as_one_at_a_time(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from qa.editions.ocr import ocr_page_text

    first, _ = small_page(tmp_path, "a.png")
    second, _ = small_page(tmp_path, "b.png", PARK_PAGE.replace("青岩刘水上公园今日开园", "佛堂古镇游客中心启用"))
    images = [Image.open(first), Image.open(second)]
    alone = [ocr_page_text(image) for image in images]
    with ThreadPoolExecutor(2) as pool:  # two users adding scans: the engine reads one page at a time
        together = list(pool.map(ocr_page_text, images * 2))
    assert together == alone * 2

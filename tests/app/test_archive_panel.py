"""The archive front page and the "Add edition" panel: listing, uploads (caps, bad files, paths
the user cannot name), read-only serving, and the add endpoint through gradio_client."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from qa.app import archive_panel, ui  # noqa: E402
from qa.errors import InputError, QAError  # noqa: E402
from qa.paths import sample_editions  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

SAMPLE = sample_editions()[0].path
NEW_PAGE = ("青岩刘水上公园今日开园\n"
            "本报讯 3月5日，义乌青岩刘水上公园正式开园。公园面积12.6公顷，设有亲水步道2.4公里。\n"
            "市民可免费入园，开放时间为每天6时至22时。\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path, hash_embedder, monkeypatch):
    """A LiveIndex over a folder holding the sample page (hash embedder for every model)."""
    import qa.models.embed
    from qa.store.archive import add_editions

    monkeypatch.setattr(qa.models.embed, "get_embedder", lambda model=None: hash_embedder)
    folder = tmp_path / "idx"
    add_editions(folder, [SAMPLE], model=hash_embedder)
    live = ui.load_index(folder)
    yield live
    live.current().close()


def upload(folder: Path, name: str, data: bytes | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_front_page_lists_editions_and_follows_new_versions(served, hash_embedder, tmp_path):
    from qa.store.archive import add_editions

    front = archive_panel.front_page(served)
    assert [(r.date, r.pages, r.articles, r.passages) for r in front.rows] == [("2020-11-14", (1,), 8, 33)]
    assert front.dates == ["2020-11-14"] and not front.several
    assert "2020-11-14 page 1 (8 articles)" in front.header_html()
    assert archive_panel.front_page(served) is front  # cached while the version is the same
    shutil.copyfile(SAMPLE, tmp_path / "edition-2020-11-16-p02.txt")
    add_editions(served.folder, [tmp_path / "edition-2020-11-16-p02.txt"], model=hash_embedder)
    served.refresh()
    after = archive_panel.front_page(served)
    assert after.key != front.key and after.several
    assert after.dates == ["2020-11-14", "2020-11-16"] and after.pages == [1, 2]
    assert "2 editions, 2020-11-14 to 2020-11-16, 2 pages (16 articles)" in after.header_html()
    table = after.archive_html()
    assert table.index("2020-11-16") < table.index("2020-11-14")  # newest first


def test_stage_uploads_reads_only_uploaded_files_under_names_it_makes(tmp_path, monkeypatch):
    root = tmp_path / "gradio"
    good = upload(root / "h1", "edition-2021-03-05-p03.txt", NEW_PAGE)
    odd = upload(root / "h2", "a b;$(rm -rf x)..txt", NEW_PAGE)
    outside = upload(tmp_path / "private", "secret.txt", NEW_PAGE)
    link = root / "h3" / "link.txt"
    link.parent.mkdir()
    link.symlink_to(outside)
    wrong = upload(root / "h4", "notes.docx", "x")
    big = upload(root / "h5", "big.txt", "长" * 400)
    monkeypatch.setattr(archive_panel, "MAX_UPLOAD_BYTES", 1000)
    dest = tmp_path / "staged"
    staged, errors = archive_panel.stage_uploads([good, odd, outside, link, wrong, big, "/etc/passwd"],
                                                 dest, root=root)
    assert [shown for _, shown in staged] == ["edition-2021-03-05-p03.txt", "a_b_rm_-rf_x_..txt"]
    for path, _ in staged:
        assert path.parent.parent == dest and path.read_text(encoding="utf-8") == NEW_PAGE
    assert staged[0][0].name == "upload-edition-2021-03-05-p03.txt"
    assert errors == ["secret.txt: not an uploaded file", "link.txt: not an uploaded file",
                      "notes.docx: only .txt, .jsonl, .pdf, .png, .jpg, .jpeg, .tif, .tiff files can be added",
                      "big.txt: over the 0 MB limit for one file", "passwd: not an uploaded file"]
    staged, _ = archive_panel.stage_uploads([good], tmp_path / "s2", date="2021-04-01", page=7, root=root)
    assert staged[0][0].name == "upload-2021-04-01-p07-edition-2021-03-05-p03.txt"
    with pytest.raises(InputError, match="one file at a time"):
        archive_panel.stage_uploads([good, odd], tmp_path / "s3", page=2, root=root)


def test_add_uploads_adds_good_files_and_reports_bad_ones_in_one_line(served, tmp_path):
    root = tmp_path / "gradio"
    good = upload(root / "a", "edition-2021-03-05-p01.txt", NEW_PAGE)
    fake_pdf = upload(root / "b", "scan.pdf", b"not a pdf at all")
    binary = upload(root / "c", "edition-2021-03-06-p01.txt", bytes(range(256)) * 8)
    steps: list[tuple[float, str]] = []
    html = archive_panel.add_uploads(served, [good, fake_pdf, binary], root=root,
                                     progress=lambda f, d: steps.append((f, d)))
    oks = [line for line in html.split("</p>") if 'class="qa-add-ok"' in line]
    errors = [line for line in html.split("</p>") if 'class="qa-add-error"' in line]
    assert len(oks) == 1 and "added 2021-03-05 p.1: 1 items" in oks[0] and "edition-2021-03-05-p01.txt" in oks[0]
    assert len(errors) == 2 and "scan.pdf is not a PDF" in errors[0]
    assert "edition-2021-03-06-p01.txt looks like a binary file" in errors[1]
    assert "edition-qa-upload-" not in html and "upload-" not in html.replace("qa-add", "")  # no server paths
    assert "<td>青岩刘水上公园今日开园</td>" in html and "<th>passages</th>" in html
    assert steps[0][0] == 0.0 and steps[-1] == (1.0, "done")
    # the served version has the new page and kept the old one
    assert sorted({(a.date, a.page) for a in served.articles()}) == [("2020-11-14", 1), ("2021-03-05", 1)]
    again = archive_panel.add_uploads(served, [good], root=root)
    assert "unchanged 2021-03-05 p.1" in again


def test_a_scan_of_two_pages_shows_its_pages_as_ocr_reads_them(served, tmp_path):
    import io

    from PIL import Image

    from qa.editions.parse import parse_page
    from qa.evaluation.pageimage import render_page

    frames = [render_page(parse_page(NEW_PAGE.replace("青岩刘", name), date="2021-03-07", page=1), columns=2).image
              for name in ("青岩刘", "佛堂")]
    data = io.BytesIO()
    frames[0].save(data, format="TIFF", save_all=True, append_images=frames[1:])
    scan = upload(tmp_path / "gradio" / "a", "edition-2021-03-07.tif", data.getvalue())
    steps: list[tuple[float, str]] = []
    html = archive_panel.add_uploads(served, [scan], root=tmp_path / "gradio",
                                     progress=lambda f, d: steps.append((f, d)))
    assert "added 2021-03-07 p.1, 2021-03-07 p.2" in html
    pages = [(f, d) for f, d in steps if d.startswith("OCR of")]
    assert [d for _, d in pages] == ["OCR of edition-2021-03-07.tif: page 1 of 2",
                                     "OCR of edition-2021-03-07.tif: page 2 of 2"]
    assert 0 < pages[0][0] < pages[1][0] <= 0.9


def test_adding_is_refused_when_read_only_or_not_a_folder(served, tmp_path):
    good = upload(tmp_path / "gradio" / "a", "edition-2021-03-05-p01.txt", NEW_PAGE)
    with pytest.raises(QAError, match="read-only"):
        archive_panel.add_uploads(served, [good], read_only=True, root=tmp_path / "gradio")
    with pytest.raises(QAError, match="read-only"):
        archive_panel.add_uploads(served.current(), [good], root=tmp_path / "gradio")
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        archive_panel.add_uploads(served, [good], date="5 March", root=tmp_path / "gradio")
    assert [a.date for a in served.articles()] == ["2020-11-14"] * 8


def _named_endpoints(url: str) -> set[str]:
    from gradio_client import Client

    return set(Client(url, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"])


def test_add_endpoint_uploads_and_read_only_has_none(served, tmp_path):
    import urllib.error
    import urllib.request

    from gradio_client import Client, handle_file

    demo = ui.build_app(served)
    url = ui.launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        assert {"/ask", "/add_editions"} <= _named_endpoints(url)
        path = upload(tmp_path / "mine", "edition-2021-03-05-p01.txt", NEW_PAGE)
        html = Client(url, verbose=False).predict([handle_file(str(path))], "", "", api_name="/add_editions")
        assert "added 2021-03-05 p.1" in html
        assert ("2021-03-05", 1) in ui.editions_of(served)
    finally:
        demo.close()

    demo = ui.build_app(served, read_only=True)
    url = ui.launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        assert "/add_editions" not in _named_endpoints(url) and "/ask" in _named_endpoints(url)
        with pytest.raises(ValueError):
            Client(url, verbose=False).predict([], "", "", api_name="/add_editions")
        request = urllib.request.Request(f"{url}gradio_api/call/add_editions", data=b'{"data": [[], "", ""]}',
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(request, timeout=10)
    finally:
        demo.close()


def test_add_uploads_to_a_served_milvus_collection(tmp_path, hash_embedder, monkeypatch):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    import qa.models.embed
    from qa.search.retrieve import retrieve
    from qa.store.archive import add_editions

    monkeypatch.setattr(qa.models.embed, "get_embedder", lambda model=None: hash_embedder)
    uri = f"milvus://{tmp_path / 'm.db'}"
    add_editions(uri, [SAMPLE], model=hash_embedder)
    served = ui.load_index(uri)
    try:
        assert [r.date for r in archive_panel.front_page(served).rows] == ["2020-11-14"]
        assert archive_panel.can_add(served, read_only=False)
        assert not archive_panel.can_add(served, read_only=True)
        root = tmp_path / "gradio"
        good = upload(root / "a", "edition-2021-03-05-p01.txt", NEW_PAGE)
        html = archive_panel.add_uploads(served, [good], root=root)
        assert "added 2021-03-05 p.1: 1 items" in html and "<td>青岩刘水上公园今日开园</td>" in html
        # the served object answers from the new edition without being reopened
        hits = retrieve("青岩刘水上公园的面积是多少？", k=3, index=served, date="2021-03-05")
        assert hits and hits[0].article.headline == "青岩刘水上公园今日开园"
        assert sorted({(a.date, a.page) for a in served.articles()}) == [("2020-11-14", 1), ("2021-03-05", 1)]
        assert "unchanged 2021-03-05 p.1" in archive_panel.add_uploads(served, [good], root=root)
        # the front page follows the collection's generation, not the object serving it
        assert sorted(r.date for r in archive_panel.front_page(served).rows) == ["2020-11-14", "2021-03-05"]
    finally:
        served.close()

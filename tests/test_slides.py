"""Offline slide decks: pinned, checked vendoring and a template that loads nothing from the network."""
from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tools import slide_layout
from tools.slides import (HIDE_INPUT_TAG, MATHJAX, REVEAL, NpmPackage, SlidesError, export_deck, hanging_indents, slide_type,
                          integrity, vendor)

EMPTY_SHA512 = "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _package(tmp_path: Path, files: dict[str, bytes], *, pin: str | None = None) -> NpmPackage:
    data = _tarball(files)
    (tmp_path / "tarballs").mkdir(exist_ok=True)
    (tmp_path / "tarballs" / "demo-1.0.0.tgz").write_bytes(data)
    return NpmPackage("demo", "1.0.0", pin or integrity(data), ("dist/", "plugin/notes/"))


def test_integrity_is_npms_sha512_in_base64() -> None:
    assert integrity(b"") == EMPTY_SHA512  # the published SRI hash of the empty string
    assert REVEAL.url == "https://registry.npmjs.org/reveal.js/-/reveal.js-4.6.1.tgz"
    assert MATHJAX.integrity.startswith("sha512-") and len(MATHJAX.integrity) == 95


def test_vendor_unpacks_only_the_kept_files_once(tmp_path: Path) -> None:
    package = _package(tmp_path, {"package/dist/reveal.js": b"js", "package/plugin/notes/notes.js": b"n",
                                  "package/test/big.bin": b"x" * 100})
    dest = vendor(package, tmp_path / "vendor", tarballs=tmp_path / "tarballs")
    assert dest == tmp_path / "vendor" / "demo-1.0.0"
    assert (dest / "dist" / "reveal.js").read_bytes() == b"js"
    assert (dest / "plugin" / "notes" / "notes.js").is_file() and not (dest / "test").exists()
    (tmp_path / "tarballs" / "demo-1.0.0.tgz").unlink()
    assert vendor(package, tmp_path / "vendor", tarballs=tmp_path / "tarballs") == dest  # cached, not re-read


def test_a_tarball_with_another_hash_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    package = _package(tmp_path, {"package/dist/reveal.js": b"js"}, pin=EMPTY_SHA512)
    with pytest.raises(SlidesError) as err:
        vendor(package, tmp_path / "vendor", tarballs=tmp_path / "tarballs")
    message = str(err.value)
    assert "demo-1.0.0.tgz: sha512 is sha512-" in message and f"expected {EMPTY_SHA512}" in message
    assert "download it again" in message
    assert not (tmp_path / "vendor").exists() or not any((tmp_path / "vendor").iterdir())


def test_a_missing_tarball_names_the_folder_and_the_url(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SlidesError, match=r"--tarballs .*empty: cannot read reveal\.js-4\.6\.1\.tgz .*"
                                          r"download it from https://registry\.npmjs\.org/reveal\.js/"):
        vendor(REVEAL, tmp_path / "vendor", tarballs=tmp_path / "empty")


def test_a_member_escaping_the_folder_is_refused(tmp_path: Path) -> None:
    package = _package(tmp_path, {"package/dist/../../../evil.js": b"x"})
    with pytest.raises(SlidesError, match="cannot unpack demo-1.0.0.tgz safely"):
        vendor(package, tmp_path / "vendor", tarballs=tmp_path / "tarballs")
    assert not (tmp_path / "evil.js").exists()
    assert not list((tmp_path / "vendor").iterdir())


def _cell(kind: str, source: str, slide: str = "-", **extra: object) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "metadata": {"slideshow": {"slide_type": slide}}, "source": source}
    if kind == "code":
        cell.update(execution_count=1, outputs=[])
    cell.update(extra)
    return cell


def _write(path: Path, cells: list[dict[str, Any]], **meta: object) -> Path:
    path.write_text(json.dumps({"cells": cells, "metadata": dict(meta), "nbformat": 4, "nbformat_minor": 4}),
                    encoding="utf-8")
    return path


def test_a_deck_loads_every_script_from_its_vendor_folder(tmp_path: Path) -> None:
    widget = {"output_type": "display_data", "metadata": {},
              "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "m1", "version_major": 2,
                                                                    "version_minor": 0},
                       "text/plain": "IntSlider(value=3)"}}
    picture = {"output_type": "display_data", "metadata": {}, "data": {"text/plain": "<Figure>",
                                                                       "image/png": "iVBORw0KGgo="}}
    hidden = _cell("code", "secret_setup_code = 1", metadata={"slideshow": {"slide_type": "-"},
                                                              "tags": [HIDE_INPUT_TAG]},
                   outputs=[{"output_type": "stream", "name": "stdout", "text": "visible output\n"}])
    hidden["metadata"] = {"slideshow": {"slide_type": "-"}, "tags": [HIDE_INPUT_TAG]}
    cells = [_cell("markdown", "# Title with $x^2$", "slide"),
             _cell("code", "import os", "skip"),
             _cell("markdown", "speaker only", "notes"),
             _cell("code", "show()", "subslide", outputs=[widget, picture]),
             hidden]
    widgets = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2, "version_minor": 0}}
    deck = export_deck(_write(tmp_path / "demo.ipynb", cells, widgets=widgets), tmp_path / "out")
    html = deck.read_text(encoding="utf-8")
    assert deck == tmp_path / "out" / "demo.slides.html"
    urls = re.findall(r'(?:src|href)="([^"#][^"]*)"', html)
    assert [u for u in urls if not u.startswith(("vendor/", "data:"))] == [], "a deck must load nothing remote"
    assert "vendor/reveal.js-4.6.1/dist/reveal.js" in urls
    assert "vendor/mathjax-2.7.9/MathJax.js?config=TeX-AMS_CHTML-full,Safe" in urls
    assert "require.js" not in html and "jquery" not in html.lower() and "mermaid.esm" not in html
    assert "import os" not in html, "skip cells are left out"
    assert re.search(r'<aside class="notes">.*speaker only', html, re.S)
    assert "secret_setup_code" not in html and "visible output" in html, f"{HIDE_INPUT_TAG} keeps only output"
    assert "data:image/png;base64,iVBORw0KGgo=" in html
    assert html.count("<section") >= 2


def test_a_missing_notebook_is_named(tmp_path: Path) -> None:
    with pytest.raises(SlidesError, match=r"nowhere\.ipynb: no such notebook"):
        export_deck(tmp_path / "nowhere.ipynb", tmp_path / "out")


def test_roles_skip_setup_keep_sections_and_turn_solutions_into_notes() -> None:
    nb = {"cells": [_cell("markdown", "# 01 · Title", "slide"),
                    _cell("code", "PRESET = None", metadata={"tags": ["parameters"]}),
                    _cell("code", "# setup\nimport torch\nfrom x import y"),
                    _cell("markdown", "## A section", "slide"),
                    _cell("markdown", "a paragraph that was a sub-slide", "subslide"),
                    _cell("code", "x = 1", "fragment"),
                    _cell("markdown", "<details><summary>Solution</summary>\n...</details>"),
                    _cell("markdown", "> **Before you run.** ...")]}
    nb["cells"][1]["metadata"] = {"tags": ["parameters"]}
    nb["cells"][7]["metadata"] = {"tags": ["before-you-run"]}
    slide_layout.assign_roles(nb)
    assert [slide_type(c) for c in nb["cells"]] == [
        "slide", "skip", "skip", "slide", "-", "fragment", "notes", "skip"]


def test_pack_starts_a_subslide_where_the_next_cell_would_overflow() -> None:
    nb = {"cells": [_cell("markdown", "# T", "slide"), _cell("markdown", "a"), _cell("code", "b"),
                    _cell("markdown", "## S", "slide"), _cell("code", "c"), _cell("code", "d", "skip"),
                    _cell("code", "e")]}
    heights = {0: 300, 1: 300, 2: 200, 3: 100, 4: 500, 6: 150}
    starts = slide_layout.pack(nb, heights, budget=650)
    assert starts == [2, 6]
    assert [slide_type(c) for c in nb["cells"]] == ["slide", "-", "subslide", "slide", "-", "skip",
                                                                 "subslide"]


def test_a_deck_shows_an_exercise_as_its_task_repeats_headings_and_plays_gifs(tmp_path: Path) -> None:
    gif = {"output_type": "display_data", "metadata": {},
           "data": {"image/gif": "R0lGODlhAQABAAAAACw=", "text/plain": "<IPython.core.display.Image object>"}}
    cells = [_cell("markdown", "# Title", "slide"),
             _cell("markdown", "## Watching the reverse process\n\nThe animation.", "slide"),
             _cell("code", "animate()  # noqa: F821\n# NBVAL_IGNORE_OUTPUT\nx = 1", "subslide", outputs=[gif]),
             _cell("markdown", "### Exercise 1 (implement): the mean\nWrite `my_mean(x)`, (B,) to (1,); then\nthe long instructions.",
                   "subslide")]
    html = export_deck(_write(tmp_path / "demo.ipynb", cells), tmp_path / "out").read_text(encoding="utf-8")
    assert re.search(r'<img alt="animation" class="animation" src="data:image/gif;base64,R0lGODlhAQABAAAAACw="', html)
    assert "IPython.core.display.Image object" not in html and "noqa" not in html and "NBVAL" not in html
    assert "Watching the reverse process (cont.)" in html, "a slide opening with code repeats its section's heading"
    assert re.search(r'<aside class="notes">.*the long instructions', html, re.S), "the rest of a task -> notes"
    slide = html.split('<aside class="notes">')[0]
    assert "(B,) to (1,)." in slide and "the long instructions" not in slide.split("Exercise 1")[-1], (
        "the slide shows the task's first clause")
    plain = export_deck(_write(tmp_path / "demo.ipynb", cells), tmp_path / "out", headings=False)
    assert "(cont.)" not in plain.read_text(encoding="utf-8")


def test_wrapped_code_lines_hang_under_their_own_indentation() -> None:
    html = ('<div class="highlight hl-ipython3"><pre><span></span><span class="k">def</span> f():\n'
            '    <span class="k">return</span> 1\n</pre></div>')
    out = hanging_indents(html)
    assert '<span class="line" style="--indent:0ch"><span></span><span class="k">def</span> f():</span>' in out
    assert '<span class="line" style="--indent:4ch">    <span class="k">return</span> 1</span>' in out
    assert hanging_indents("<p>no code</p>") == "<p>no code</p>"


def test_roles_drop_exercise_code_and_show_long_code_as_output_only() -> None:
    long_code = "\n".join(f"x{i} = {i}" for i in range(slide_layout.MAX_CODE_LINES + 1))
    output = [{"output_type": "stream", "name": "stdout", "text": "out\n"}]
    nb = {"cells": [_cell("markdown", "# T", "slide"),
                    _cell("code", "answer = None\ntutor.check(ex.MEAN, answer)", outputs=output),
                    _cell("code", long_code, outputs=output),
                    _cell("code", long_code),
                    _cell("code", "short = 1", outputs=output)]}
    slide_layout.assign_roles(nb)
    assert [slide_type(c) for c in nb["cells"]] == ["slide", "skip", "-", "notes", "-"]
    assert [c["metadata"].get("tags", []) for c in nb["cells"][2:]] == [[HIDE_INPUT_TAG], [], []]

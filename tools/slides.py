"""Offline reveal.js slide decks of the course notebooks.

``make slides`` writes ``build/slides/NN_name.slides.html`` and, beside them, ``build/slides/vendor/``
with the two libraries a deck needs, so the folder opens from disk with no network: reveal.js and
MathJax 2, each downloaded once from the npm registry as a pinned tarball whose sha512 is checked
(``--tarballs DIR`` installs them from local copies instead). Only the files a deck loads are
unpacked (about 15 MB).

The decks use ``tools/slides_template/course_reveal``: nbconvert's reveal template without the
scripts it loads from CDNs (jQuery, require.js, mermaid, the widget manager), with reveal's "white"
theme (its fonts are local) and type sized for a projector on a 1280x800 canvas (code at 21 px).
Slide boundaries come from each cell's ``slideshow.slide_type``, chosen by ``tools/slide_layout.py``.
:func:`for_slides` adapts the notebook for a room: an exercise shows its task (the heading; the
rest goes to the speaker notes), a slide that continues a section repeats its heading, GIFs play, and
test markers are dropped; wrapped code lines keep a hanging indent. ``tests/browser`` checks that
every slide fits the canvas, has a heading and readable code, and that a deck requests nothing from
the network.

    python -m tools.slides                      # every notebook -> build/slides
    python -m tools.slides notebooks/03_simple_unet.ipynb --out /tmp/deck
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import re
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ddpm_lib.files import atomic_write_text
from tools.notebook_form import cell_source

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = Path(__file__).resolve().parent / "slides_template"
TEMPLATE_NAME = "course_reveal"
THEME = "white"
CANVAS = (1280, 800)
#: Code cells with this tag show only their output on slides (``tools/slide_layout.py`` sets it).
HIDE_INPUT_TAG = "slides-output-only"
#: A markdown cell that states an exercise: on a slide, its heading and the task's first sentence.
EXERCISE = re.compile(r"#{2,4} Exercise\b")
#: The first sentence (or clause, up to a semicolon) of an exercise's text: its task, on the slide.
TASK = re.compile(r"(.+?[.;])(?=\s|$)")
#: Lines meant for the test runner or a linter, not for the room.
MARKER = re.compile(r"\s*#\s*(noqa\b|NBVAL_)[^\n]*")


@dataclass(frozen=True)
class NpmPackage:
    """A pinned npm tarball and the parts of it a deck loads."""

    name: str
    version: str
    integrity: str                 #: npm's ``dist.integrity`` (sha512, base64)
    keep: tuple[str, ...]          #: path prefixes inside ``package/`` to unpack

    @property
    def folder(self) -> str:
        return f"{self.name}-{self.version}"

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.tgz"

    @property
    def url(self) -> str:
        return f"https://registry.npmjs.org/{self.name}/-/{self.filename}"


REVEAL = NpmPackage(
    "reveal.js", "4.6.1",
    "sha512-1CW0auaXNPmwmvQ7TwpszwVxMi2Xr5cTS3J3EBC/HHgbPF32Dn7aiu/LKWDOGjMbaDwKQiGmfqcoGQ74HUHCMw==",
    ("dist/", "plugin/notes/"))
MATHJAX = NpmPackage(
    "mathjax", "2.7.9",
    "sha512-NOGEDTIM9+MrsqnjPEjVGNx4q0GQxqm61yQwSK+/5S59i26wId5IC5gNu9/bu8+CCVl5p9G2IHcAl/wJa+5+BQ==",
    ("MathJax.js", "config/", "extensions/", "jax/input/TeX/", "jax/output/CommonHTML/", "jax/element/",
     "fonts/HTML-CSS/TeX/woff/", "localization/en/"))
#: nbconvert's own choice: TeX input, CommonHTML output with MathJax's TeX web fonts.
MATHJAX_CONFIG = "TeX-AMS_CHTML-full,Safe"
PACKAGES = (REVEAL, MATHJAX)


class SlidesError(RuntimeError):
    """A deck cannot be built; the message names the file or URL and the fix."""


def integrity(data: bytes) -> str:
    """npm's integrity string of ``data``: ``sha512-`` and the base64 of its SHA-512 digest."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def _download(package: NpmPackage, timeout: float = 120.0) -> bytes:
    try:
        with urllib.request.urlopen(package.url, timeout=timeout) as response:
            return bytes(response.read())
    except (urllib.error.URLError, OSError) as err:
        raise SlidesError(
            f"cannot download {package.name} from {package.url} ({err}); the npm registry must be reachable "
            f"once, or pass --tarballs with a folder holding {package.filename}") from err


def vendor(package: NpmPackage, vendor_dir: Path, *, tarballs: Path | None = None) -> Path:
    """``package``'s kept files under ``vendor_dir/<name>-<version>``: fetched once, sha512 checked.

    The folder appears whole or not at all (unpacked into a temporary folder, then renamed).
    """
    dest = vendor_dir / package.folder
    if dest.is_dir():
        return dest
    if tarballs is not None:
        source = tarballs / package.filename
        try:
            data = source.read_bytes()
        except OSError as err:
            raise SlidesError(f"--tarballs {tarballs}: cannot read {package.filename} ({err.strerror}); "
                              f"download it from {package.url}") from err
    else:
        source, data = Path(package.url), _download(package)
    got = integrity(data)
    if got != package.integrity:
        raise SlidesError(f"{source}: sha512 is {got}, expected {package.integrity} for {package.name} "
                          f"{package.version}; the file is damaged or another version: download it again")
    vendor_dir.mkdir(parents=True, exist_ok=True)
    prefixes = tuple(f"package/{keep}" for keep in package.keep)
    with tempfile.TemporaryDirectory(dir=vendor_dir, prefix=f".{package.name}-") as tmp:
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
                members = [m for m in archive.getmembers() if m.name.startswith(prefixes)]
                archive.extractall(tmp, members=members, filter="data")
        except tarfile.TarError as err:
            raise SlidesError(f"{source}: cannot unpack {package.filename} safely ({err})") from err
        if not (Path(tmp) / "package").is_dir():
            raise SlidesError(f"{source}: none of {', '.join(package.keep)} inside; is it {package.name}?")
        (Path(tmp) / "package").rename(dest)
    return dest


def vendor_all(vendor_dir: Path, *, tarballs: Path | None = None) -> None:
    for package in PACKAGES:
        vendor(package, vendor_dir, tarballs=tarballs)


def slide_type(cell: Any) -> str:
    """A cell's ``slideshow.slide_type`` ("-" when unset); a notebook cell as a dict or an nbformat node."""
    return str(cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-"))


def heading(cell: Any) -> str | None:
    """The text of the heading a markdown cell opens with, or None."""
    first = cell_source(cell).lstrip().split("\n", 1)[0] if cell.get("cell_type") == "markdown" else ""
    return first.lstrip("#").strip() if first.startswith("#") else None


def for_slides(nb: Any, *, headings: bool = True) -> Any:
    """The notebook (an ``nbformat`` node, changed in place) as its deck shows it.

    - an exercise's markdown shows its heading (kind and task); the rest becomes speaker notes;
    - with ``headings``, a slide that does not open with a heading repeats its section's, "(cont.)"
      (the last heading that is not an exercise's);
    - GIF outputs become ``<img>`` HTML (nbconvert's templates do not render ``image/gif``);
    - ``# noqa`` and ``# NBVAL_...`` markers are removed from code.
    """
    from nbformat.v4 import new_markdown_cell

    cells, section = [], ""
    for cell in nb.cells:
        kind = slide_type(cell)
        if cell.cell_type == "markdown" and kind not in ("skip", "notes") and EXERCISE.match(cell.source.lstrip()):
            title, _, rest = cell.source.lstrip().partition("\n")
            first = TASK.match(" ".join(rest.split()))
            cell.source = title + (f"\n\n{first.group(1).rstrip(';')}." if first else "")
            cells.append(cell)
            if rest.strip():
                cells.append(new_markdown_cell(rest, metadata={"slideshow": {"slide_type": "notes"}}))
            continue
        if cell.cell_type == "code":
            cell.source = MARKER.sub("", cell.source)
            for output in cell.get("outputs", []):
                gif = output.get("data", {}).get("image/gif")
                if gif:
                    output["data"] = {"text/html": f'<img alt="animation" class="animation" src="data:image/gif;base64,{gif}">'}
        title = heading(cell)
        if headings and kind in ("slide", "subslide") and title is None and section:
            cells.append(new_markdown_cell(f"### {section} (cont.)", metadata={"slideshow": {"slide_type": kind}}))
            cell.metadata.setdefault("slideshow", {})["slide_type"] = "-"
        section = title or section
        cells.append(cell)
    nb.cells = cells
    return nb


_PRE = re.compile(r'(<div class="highlight[^"]*"><pre>)(.*?)(</pre>)', re.S)
_TAG = re.compile(r"<[^>]+>")


def hanging_indents(html: str) -> str:
    """Wrap each line of highlighted code in a span whose wrapped rows are indented past the line's
    own indentation (``course.css`` reads ``--indent``), so a long line that wraps stays legible Python.
    Pygments closes its spans at every line end, so splitting on newlines keeps the markup whole."""
    def lines(match: re.Match[str]) -> str:
        rows = []
        for row in match.group(2).split("\n"):
            text = _TAG.sub("", row)
            indent = len(text) - len(text.lstrip(" "))
            rows.append(f'<span class="line" style="--indent:{indent}ch">{row}</span>')
        return match.group(1) + "".join(rows) + match.group(3)
    return _PRE.sub(lines, html)


def export_deck(notebook: Path, out_dir: Path, *, vendor: str = "vendor", headings: bool = True) -> Path:
    """One notebook -> ``out_dir/<stem>.slides.html`` (written atomically); scripts under ``out_dir/vendor``.

    ``headings=False`` leaves out the repeated section headings (``tools/slide_layout.py`` measures
    cells that way)."""
    import nbformat
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    config = Config()
    config.SlidesExporter.extra_template_basedirs = [str(TEMPLATE_DIR)]
    config.SlidesExporter.template_name = TEMPLATE_NAME
    config.SlidesExporter.reveal_url_prefix = f"{vendor}/{REVEAL.folder}"
    config.SlidesExporter.reveal_theme = THEME
    config.SlidesExporter.reveal_width = str(CANVAS[0])
    config.SlidesExporter.reveal_height = str(CANVAS[1])
    config.SlidesExporter.mathjax_url = f"{vendor}/{MATHJAX.folder}/MathJax.js?config={MATHJAX_CONFIG}"
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_input_tags = {HIDE_INPUT_TAG}
    try:
        nb = nbformat.read(notebook, as_version=4)
    except FileNotFoundError as err:
        raise SlidesError(f"{notebook}: no such notebook") from err
    body, _ = SlidesExporter(config=config).from_notebook_node(for_slides(nb, headings=headings))
    return atomic_write_text(out_dir / f"{notebook.stem}.slides.html", hanging_indents(body))


def build(notebooks: list[Path], out_dir: Path, *, tarballs: Path | None = None) -> list[Path]:
    """Vendor reveal.js and MathJax into ``out_dir/vendor``, then export every notebook there."""
    vendor_all(out_dir / "vendor", tarballs=tarballs)
    return [export_deck(notebook, out_dir) for notebook in notebooks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.slides", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to export (default: every notebook in notebooks/)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "slides", help="output folder")
    parser.add_argument("--tarballs", type=Path, default=None,
                        help="folder holding " + " and ".join(p.filename for p in PACKAGES)
                        + " (instead of the npm registry)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    try:
        decks = build(notebooks, args.out, tarballs=args.tarballs)
    except SlidesError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for deck in decks:
        print(deck)
    print(f"open {args.out / decks[0].name} in a browser (no network needed); press S for speaker notes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

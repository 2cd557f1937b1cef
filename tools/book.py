"""The course as an offline website: ``make book`` -> ``build/book/index.html``.

Sphinx with myst-nb renders the committed notebooks (their ``cpu``-preset outputs, never
re-executed), the README as the front page, the concept map and ``docs/`` into static pages with
full-text search and a sidebar in course order. The configuration is ``book/conf.py``. MathJax 2 is
the same pinned, sha512-checked npm tarball the slide decks vendor (``tools/slides.py``), copied under
``_static``, so the site opens from disk with no network. Sphinx and its extensions come with the
``book`` extra (``pip install -e ".[book]"``).

    python -m tools.book                     # -> build/book
    python -m tools.book --out /tmp/site
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ddpm_lib.files import atomic_write_text
from tools.slides import MATHJAX, SlidesError, vendor

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "book"
FRONT_PAGE = "README.html"
#: MathJax, unpacked once and copied into every build's ``_static`` (git-ignored).
VENDOR = ROOT / "build" / "book-vendor"


def build(out: Path, *, tarballs: Path | None = None, quiet: bool = True) -> Path:
    """Build the site into ``out``; return its entry page, ``out/index.html``."""
    try:
        from sphinx.application import Sphinx
    except ImportError as err:
        raise SlidesError(f"Sphinx is not installed ({err}); fix: make book, or pip install -e '.[book]' "
                          "(Python 3.11 or newer)") from err

    vendor(MATHJAX, VENDOR, tarballs=tarballs)
    with tempfile.TemporaryDirectory(prefix="book-") as tmp:
        app = Sphinx(str(ROOT), str(CONF), str(out), str(Path(tmp) / "doctrees"), "html",
                     confoverrides={"html_static_path": [str(VENDOR)]},
                     status=None if quiet else sys.stdout, warning=sys.stderr, freshenv=True,
                     warningiserror=False)
        app.build(force_all=True)
        if app.statuscode:
            raise SlidesError(f"sphinx-build exited with {app.statuscode}; see the warnings above")
    # The front page is README.html; index.html sends a browser opening the folder there.
    return atomic_write_text(out / "index.html", f'<!DOCTYPE html><meta charset="utf-8"><title>Diffusion from '
                             f'Scratch</title><meta http-equiv="refresh" content="0; url={FRONT_PAGE}">'
                             f'<a href="{FRONT_PAGE}">Diffusion from Scratch</a>\n')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.book", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "book", help="output folder")
    parser.add_argument("--tarballs", type=Path, default=None,
                        help=f"folder holding {MATHJAX.filename} (instead of the npm registry)")
    args = parser.parse_args(argv)
    try:
        index = build(args.out, tarballs=args.tarballs, quiet=False)
    except SlidesError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"open {index} in a browser (no network needed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

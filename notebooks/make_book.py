"""Build the course as a static site for reading: ``build/book/`` (``make book``).

    python notebooks/make_book.py                  # every notebook (runs each twice: minutes)
    python notebooks/make_book.py 00_welcome 06_rate_limiting --out /tmp/book

Each lesson is executed twice in a fresh kernel (on fakeredis and SQLite: ``REDIS_URL`` and
``DATABASE_URL`` are removed): the learner version becomes the lesson's page, its exercises
showing what their checks say to an empty answer, and the solution version becomes a page of
its own under ``solutions/``, linked from the lesson. Pages are nbconvert's HTML with every
output (plots are embedded images), links between notebooks rewritten to the pages, and no
script or style loaded from the network: the site reads offline, from the folder.
"""
from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
LINK = re.compile(r"\]\(((?:\.\./)?(?:solutions/)?\d\d_\w+)\.ipynb(#[^)]*)?\)")


def execute(path: Path, timeout: int = 600) -> nbformat.NotebookNode:
    """The notebook at ``path``, executed in a fresh kernel in a scratch copy of its folder."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "DATABASE_URL", "SIMLAB_STRICT_CHECKS")}
    with tempfile.TemporaryDirectory() as scratch:
        NotebookClient(nb, kernel_name="python3", timeout=timeout,
                       resources={"metadata": {"path": scratch}}).execute(env=env)
    return nb


def to_html(nb, title: str, banner: str, prefix: str = "") -> str:
    """One page: links to other notebooks point at their pages, nothing comes from the net."""
    from nbconvert import HTMLExporter

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = LINK.sub(lambda m: f"]({prefix}{m.group(1)}.html{m.group(2) or ''})",
                                   cell.source)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(banner))
    exporter = HTMLExporter(template_name="lab", embed_images=True)
    for url in ("mathjax_url", "require_js_url", "jquery_url", "mermaid_js_url",
                "widget_renderer_url", "jupyter_widgets_base_url"):
        if exporter.has_trait(url):
            setattr(exporter, url, "")
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    # the template still names a few CDN scripts (require.js, MathJax, widgets): drop them
    return re.sub(r'<script[^>]+src="(?:https?:)?//[^"]*"[^>]*>\s*</script>', "", body)


def index_page(lessons: list) -> str:
    rows = "\n".join(
        f'<li><a href="{name}.html">{html.escape(name)}</a>: {html.escape(title)} '
        f'(<a href="solutions/{name}.html">solutions</a>)</li>' for name, title in lessons)
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>The Whiteboard"
            "</title></head><body>\n<h1>The Whiteboard: Redis as a cache, learned by "
            "measuring</h1>\n<p>The course's notebooks with every output from one run. The "
            "exercises show what their checks say to an empty answer; each lesson's worked "
            f"answers are on its solutions page.</p>\n<ol start=\"0\">\n{rows}\n</ol>\n"
            "</body></html>\n")


def title_of(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if match:
                return match.group(1).strip()
    return ""


def build(names, out: Path) -> Path:
    """Write the site for the notebooks ``names`` (all when empty) into ``out``."""
    learner = sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
    if names:
        learner = [p for p in learner if p.stem in set(names)]
        missing = set(names) - {p.stem for p in learner}
        if missing:
            raise SystemExit(f"make_book: no notebook named {', '.join(sorted(missing))}")
    if out.exists():
        shutil.rmtree(out)
    (out / "solutions").mkdir(parents=True)
    lessons = []
    for path in learner:
        print(f"make_book: {path.stem}", file=sys.stderr, flush=True)
        nb = execute(path)
        title = title_of(nb)
        lessons.append((path.stem, title))
        page = to_html(nb, path.stem, f"[All lessons](index.html) · [Solutions to this lesson]"
                       f"(solutions/{path.stem}.html)")
        (out / f"{path.stem}.html").write_text(page, encoding="utf-8")
        solution = execute(HERE / "solutions" / path.name)
        page = to_html(solution, f"{path.stem} (solutions)",
                       f"**Solutions.** [Back to the lesson](../{path.stem}.html) · "
                       f"[All lessons](../index.html)", prefix="../")
        (out / "solutions" / f"{path.stem}.html").write_text(page, encoding="utf-8")
    (out / "index.html").write_text(index_page(lessons), encoding="utf-8")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to include (default: all)")
    parser.add_argument("--out", type=Path, default=HERE.parent / "build" / "book")
    args = parser.parse_args(argv)
    path = build(args.names, args.out)
    print(f"make_book: open {path / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

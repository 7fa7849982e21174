"""Build the learner and solution notebooks from one source.

    python notebooks/build.py          # write notebooks/NN_*.ipynb and notebooks/solutions/
    python notebooks/build.py --check  # exit 1 if a committed notebook is out of date

Sources are ``notebooks/source/NN_name.py`` in jupytext's percent format. Inside a code cell,
lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` are the solution; lines in that block
starting with ``# LEARNER:`` are what the learner sees instead. Everything else is shared.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "source"
SOLUTIONS = HERE / "solutions"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def split_solution(source: str) -> tuple[str, str]:
    """(learner text, solution text) of one cell's source."""
    learner, solution = [], []
    inside = False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == "# BEGIN SOLUTION":
            if inside:
                raise ValueError("nested '# BEGIN SOLUTION'")
            inside = True
            continue
        if stripped == "# END SOLUTION":
            if not inside:
                raise ValueError("'# END SOLUTION' without a BEGIN")
            inside = False
            continue
        if inside:
            if stripped.startswith("# LEARNER:"):
                indent = line[: len(line) - len(line.lstrip())]
                text = stripped[len("# LEARNER:"):]
                learner.append((indent + text[1:] if text.startswith(" ") else indent + text)
                               .rstrip())
            else:
                solution.append(line)
        else:
            learner.append(line)
            solution.append(line)
    if inside:
        raise ValueError("'# BEGIN SOLUTION' without an END")
    return "\n".join(learner), "\n".join(solution)


def build(path: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    nb = jupytext.read(path, fmt="py:percent")
    versions = []
    for which in (0, 1):
        out = nbformat.v4.new_notebook()
        out.metadata = {"kernelspec": KERNELSPEC,
                        "language_info": {"name": "python"}}
        for cell in nb.cells:
            text = cell.source
            if cell.cell_type == "code":
                text = split_solution(text)[which]
                new = nbformat.v4.new_code_cell(text)
            else:
                new = nbformat.v4.new_markdown_cell(text)
            tags = cell.metadata.get("tags")
            if tags:
                new.metadata["tags"] = list(tags)
            out.cells.append(new)
        for i, cell in enumerate(out.cells):  # stable ids keep diffs small
            cell["id"] = f"{path.stem[:2]}-{i:03d}"
        versions.append(out)
    return versions[0], versions[1]


def targets(path: Path) -> tuple[Path, Path]:
    return HERE / f"{path.stem}.ipynb", SOLUTIONS / f"{path.stem}.ipynb"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 if a notebook differs from its source")
    args = parser.parse_args(argv)
    SOLUTIONS.mkdir(exist_ok=True)
    stale = []
    for path in sorted(SOURCE.glob("[0-9]*.py")):
        for nb, target in zip(build(path), targets(path)):
            text = nbformat.writes(nb) + "\n"
            if args.check:
                if not target.exists() or target.read_text() != text:
                    stale.append(target)
            else:
                target.write_text(text)
    if stale:
        print("out of date (run `make notebooks`): " + ", ".join(map(str, stale)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

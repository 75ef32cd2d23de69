"""The project stands alone: every reference in its documentation, docstrings, model files,
notebooks and ``--help`` texts points to something inside the repository that exists, and none
points to the background material the project was written from."""

from __future__ import annotations

import importlib
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dmd_opt.interfaces.cli import app

ROOT = Path(__file__).resolve().parents[1]
TEXT = (".py", ".md", ".toml", ".ipynb", ".json", ".txt", ".cfg", ".yml", ".yaml")


def repo_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    return sorted({ROOT / f for f in out if f.endswith(TEXT) and (ROOT / f).is_file()})


FILES = repo_files()
#: where paths are references (tests build paths that must not exist, so they are left out)
REFERRING = [f for f in FILES if f.relative_to(ROOT).parts[0] in ("README.md", "docs", "dmd_opt", "models",
                                                                   "notebooks", "benchmarks", ".ci")]
OUTSIDE = [(re.compile(r"\bSPEC\b"), "the specification the project was written from"),
           (re.compile(r"\bseeds?\b(?=\s*\d{3}\b|/|_)", re.I), "the source notes the project was written from"),
           (re.compile(r"\.\./shared|(?<![\w-])shared/"), "a folder outside the repository")]
PATH = re.compile(r"(?<![\w/.-])((?:dmd_opt|docs|models|tests|benchmarks|notebooks|\.ci)/[\w./*-]*[\w*])")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
THEORY = re.compile(r"(?<![\w/])((?:docs/)?theory\.md)#([\w%-]+)")
DOTTED = re.compile(r"(?<![\w/.])(dmd_opt(?:\.\w+)+)")


def anchors(md: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for line in md.read_text().splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            text = m.group(1).strip().lower()
            text = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
            out.add(text.replace(" ", "-"))
    return out


def help_texts() -> dict[str, str]:
    runner = CliRunner()
    cmds = [[], *[[c.name or c.callback.__name__] for c in app.registered_commands]]
    out = {}
    for cmd in cmds:
        r = runner.invoke(app, [*cmd, "--help"], env={"COLUMNS": "240", "TERM": "dumb"})
        assert r.exit_code == 0, r.output
        out["dmd-opt " + " ".join(cmd) + " --help"] = r.output
    return out


HELP = help_texts()


#: documents announced by their owners and not yet landed; only shrinks (an entry that exists fails)
PENDING: dict[str, str] = {}


def _exists(ref: str) -> bool:
    ref = ref.rstrip(".")
    return any(ROOT.glob(ref)) if "*" in ref else (ROOT / ref).exists()


def test_anchor_rule():
    assert {"thomasworrall-dynamic-insurance", "audit-verification-and-certificates"} <= anchors(ROOT / "docs/theory.md")


def test_nothing_points_outside_the_repository():
    bad = []
    for f in FILES:
        if f == Path(__file__).resolve():
            continue                       # the patterns themselves
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            for pat, what in OUTSIDE:
                if pat.search(line):
                    bad.append(f"{f.relative_to(ROOT)}:{n}: {what}: {line.strip()[:100]}")
    for name, text in HELP.items():
        bad += [f"{name}: {what}" for pat, what in OUTSIDE if pat.search(text)]
    assert not bad, "\n".join(bad)


def test_referenced_files_exist():
    missing = []
    for f in REFERRING:
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            missing += [f"{f.relative_to(ROOT)}:{n}: {m.group(1)}" for m in PATH.finditer(line) if not _exists(m.group(1))]
    for name, text in HELP.items():
        missing += [f"{name}: {m.group(1)}" for m in PATH.finditer(text) if not _exists(m.group(1))]
    missing = [m for m in missing if m.rpartition(": ")[2] not in PENDING]
    assert not missing, "references to files that do not exist:\n" + "\n".join(missing)
    landed = [ref for ref in PENDING if _exists(ref)]
    assert not landed, f"{landed} exist now: delete them from PENDING"


def test_markdown_links_and_theory_anchors_resolve():
    broken = []
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for f in docs:
        for m in LINK.finditer(f.read_text()):
            target = m.group(1)
            if re.match(r"[a-z]+:", target) or not re.fullmatch(r"[\w./#-]+", target) \
                    or not ("." in target or "/" in target or target.startswith("#")):
                continue                   # a URL, or mathematics in brackets rather than a link
            path, _, anchor = target.partition("#")
            dest = f if not path else (f.parent / path)
            if not dest.exists():
                broken.append(f"{f.relative_to(ROOT)}: link {target}")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{f.relative_to(ROOT)}: anchor {target}")
    theory = anchors(ROOT / "docs" / "theory.md")
    for f in FILES:
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            broken += [f"{f.relative_to(ROOT)}:{n}: theory.md#{m.group(2)}" for m in THEORY.finditer(line)
                       if m.group(2) not in theory]
    assert not broken, "\n".join(broken)


def test_dotted_names_in_docs_and_help_exist():
    stale = []
    sources = {str(f.relative_to(ROOT)): f.read_text() for f in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]}
    sources.update(HELP)
    for where, text in sources.items():
        for m in DOTTED.finditer(text):
            parts = m.group(1).split(".")
            obj, k = None, len(parts)
            while k:
                try:
                    obj = importlib.import_module(".".join(parts[:k]))
                    break
                except ModuleNotFoundError:
                    k -= 1
            for attr in parts[k:]:
                if not hasattr(obj, attr):
                    stale.append(f"{where}: {m.group(1)}")
                    break
                obj = getattr(obj, attr)
    assert not stale, "names that do not exist:\n" + "\n".join(sorted(set(stale)))


@pytest.mark.parametrize("name", sorted(HELP))
def test_every_help_has_an_example(name):
    assert re.search(r"dmd-opt \w+ \S+", HELP[name].split("Options")[0] + HELP[name]), name
    assert "Example" in HELP[name], f"{name} shows no example"

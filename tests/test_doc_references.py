"""Docs and comments name only files the repository has.

Every file name with a known extension (``docs/api.md``, ``feed_build.py``, ``api/events.ts``)
in the README and docs/ (outside code blocks), and in the comments and docstrings of the
project's code, tests and build files, must name a tracked file: a path from the repository
root or from the naming file's folder, the end of a tracked path, or (bare) any file of that
name. A renamed module, or a note cited from outside the repository, fails here.
"""

from __future__ import annotations

import io
import re
import subprocess
import tokenize
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
EXTENSIONS = "md|py|ts|tsx|json|yml|yaml|toml|txt|html|css|sh|cfg|ini|png|svg|ico"
# A file name: path segments, then a known extension; not part of a URL or a longer name.
NAME = re.compile(rf"(?<![\w./:@~-])((?:\.\.?/)*[\w-][\w.-]*(?:/[\w.-]+)*\.(?:{EXTENSIONS}))(?![\w/(-])")
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+")
HASH_COMMENTED = {"Makefile", "Dockerfile", "run", ".gitignore"}
HASH_SUFFIXES = {".sh", ".toml", ".yml", ".yaml", ".cfg", ".txt"}
SLASH_SUFFIXES = {".ts", ".tsx", ".css"}
# Files that are not ours to have, named where we explain how we use them.
NOT_OURS = {
    "django_jsonform/editor.html",  # django-jsonform's widget template, which ours extends
    "admin/base_site.html",  # Django admin's template, which ours overrides
    "admin/change_form.html",
    "admin/change_list.html",
    "results.json",  # written by `make bench` into bench/results/<time>/, not committed
}
LINE_COMMENT = re.compile(r"(?<![:/])//(.*)")


def tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [line for line in listed.splitlines() if (ROOT / line).is_file()]


def prose_of(rel: str, text: str) -> list[tuple[int, str]]:
    """The (line number, text) pieces of ``rel`` that are prose: docs, comments, docstrings."""
    path = PurePosixPath(rel)
    lines = text.splitlines()
    if path.suffix == ".md":
        fenced, out = False, []
        for number, line in enumerate(lines, 1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
            elif not fenced:
                out.append((number, line))
        return out
    if path.suffix == ".py":
        return _python_prose(text)
    if path.suffix in SLASH_SUFFIXES:
        return [(n, m.group(1)) for n, line in enumerate(lines, 1) if (m := LINE_COMMENT.search(line))] + [
            (n, line) for n, line in enumerate(lines, 1) if line.lstrip().startswith(("*", "/*"))
        ]
    if path.name in HASH_COMMENTED or path.suffix in HASH_SUFFIXES:
        return [(n, line.split("#", 1)[1]) for n, line in enumerate(lines, 1) if "#" in line]
    return []


def _python_prose(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    previous = tokenize.NEWLINE
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            out.append((token.start[0], token.string))
        elif token.type == tokenize.STRING and previous in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            # A string standing alone as a statement: a docstring.
            out.extend((token.start[0] + i, line) for i, line in enumerate(token.string.splitlines()))
        if token.type not in (tokenize.NL, tokenize.COMMENT):
            previous = token.type
    return out


def named_files(line: str) -> list[str]:
    return NAME.findall(URL.sub(" ", line))


def exists(name: str, *, naming_file: str, files: set[str], names: set[str]) -> bool:
    clean = name.lstrip("/").removeprefix("./")
    if clean in NOT_OURS:
        return True
    if "/" not in clean:
        return clean in names
    beside = _normal(f"{PurePosixPath(naming_file).parent}/{clean}")
    return clean in files or beside in files or any(f.endswith("/" + clean) for f in files)


def _normal(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def missing_references(files: list[str]) -> list[str]:
    tracked = set(files)
    names = {PurePosixPath(f).name for f in files}
    problems = []
    for rel in files:
        if rel.startswith("docs/screenshots/") or rel == "web/package-lock.json":
            continue
        text = (ROOT / rel).read_text(encoding="utf-8", errors="replace")
        for number, line in prose_of(rel, text):
            for name in named_files(line):
                if not exists(name, naming_file=rel, files=tracked, names=names):
                    problems.append(f"{rel}:{number}: {name}")
    return problems


def test_every_file_the_docs_and_comments_name_exists() -> None:
    assert missing_references(tracked_files()) == []


def test_a_name_the_repository_lacks_is_reported() -> None:
    files = ["README.md", "docs/api.md", "recommendations/feed_build.py", "web/src/api/events.ts"]
    tracked, names = set(files), {PurePosixPath(f).name for f in files}

    def known(name: str, where: str = "README.md") -> bool:
        return exists(name, naming_file=where, files=tracked, names=names)

    assert named_files("see PRODUCT.md and docs/api.md, not https://example.com/x.md or foo.json()") == [
        "PRODUCT.md",
        "docs/api.md",
    ]
    for name, where in [
        ("docs/api.md", "README.md"),
        ("feed_build.py", "README.md"),
        ("api/events.ts", "README.md"),
        ("../docs/api.md", "docs/x.md"),
        ("api.md", "docs/x.md"),
    ]:
        assert known(name, where), name
    for name in ["PRODUCT.md", "docs/PRODUCT.md", "api/feed.ts"]:
        assert not known(name), name

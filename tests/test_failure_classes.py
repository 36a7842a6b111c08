"""docs/failure-classes.md points at code and tests that exist, and every citation of it resolves.

The page names, for each failure class, the modules and functions that hold
its invariant and the tests that prove it.  A rename that leaves the page
behind fails here, naming the stale reference; so does a comment or test that
cites a class the page does not have.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "failure-classes.md"
SRC = ROOT / "src"

CLASSES = [f"IN-{n}" for n in (1, 2)] + [f"FC-{n}" for n in range(1, 31)]
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
CODE_REF = re.compile(r"`(keepa_deals(?:\.\w+)+)`")
ANCHOR = re.compile(r'<a id="([\w-]+)"></a>')
CITATION = re.compile(r"\b(FC|IN)-(\d+)\b")
#: The older form, "lessons, class 11", "lesson 10", "lessons 1, 2".
OLD_CITATION = re.compile(r"lessons?(?:\.md)?,? (?:class(?:es)? )?(\d+(?:(?:, | and )\d+)*)")


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _members(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    out: dict[str, ast.stmt] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
        elif isinstance(node, ast.ImportFrom | ast.Import):
            for alias in node.names:
                out[(alias.asname or alias.name).split(".")[0]] = node
    return out


def resolves(dotted: str) -> bool:
    """Whether ``dotted`` names a module, or a name (and members) defined in one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        base = SRC.joinpath(*parts[:cut])
        for path in (base.with_suffix(".py"), base / "__init__.py"):
            if path.is_file():
                body = _tree(path).body
                for name in parts[cut:]:
                    node = _members(body).get(name)
                    if node is None:
                        return False
                    body = node.body if isinstance(node, ast.ClassDef) else []
                return True
    return False


def test_every_class_has_its_anchor_and_a_row_in_the_table() -> None:
    text = doc_text()
    anchors = ANCHOR.findall(text)
    assert anchors == [c.lower() for c in CLASSES]
    for c in CLASSES:
        assert f"[{c}](#{c.lower()})" in text, f"{c} is missing from the table"
        assert f"### {c}: " in text, f"{c} has no section"


def test_every_section_says_what_the_invariant_is_where_and_which_tests() -> None:
    sections = re.split(r'<a id="[\w-]+"></a>', doc_text())[1:]
    assert len(sections) == len(CLASSES)
    for c, section in zip(CLASSES, sections, strict=True):
        for part in ("**What went wrong.**", "**Invariant.**", "**Where.**", "**Tests.**"):
            assert part in section, f"{c}: no {part}"
        assert TEST_REF.search(section), f"{c}: names no test"
        assert CODE_REF.search(section), f"{c}: names no code"


def test_every_test_named_exists() -> None:
    missing = []
    for path, name in TEST_REF.findall(doc_text()):
        file = ROOT / path
        if not file.is_file() or name not in _members(_tree(file).body):
            missing.append(f"{path}::{name}")
    assert not missing, "docs/failure-classes.md names tests that do not exist:\n" + "\n".join(missing)


def test_every_module_and_function_named_exists() -> None:
    missing = sorted({ref for ref in CODE_REF.findall(doc_text()) if not resolves(ref)})
    assert not missing, "docs/failure-classes.md names code that does not exist:\n" + "\n".join(missing)


def test_every_citation_in_the_code_tests_and_docs_is_a_class_of_the_page() -> None:
    known = set(CLASSES)
    unknown = []
    for folder in ("src", "tests", "docs"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in {".py", ".md", ".lua", ".toml"} or path == DOC:
                continue
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if "failure-classes" not in line and "lesson" not in line.lower():
                    continue
                for kind, n in CITATION.findall(line):
                    if f"{kind}-{n}" not in known:
                        unknown.append(f"{path.relative_to(ROOT)}:{lineno}: {kind}-{n}")
                for numbers in OLD_CITATION.findall(line.lower()):
                    for n in re.findall(r"\d+", numbers):
                        if f"FC-{n}" not in known:
                            unknown.append(f"{path.relative_to(ROOT)}:{lineno}: class {n}")
    assert not unknown, "citations of classes the page does not have:\n" + "\n".join(unknown)


def test_the_resolver_tells_real_names_from_stale_ones() -> None:
    assert resolves("keepa_deals.budget.core")
    assert resolves("keepa_deals.budget.core.acquire")
    assert resolves("keepa_deals.budget.manager.TokenManager.acquire")
    assert not resolves("keepa_deals.budget.core.no_such_function")
    assert not resolves("keepa_deals.budget.manager.TokenManager.no_such_method")
    assert not resolves("keepa_deals.no_such_package.module")


def test_both_citation_forms_are_read() -> None:
    assert CITATION.findall("(docs/failure-classes.md, FC-6; IN-2)") == [("FC", "6"), ("IN", "2")]
    assert OLD_CITATION.findall("(lessons, class 11) and (lesson 10)") == ["11", "10"]
    assert OLD_CITATION.findall("(lessons 1, 2, 5) (lessons.md classes 1, 7, 13)") == [
        "1, 2, 5", "1, 7, 13"]
    assert OLD_CITATION.findall("(lessons, class 1 and 2)") == ["1 and 2"]

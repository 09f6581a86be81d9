"""Every ```python snippet in README.md and docs/*.md runs, top to bottom, one namespace per file."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNIPPET = re.compile(r"```python\n(.*?)```", re.DOTALL)


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_doc_snippets_run(path: Path) -> None:
    snippets = SNIPPET.findall(path.read_text())
    assert snippets or path.name == "README.md", f"{path.name} has no python snippet"
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    for index, code in enumerate(snippets):
        if "pytest_plugins" in code:
            continue  # a conftest.py line, shown for users; not runnable outside a conftest
        try:
            exec(compile(code, f"{path.name}[{index}]", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{path.name} snippet {index} failed: {exc!r}\n{code}") from exc

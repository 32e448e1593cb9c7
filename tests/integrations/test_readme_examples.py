"""README's training-loop examples (```py blocks: not run by tests/test_readme.py, since
each needs a model and data; the tests beside this one run the same calls) are valid
Python whose curvecast imports exist and whose keyword arguments the classes take."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest
from conftest import need_module

README = Path(__file__).resolve().parents[2] / "README.md"


def examples() -> list[str]:
    text = README.read_text()
    start = text.index("## Training loops and trackers")
    section = text[start:text.index("\n## ", start + 1)]
    return re.findall(r"^```py\n(.*?)^```", section, re.DOTALL | re.MULTILINE)


def test_there_is_one_example_per_integration():
    imported = {m for code in examples() for m in re.findall(r"curvecast\.integrations\.(\w+)",
                                                             code)}
    assert imported == {"lightning", "transformers", "keras", "ray"}


@pytest.mark.parametrize("code", examples(), ids=lambda c: re.search(
    r"integrations\.(\w+)", c).group(1))
def test_an_example_names_what_exists(code):
    tree = ast.parse(code)
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module.startswith("curvecast."):
            framework = node.module.rsplit(".", 1)[1]
            need_module(framework, framework)
            module = importlib.import_module(node.module)
            names.update({a.name: getattr(module, a.name) for a in node.names})
    assert names
    for node in ast.walk(tree):  # keyword arguments given to curvecast's classes exist
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in names:
            params = inspect.signature(names[node.func.id]).parameters
            assert {k.arg for k in node.keywords} <= set(params), node.func.id

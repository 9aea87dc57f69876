"""The shape of the house: a thin runtime, tools beside it that import it one way, no import circle."""

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO

RUNTIME = REPO / "hear_mwmae"
TOOL_TREES = {"hear_mwmae_tools": REPO / "tools" / "hear_mwmae_tools", "training": REPO / "training",
              "benchmarks": REPO / "benchmarks", "recipes": REPO / "recipes"}
HEAVY = ("matplotlib", "pandas", "tensorflow", "heareval", "sklearn", "pytorch_lightning", "hear_mwmae_tools", "training")


def _module_name(path: Path, top: str, root: Path) -> str:
    parts = [top, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    """Every module ``path`` imports, anywhere in the file (function-level imports too), as absolute names."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}  # `from . import x` may name a module
    return found


def _graph(top: str, root: Path) -> dict[str, set[str]]:
    files = {_module_name(p, top, root): p for p in root.rglob("*.py")}
    return {m: {i for i in _imports(p, m) if i in files and i != m} for m, p in files.items()}


def test_runtime_has_no_import_circle():
    graph = _graph("hear_mwmae", RUNTIME)
    graph.pop("hear_mwmae", None)  # the package __init__ only re-exports (lazily); a submodule imports it implicitly
    for edges in graph.values():
        edges.discard("hear_mwmae")
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert "hear_mwmae.model" in graph and "hear_mwmae.checkpoint" in graph  # the walk saw the modules


def test_runtime_imports_no_tool_and_nothing_imports_the_cli():
    for module, path in ((_module_name(p, "hear_mwmae", RUNTIME), p) for p in RUNTIME.rglob("*.py")):
        tools = {i for i in _imports(path, module) if i.split(".")[0] in ("hear_mwmae_tools", "training", "benchmarks")}
        assert not tools, f"{path.relative_to(REPO)} imports the tools {sorted(tools)}"
        if module != "hear_mwmae.cli":
            assert "hear_mwmae.cli" not in _imports(path, module), f"{path.relative_to(REPO)} imports the CLI"
    for top, root in TOOL_TREES.items():
        for path in root.rglob("*.py"):
            imported = _imports(path, _module_name(path, top, root))
            assert not any(i == "hear_mwmae.cli" or i.startswith("hear_mwmae.cli.") for i in imported), \
                f"{path.relative_to(REPO)} uses the CLI as a library"


def test_import_and_embedding_load_no_tool_or_heavy_library():
    code = ("import sys, torch, hear_mwmae\n"
            "m = hear_mwmae.load_model()\n"
            "hear_mwmae.get_scene_embeddings(torch.zeros(1, 16000), m)\n"
            f"print(sorted(n for n in sys.modules if n.split('.')[0] in {HEAVY!r}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO / "tests", capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"loaded: {done.stdout}"


@pytest.mark.slow
def test_wheel_holds_only_the_runtime(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
                           str(REPO)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (wheel,) = tmp_path.glob("hear_mwmae-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert packages == {"hear_mwmae"}, packages
    modules = sorted(n for n in names if n.endswith(".py"))
    assert not [n for n in modules if any(t in n for t in ("analysis", "evaluation", "baselines"))], modules
    assert "hear_mwmae/weights/model.safetensors" in names and "hear_mwmae/api.py" in names

"""`import srlaw` stays light: the predictor must run where torch, lightning and dvc are absent."""

import subprocess
import sys

BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError('blocked in this test: ' + name)
sys.meta_path.insert(0, Block())
"""


def run_blocked(code, blocked):
    return subprocess.run([sys.executable, "-c", BLOCKER.format(blocked=set(blocked)) + code],
                          capture_output=True, text=True)


def test_import_srlaw_without_torch_lightning_dvc():
    proc = run_blocked("import srlaw, srlaw.data.quality, srlaw.data.dataset, srlaw.data.readers, srlaw.cli, "
                       "srlaw.grid, srlaw.grid.engine, srlaw.grid.command, srlaw.predictor; print('ok')",
                       ["torch", "lightning", "pytorch_lightning", "dvc", "dvclive", "onnx", "onnxruntime", "ray"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# ---------------------------------------------------------------- the house: wings, arrows pointing down

import ast  # noqa: E402
from functools import lru_cache  # noqa: E402
from pathlib import Path  # noqa: E402

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "srlaw"
# a wing may import from wings above it in this list, never from one below it (docs/layout.md)
ROLES = ("core", "data", "train", "grid", "law", "predictor", "report", "integrations", "library", "pipeline", "cli")
MAX_DEPTH = 8


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """srlaw module → the srlaw modules it imports (any import, also inside functions; ``__version__`` aside)."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "srlaw":
                for alias in node.names:  # `from srlaw.train import trainer` imports the module srlaw.train.trainer
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.split(".")[0] == "srlaw"}
        graph[name] = {d for d in deps if d in modules and d not in ("srlaw", name)}
    return graph


def _role(module: str) -> int:
    part = module.split(".")[1] if "." in module else "core"
    return ROLES.index(part)


def test_every_module_lives_in_a_wing():
    loose = [m for m in _graph() if m.count(".") == 1 and m.split(".")[1] not in ROLES]
    assert not loose, f"modules outside the wings {ROLES}: {loose}"


def test_no_import_points_up_the_wings():
    up = [f"{m} → {d}" for m, deps in _graph().items() for d in deps if m != "srlaw" and _role(d) > _role(m)]
    assert not up, up


def test_no_import_cycles_and_bounded_depth():
    graph = _graph()

    @lru_cache(maxsize=None)
    def depth(m: str, trail: tuple = ()) -> int:
        assert m not in trail, "import cycle: " + " → ".join((*trail, m))
        return 1 + max((depth(d, (*trail, m)) for d in graph[m]), default=0)

    deepest = max(graph, key=depth)
    assert depth(deepest) <= MAX_DEPTH, f"{deepest} sits {depth(deepest)} imports deep (limit {MAX_DEPTH})"


def test_small_rooms():
    """No class over 150 lines, no function over 80 (the argument parser aside: one flag a line)."""
    big = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                limit = 150 if isinstance(node, ast.ClassDef) else 80
                lines = node.end_lineno - node.lineno + 1
                if lines > limit and node.name != "build_parser":
                    big.append(f"{path.relative_to(PACKAGE)}:{node.name} {lines} lines")
    assert not big, big


def test_one_builder_writes_every_law_document():
    """law.json is assembled in one place (srlaw.law.schema.law_json): no other module spells its header."""
    from pathlib import Path
    src = Path(__file__).resolve().parents[1] / "src" / "srlaw"
    spelled = [p.relative_to(src).as_posix() for p in src.rglob("*.py") if '"schema_version":' in p.read_text()]
    assert spelled == ["law/schema.py"]

"""What distillation measured on a library dataset, as its released law carries it (``law.json`` ``distillation``).

``benchmarks/bench_distill.py`` trains, per dataset and seed, a teacher, each student size alone and the same
sizes distilled from the teacher (``srlaw distill``), all under the library's recipe. A library law whose dataset
was measured carries the result per student size: the distilled and the alone seed means, their seed sds, the
lift and whether it exceeds two sds of the difference, and the share of the teacher's lead recovered. ``advise``
offers such a student only at the size and on the dataset where it was measured (a recipe, not a size axis: the
law predicts nothing for distilled models).
"""

from __future__ import annotations

import json
from pathlib import Path

from srlaw.library.fits import METRICS
from srlaw.library.store import ROOT

BENCH = ROOT / "benchmarks" / "results" / "bench_distill.json"


def load_bench(path: Path = BENCH) -> dict | None:
    """The benchmark's results, or None where it was never run."""
    return json.loads(Path(path).read_text()) if Path(path).is_file() else None


def law_distillation(name: str, bench: dict | None, recipe_name: str,
                     source: str = BENCH.relative_to(ROOT).as_posix()) -> dict | None:
    """The ``distillation`` record of library dataset ``name`` (None: not measured, or under another recipe)."""
    if not bench or bench.get("recipe") != recipe_name or name not in bench.get("datasets", {}):
        return None
    rows = bench["datasets"][name]["summary"]
    size = lambda r: (r["n_layers"], r["d_model"])  # noqa: E731
    teacher = next(r for r in rows if r["arm"] == "teacher")
    alone = {size(r): r for r in rows if r["arm"] == "alone"}
    students = []
    for r in rows:
        if r["arm"] != "distilled" or size(r) not in alone:
            continue
        a = alone[size(r)]
        students.append({
            "n_layers": r["n_layers"], "d_model": r["d_model"], "params_non_embedding": r["params_non_embedding"],
            "seeds": r["seeds"], "share_of_teacher_params": r["share_of_teacher_params"],
            "teacher": {"n_layers": teacher["n_layers"], "d_model": teacher["d_model"],
                        "params_non_embedding": teacher["params_non_embedding"]},
            "metrics": {m: {"distilled": r[m], "distilled_seed_sd": r[f"{m}_seed_sd"], "alone": a[m],
                            "alone_seed_sd": a[f"{m}_seed_sd"], "teacher": teacher[m], "lift": r[f"{m}_lift"],
                            "lift_over_2sd": r[f"{m}_lift_over_2sd"], "gap_recovered": r[f"{m}_gap_recovered"],
                            "sampling_se": r[f"{m}_sampling_se"]} for m in METRICS}})
    if not students:
        return None
    return {"source": source, "recipe": recipe_name, "settings": bench["distill"],
            "n_users": bench["datasets"][name]["n_users"], "students": students,
            "note": "measured on this dataset at these sizes only (seed means); advise offers a distilled student "
                    "where it was measured, never at another size or on other data"}

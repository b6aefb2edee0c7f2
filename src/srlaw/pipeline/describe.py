"""``srlaw describe``: a user's own file → the law's inputs.

The file is prepared exactly as the pipeline prepares its data (the ``data`` section of ``params.yaml``: rating
threshold, k-core, short users — only the source, format and columns are the user's), scored with the pipeline's
``entropy`` settings, and placed on each law's data axis, with whether it falls inside the range the law was
fitted on.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from srlaw.core.settings import check
from srlaw.pipeline.params import Params
from srlaw.data.quality import data_score, entropy_scores
from srlaw.core.errors import SrlawError
from srlaw.pipeline.data_stages import prepare

LAWS = (Path("artifacts/law"), Path("artifacts/laws"))


def default_laws() -> list[Path]:
    """The pipeline's law and every law released under artifacts/laws/, where they exist."""
    out = [LAWS[0]] if (LAWS[0] / "law.json").is_file() else []
    return out + sorted(p.parent for p in LAWS[1].glob("*/law.json"))


def parse_columns(text: str | None) -> dict:
    """``user=uid,item=iid,timestamp=ts`` → ``{"user": "uid", ...}``."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        role, sep, column = part.partition("=")
        if not sep or not role.strip() or not column.strip():
            raise SrlawError(f"--columns must look like user=uid,item=iid,timestamp=ts; got {text!r}")
        out[role.strip()] = column.strip()
    return out


def describe(params: Params, source, fmt: str, columns: dict | None = None, delimiter: str | None = None,
             laws=None) -> dict:
    """Counts, every data-quality score, and D with its in-domain verdict for each law (paths or loaded laws)."""
    data = replace(params.data, source=str(source), format=fmt, columns=columns or {},
                   delimiter=delimiter or params.data.delimiter)
    check(data, "data", "the command line")
    ds, dropped = prepare(data)
    e = params.entropy
    scores = entropy_scores(ds.items, ds.offsets, ds.n_items, m=e.m, r=e.r, max_len=e.max_len)
    out = {"input": str(source), "format": fmt, "content_hash": ds.content_hash(), "n_users": int(ds.n_users),
           "n_items": int(ds.n_items), "n_interactions": int(len(ds.items)), "dropped": dropped,
           "preparation": {"rating_threshold": data.rating_threshold, "kcore": data.kcore,
                           "min_user_interactions": data.min_user_interactions, "params": params.path},
           "scores": scores, "laws": []}
    from srlaw.predictor import Law, LawError
    for path in (laws if laws is not None else default_laws()):
        try:
            law = path if isinstance(path, Law) else Law.load(path)  # a loaded law keeps how it was verified
        except LawError as err:
            out["laws"].append({"law": str(path), "error": str(err)})
            continue
        axis = law.doc.get("data_axis", {}).get("score", "markov_ndcg@10")
        d = data_score(scores, axis, str(source))
        lo, hi = law.doc["domain"]["data"]
        out["laws"].append({"law": str(getattr(law, "source", path)) if isinstance(path, Law) else str(path),
                            "axis": axis, "D": d, "domain": [lo, hi],
                            "inside": bool(lo * (1 - 1e-9) <= d <= hi * (1 + 1e-9))})
    return out


def render(desc: dict) -> str:
    s = desc["scores"]
    lines = [f"{desc['input']} ({desc['format']}): {desc['n_users']:,} users, {desc['n_items']:,} items, "
             f"{desc['n_interactions']:,} interactions after the pipeline's preparation "
             f"(k-core {desc['preparation']['kcore']}, from {desc['preparation']['params']})",
             f"data quality: markov_ndcg@10 {s['markov_ndcg@10']:.4f}, markov_hr@10 {s['markov_hr@10']:.4f}, "
             f"ApEn {s['apen_mean']:.4f}, pooled ApEn {s['pooled_apen']:.4f}", ""]
    if not desc["laws"]:
        lines.append("no law found (artifacts/law, artifacts/laws/*): give --law")
    for entry in desc["laws"]:
        if "error" in entry:
            lines.append(f"{entry['law']}: not usable: {entry['error']}")
            continue
        lo, hi = entry["domain"]
        verdict = "inside" if entry["inside"] else "OUTSIDE"
        lines.append(f"{entry['law']}: D = {entry['D']:.4g} on its axis {entry['axis']}; fitted on "
                     f"[{lo:.4g}, {hi:.4g}]: {verdict}")
    return "\n".join(lines)

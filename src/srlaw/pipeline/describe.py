"""``srlaw describe``: a user's own file → the law's inputs.

The file is prepared as ``run`` and ``calibrate`` prepare it (:mod:`srlaw.data.prepare`), scored with the
pipeline's ``entropy`` settings, and placed on each law's data axis, with whether it falls inside the range the
law was fitted on; outside every law, it says how to get one for this data (``srlaw calibrate``).
"""

from __future__ import annotations

from pathlib import Path

from srlaw.data.settings import DataConfig, EntropyConfig
from srlaw.data.quality import data_score, entropy_scores
from srlaw.data.prepare import preparation_line, prepare

LAWS = (Path("artifacts/law"), Path("artifacts/laws"))


def default_laws() -> list[Path]:
    """The pipeline's law and every law released under artifacts/laws/, where they exist."""
    out = [LAWS[0]] if (LAWS[0] / "law.json").is_file() else []
    return out + sorted(p.parent for p in LAWS[1].glob("*/law.json"))


def describe(entropy: EntropyConfig, data: DataConfig, laws=None) -> dict:
    """Counts, every data-quality score, and D with its in-domain verdict for each law (paths or loaded laws)."""
    ds, dropped = prepare(data)
    scores = entropy_scores(ds.items, ds.offsets, ds.n_items, m=entropy.m, r=entropy.r, window=entropy.window)
    out = {"input": data.source, "format": data.format, "content_hash": ds.content_hash(), "n_users": int(ds.n_users),
           "n_items": int(ds.n_items), "n_interactions": int(len(ds.items)), "dropped": dropped,
           "preparation": {"rating_threshold": data.rating_threshold, "kcore": data.kcore,
                           "min_user_interactions": data.min_user_interactions},
           "preparation_line": preparation_line(data, ds.n_users, ds.n_items, len(ds.items)),
           "scores": scores, "laws": []}
    from srlaw.core.errors import LawError
    from srlaw.predictor.law import Law
    for path in (laws if laws is not None else default_laws()):
        try:
            law = path if isinstance(path, Law) else Law.load(path)  # a loaded law keeps how it was verified
        except LawError as err:
            out["laws"].append({"law": str(path), "error": str(err)})
            continue
        axis = law.doc.get("data_axis", {}).get("score", "markov_ndcg@10")
        d = data_score(scores, axis, data.source)
        lo, hi = law.doc["domain"]["data"]
        out["laws"].append({"law": str(getattr(law, "source", path)) if isinstance(path, Law) else str(path),
                            "axis": axis, "D": d, "domain": [lo, hi],
                            "inside": bool(lo * (1 - 1e-9) <= d <= hi * (1 + 1e-9))})
    return out


def render(desc: dict) -> str:
    s = desc["scores"]
    lines = [desc["preparation_line"],
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
    usable = [e for e in desc["laws"] if "error" not in e]
    if not any(e["inside"] for e in usable):
        lines += ["", f"no law covers this data: calibrate one on it with `srlaw calibrate --input {desc['input']} "
                      f"--format {desc['format']} --out DIR` (the library's law for your data from a few cheap runs)"]
    return "\n".join(lines)

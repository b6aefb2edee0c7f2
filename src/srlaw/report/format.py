"""How a report writes a number and a figure: one percentage format, PNGs without a software stamp."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srlaw.core.atomic import write_bytes_atomic


def save_png(fig, path: Path, dpi: int = 110) -> None:
    """Write a figure as PNG atomically, without the software stamp (same figure, same bytes)."""
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    write_bytes_atomic(path, buf.getvalue())


def pct(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.1f} %"

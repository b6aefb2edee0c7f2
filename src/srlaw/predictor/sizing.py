"""What a law knows about the candidates it sizes: the model shape and item table it was fitted under, parameter
counts for your catalogue, the collapse risk its library measured, latency and the default candidate grid."""

from __future__ import annotations

import numpy as np

from srlaw.core.errors import LawFileError, LawInputError
from srlaw.core.sizing import (MAX_ITEMS, MAX_LAYERS, MAX_WIDTH, SHAPE_KEYS, item_embedding_params,
                               non_embedding_params, total_params)


class Sizing:
    """The sizing half of :class:`srlaw.predictor.Law`; reads ``doc``, ``source``, ``latency`` and
    ``latency_model``, which the law sets when it loads."""


    def _shape(self) -> dict:
        """The model shape the law was fitted under (training_protocol.train), as the sizing formulas take it."""
        train = self.doc.get("training_protocol", {}).get("train", {})
        missing = [k for k in SHAPE_KEYS if k not in train]
        if missing:
            raise LawFileError(f"{self.source}: training_protocol.train lacks {', '.join(missing)}; "
                               "candidates cannot be sized (refit the law with this srlaw)")
        return {k: train[k] for k in SHAPE_KEYS}

    @property
    def item_embedding(self) -> dict:
        """How the law's runs built their item table: ``{"item_embedding": "full"}`` or ``"jpq"`` with its settings.

        The law's size axis is non-embedding parameters; the item table is part of the recipe, so a law predicts
        models with the item embedding it was fitted on (laws from before RecJPQ: full).
        """
        train = self.doc.get("training_protocol", {}).get("train", {})
        kind = train.get("item_embedding", "full")
        if kind == "full":
            return {"item_embedding": "full"}
        jpq = train.get("jpq")
        if kind != "jpq" or not isinstance(jpq, dict) or isinstance(jpq.get("n_centroids"), bool) \
                or not isinstance(jpq.get("n_centroids"), int) or jpq["n_centroids"] < 2:
            raise LawFileError(f"{self.source}: training_protocol.train.item_embedding = {kind!r} with jpq = "
                               f"{jpq!r}: expected 'full', or 'jpq' with an integer n_centroids >= 2")
        return {"item_embedding": "jpq", "jpq": dict(jpq)}

    @property
    def unstable(self) -> set[tuple[int, int]]:
        """(n_layers, d_model) sizes that diverged under the law's recipe on the library's datasets: never advised."""
        return {(int(u["n_layers"]), int(u["d_model"])) for u in self.doc.get("unstable", [])}

    def collapse_risk(self, n_layers, d_model) -> np.ndarray:
        """Share of the library's runs at each (n_layers, d_model) that collapsed under the law's recipe.

        A depth the library never trained at that width takes the linear interpolation between its trained
        neighbours in depth (the nearest one's rate beyond them): collapse grows with depth, and 3 × 256 between
        a safe 2 × 256 and a diverging 4 × 256 is no safe bet. 0 where the law lists nothing for the width.
        """
        rate = self._collapse_rates()
        N, d = np.broadcast_arrays(np.asarray(n_layers, float), np.asarray(d_model, float))
        out = []
        for n, w in zip(N.ravel(), d.ravel()):
            depths = sorted(k for k, width in rate if width == w)
            if (n, w) in rate or not depths:
                out.append(rate.get((int(n), int(w)), 0.0))
                continue
            lo = max((k for k in depths if k < n), default=depths[0])
            hi = min((k for k in depths if k > n), default=depths[-1])
            t = 0.0 if hi == lo else (n - lo) / (hi - lo)
            out.append((1 - t) * rate[(lo, int(w))] + t * rate[(hi, int(w))])
        return np.array(out, float).reshape(N.shape)

    def collapse_trained(self, n_layers, d_model) -> np.ndarray:
        """Whether the library trained each size (its collapse risk measured, not interpolated)."""
        seen = self._collapse_rates()
        N, d = np.broadcast_arrays(np.asarray(n_layers, float), np.asarray(d_model, float))
        return np.array([(int(n), int(w)) in seen for n, w in zip(N.ravel(), d.ravel())], bool).reshape(N.shape)

    def _collapse_rates(self) -> dict[tuple[int, int], float]:
        return {(int(c["n_layers"]), int(c["d_model"])): c["collapsed"] / c["runs"]
                for c in self.doc.get("collapse", [])}

    def catalogue(self, n_items: int | None = None) -> int:
        """Your catalogue size, checked; by default the law's own (0 when the law does not say)."""
        if n_items is None:
            return int(self.doc.get("n_items") or (self.latency or {}).get("n_items") or 0)
        if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or not 1 <= n_items <= MAX_ITEMS:
            raise LawInputError(f"n_items must be an integer in [1, {MAX_ITEMS:,}], got {n_items!r}")
        return int(n_items)

    def params_of(self, n_layers, d_model, n_items: int | None = None):
        """(non-embedding, total) parameter counts of candidates; ``n_items`` is your catalogue (default: the law's)."""
        shape = self._shape()
        for name, v, cap in (("n_layers", n_layers, MAX_LAYERS), ("d_model", d_model, MAX_WIDTH)):
            a = np.asarray(v, float)
            if not (np.all(np.isfinite(a)) and np.all(a >= 1) and np.all(a <= cap)):
                raise LawInputError(f"{name} must be in [1, {cap:,}] to count parameters, got {v!r:.60}")
        return (non_embedding_params(n_layers, d_model, **shape),
                total_params(n_layers, d_model, self.catalogue(n_items), **shape, **self.item_embedding))

    def item_table_params(self, d_model, n_items: int | None = None, item_embedding: dict | None = None):
        """Parameters of the item table at width ``d_model`` (the law's item embedding unless one is given)."""
        return item_embedding_params(d_model, self.catalogue(n_items), **(item_embedding or self.item_embedding))

    def latency_of(self, n_layers, d_model, non_embedding, n_items: int | None = None):
        """Latency in ms (measured by the latency stage where available, else the stored latency model), and which."""
        if self.latency_model is None:
            return np.full(np.shape(n_layers), np.nan), np.zeros(np.shape(n_layers), bool)
        return self.latency_model(n_layers, d_model, non_embedding, n_items)

    def default_candidates(self):
        dom = self.doc["domain"]
        depths = np.arange(1, int(2 * dom["n_layers"][1]) + 1)
        widths = 2.0 ** np.arange(np.floor(np.log2(dom["d_model"][0])), np.ceil(np.log2(dom["d_model"][1])) + 2)
        N, d = np.meshgrid(depths, widths, indexing="ij")
        return N.ravel(), d.ravel()

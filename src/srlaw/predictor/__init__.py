"""Load a fitted performance law and advise deployment sizing — numpy and the standard library only.

    from srlaw.predictor import Law
    law = Law.load("artifacts/law")
    law.predict(n_layers=2, d_model=64, variant="full")          # metric with a 95 % prediction interval
    law.advise(target={"ndcg@10": 0.05}, budget={"params": 5e6, "latency_ms": 2.0}, variant="full")

In parts: :mod:`~srlaw.predictor.artifact` (reading and integrity), :mod:`~srlaw.predictor.law` (prediction),
:mod:`~srlaw.predictor.latency` (serving latency), :mod:`~srlaw.predictor.advisor` (sizing under constraints).
Predictions outside the fitted domain are flagged and warned about, never silently extrapolated.
"""

from srlaw.core.errors import (LawDomainWarning, LawError, LawFileError, LawInputError, LawIntegrityError,
                          LawSchemaError)
from srlaw.predictor.advisor import Advice, Constraint
from srlaw.predictor.law import Law, Prediction

__all__ = ["Advice", "Constraint", "Law", "LawDomainWarning", "LawError", "LawFileError", "LawInputError",
           "LawIntegrityError", "LawSchemaError", "Prediction"]

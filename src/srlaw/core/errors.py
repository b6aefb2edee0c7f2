"""srlaw's error family: one class per layer, every one an expected failure the CLI prints as one line.

Standard library only (the predictor imports it). Each class subclasses ``ValueError`` as well, so callers that
caught ``ValueError`` before these existed keep working.
"""

from __future__ import annotations


class SrlawError(Exception):
    """Base of every expected srlaw failure; its message names the file, line, field or parameter."""


class ParamsError(SrlawError, ValueError):
    """A params file (``params.yaml``, a study's params) with an unknown key or an invalid value."""


class DataError(SrlawError, ValueError):
    """Interaction data that cannot be read or prepared (see :class:`srlaw.data.readers.InputFormatError`)."""


class LawFitError(SrlawError, ValueError):
    """A law that cannot be fitted: too few runs for the form, or no start converged."""


class ExportError(SrlawError, RuntimeError):
    """An artifact that must not ship: ONNX Runtime disagrees with torch, a run to export is missing."""


class LawError(SrlawError):
    """Base class of every error the predictor raises (loading, integrity, bad arguments)."""


class UnknownFormError(LawError, KeyError):
    """A law form name that :data:`srlaw.law.forms.FORMS` does not hold."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class LawFileError(LawError):
    """The law artifact is missing or is not valid law JSON."""


class LawSchemaError(LawError):
    """The artifact's schema version is newer than this predictor understands."""


class LawIntegrityError(LawError):
    """A file's sha256 does not match the manifest: the file is not used."""


class LawInputError(LawError, ValueError):
    """Bad arguments to predict/advise (unknown metric, missing data value, bad budget...)."""


class LawDomainWarning(UserWarning):
    """A prediction lies outside the range of configurations and data the law was fitted on."""

"""CDS Hooks 2.0 protocol and FHIR data access.

This package knows nothing of any drug: it validates hook requests, resolves prefetch data (falling back to
the EHR's FHIR server), builds a read-only patient record, runs the card families a service registers and
serialises their cards. Clinical content lives in the ``cards`` package; ``cds.main`` assembles the two.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tacrolimus-cds")  # one source: pyproject.toml
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

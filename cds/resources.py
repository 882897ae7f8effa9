"""Resources that cards propose in suggestion actions: built as plain JSON, then checked against the FHIR
R4B models of fhir.resources before they leave the service.

Full model validation is kept here, off the path that reads the request: it costs far more than parsing
and rejects the not-quite-R4 resources EHRs send. What we emit, we check. fhir.resources checks structure
(required elements, types, cardinality), not the values of codes: those come from reviewed knowledge.
"""

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from cds.errors import InvalidResource


def checked(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as valid R4B JSON; raises InvalidResource saying what is wrong."""
    kind = resource.get("resourceType")
    try:
        model = get_fhir_model_class(str(kind))
    except (KeyError, ValueError):
        raise InvalidResource(f"{kind!r} is not an R4B resource type") from None
    try:
        instance = model.model_validate(resource)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])
        raise InvalidResource(f"{kind} is not valid R4B: {problems}") from None
    data: dict[str, Any] = instance.model_dump(mode="json", exclude_none=True)
    return data

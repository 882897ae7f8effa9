"""The SMART app: the patient's tacrolimus level story, launched from the EHR (SMART App Launch 2.x).

The EHR opens ``/smart/launch?iss=...&launch=...`` (a card's ``smart`` link). The app checks ``iss``
against ``CDS_SMART_ISSUERS``, reads the EHR's ``{iss}/.well-known/smart-configuration`` through the
service's own FHIR client, and sends the browser to the EHR's authorization endpoint: authorization code,
PKCE (S256), a random ``state``, read scopes for the patient in context. The EHR sends the browser back to
``/smart/callback`` with a code; the app exchanges it (with the PKCE verifier) for an access token, keeps
the token in this process's memory for the session, and shows ``/smart/app``: the patient's record fetched
from the EHR's FHIR server as the hook path builds it (``Evaluator.fetch_record``), drawn by the renderer
the app is assembled with (``cds/main.py``: the picture is clinical content, in ``cards``).

The session is a random opaque cookie (HttpOnly, SameSite=Lax, Secure on https); the access token is never
logged, never put in a URL or a page, and ends with the session, or sooner with the token's expires_in.
See docs/smart-app.md.
"""

from cds.service import StoryRenderer
from cds.smart.routes import add_smart_app, launch_url

__all__ = ["StoryRenderer", "add_smart_app", "launch_url"]

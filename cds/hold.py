"""The repeat hold: a `warning` or `info` card a clinician overrode for a patient is not shown again to
that patient for the site's number of days; `critical` cards are never held back.

CDS Hooks feedback names only the card's uuid. So each warning and info card returned is remembered (with
the audit, off the request path) by uuid with its patient's pseudonym and its hold key (what makes two
cards "the same card": a topic and a drug pair, say; `Card.hold_key`); an overridden uuid then holds that
pseudonym and key until the hold ends. The pseudonym is an HMAC-SHA256 of the FHIR server and the patient
id under the service's secret (`CDS_HMAC_KEY`): no patient id is stored in clear. Remembered uuids are
kept `ISSUED_DAYS` days; holds until they end. Expired rows are deleted as feedback arrives and as the
audit is written.
"""

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence

from pydantic import SecretStr

from cds.models import Card

log = logging.getLogger(__name__)
ISSUED_DAYS = 14  # how long a card's uuid is remembered for feedback that may override it


class RepeatHold:
    def __init__(self, days: int, secret: SecretStr | None) -> None:
        self.days = days
        if secret is None and days:
            log.warning(
                "CDS_HMAC_KEY is not set: the repeat hold uses a random key of this process, so holds end"
                " when it restarts and are not shared with other workers or replicas"
            )
        self._key = secret.get_secret_value().encode() if secret else secrets.token_bytes(32)

    @property
    def on(self) -> bool:
        return self.days > 0

    def patient_key(self, fhir_server: str, patient_id: str) -> str:
        """The patient's pseudonym: the same for the same FHIR server and patient, and nothing else."""
        message = f"{fhir_server.rstrip('/')}|{patient_id}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:40]

    @staticmethod
    def candidates(cards: Sequence[Card]) -> set[str]:
        """The hold keys of the cards that may be held back (never a critical one)."""
        return {card.hold_key for card in cards if card.indicator != "critical"}

    @staticmethod
    def without(cards: Sequence[Card], held: set[str]) -> list[Card]:
        return [card for card in cards if card.indicator == "critical" or card.hold_key not in held]

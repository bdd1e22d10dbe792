"""The signed identity every issued workbook carries: which team, form, version and cycle.

Sheet passwords only stop accidents. The identity is signed with HMAC-SHA256 under the
workspace secret, which never leaves .participation/, so a workbook whose identity was
edited, or copied into another team's file, is caught on collect.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Mapping

KEYS = ("form", "form_version", "cycle", "team_id", "generated_at")
SIGNATURE = "signature"
PROPERTY_PREFIX = "participation-xl "
# Unsigned hints beside the identity (custom properties only), so that a rejection can
# blame the right party: which key signed the workbook (another workspace's, or ours with
# the identity edited), and which layout and schema it was issued from (the pack changed
# since, or the team moved cells). Editing them changes only the wording of a rejection.
KEY_ID = "key_id"
FORM_DIGEST = "form_digest"
HINTS = (KEY_ID, FORM_DIGEST)


def sign(identity: Mapping[str, str], secret: bytes) -> str:
    """The hex HMAC-SHA256 of the identity fields, in a fixed canonical form."""
    message = json.dumps([str(identity.get(k, "")) for k in KEYS], ensure_ascii=True)
    return hmac.new(secret, message.encode("ascii"), hashlib.sha256).hexdigest()


def verify(identity: Mapping[str, str], signature: str, secret: bytes) -> bool:
    """True when the signature matches the identity under this workspace's secret."""
    return hmac.compare_digest(sign(identity, secret), str(signature or ""))


@functools.lru_cache(maxsize=8)
def key_id(secret: bytes) -> str:
    """A short public name for a key: it tells keys apart and reveals nothing of them."""
    return hmac.new(secret, b"participation-xl key id", hashlib.sha256).hexdigest()[:16]

"""The signed identity every issued workbook carries: which team, form, version and cycle.

Sheet passwords only stop accidents. The identity is signed with HMAC-SHA256 under the
workspace secret, which never leaves .participation/, so a workbook whose identity was
edited, or copied into another team's file, is caught on collect.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

KEYS = ("form", "form_version", "cycle", "team_id", "generated_at")
SIGNATURE = "signature"
PROPERTY_PREFIX = "participation-xl "


def sign(identity: Mapping[str, str], secret: bytes) -> str:
    """The hex HMAC-SHA256 of the identity fields, in a fixed canonical form."""
    message = json.dumps([str(identity.get(k, "")) for k in KEYS], ensure_ascii=True)
    return hmac.new(secret, message.encode("ascii"), hashlib.sha256).hexdigest()


def verify(identity: Mapping[str, str], signature: str, secret: bytes) -> bool:
    """True when the signature matches the identity under this workspace's secret."""
    return hmac.compare_digest(sign(identity, secret), str(signature or ""))

"""The `claims` request parameter (OpenID Connect Core 5.5): claims asked for one by one.

A service may ask for a claim by name, for the ID token or for userinfo, without the scope
that would bring it. Asking is all it does: the claim is still released only if the
service's registered policy allows it (and, on the consent basis, the citizen agreed).
Claims we do not know are ignored, as the specification says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from authlib.oauth2.rfc6749.errors import InvalidRequestError

from clients.claims import CITIZEN_CLAIMS

MAX_LENGTH = 4096
TARGETS = ("userinfo", "id_token")


@dataclass(frozen=True)
class ClaimsRequest:
    userinfo: tuple[str, ...] = ()
    id_token: tuple[str, ...] = ()
    # From {"id_token": {"acr": {"essential": true, "values": [...]}}}.
    acr_values: tuple[str, ...] = ()
    acr_essential: bool = False
    # From {"id_token": {"sub": {"value": "..."}}}: only this subject may be answered for.
    sub: str | None = None

    @property
    def all_claims(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.id_token, *self.userinfo)))


def _refuse(description: str):
    return InvalidRequestError(f"claims: {description}")


def _strings(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _refuse(f"{where} must be a list of strings.")
    return tuple(value)


def parse(raw: str | None) -> ClaimsRequest:
    """Parse and check the parameter; a malformed one is refused with invalid_request."""
    if raw is None or raw == "":
        return ClaimsRequest()
    if len(raw) > MAX_LENGTH:
        raise _refuse(f"longer than {MAX_LENGTH} characters.")
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):  # nested deeper than the parser recurses
        raise _refuse("not valid JSON.") from None
    if not isinstance(document, dict):
        raise _refuse("must be a JSON object.")
    requested: dict[str, tuple[str, ...]] = {}
    acr_values: tuple[str, ...] = ()
    acr_essential = False
    sub = None
    for target in TARGETS:
        members = document.get(target)
        if members is None:
            requested[target] = ()
            continue
        if not isinstance(members, dict):
            raise _refuse(f"{target} must be a JSON object.")
        names = []
        for name, spec in members.items():
            if spec is not None and not isinstance(spec, dict):
                raise _refuse(f"{target}.{name} must be null or an object.")
            spec = spec or {}
            if not isinstance(spec.get("essential", False), bool):
                raise _refuse(f"{target}.{name}.essential must be true or false.")
            if "values" in spec:
                _strings(spec["values"], f"{target}.{name}.values")
            if name == "acr" and target == "id_token":
                if "value" in spec and not isinstance(spec["value"], str):
                    raise _refuse("id_token.acr.value must be a string.")
                acr_values = (spec["value"],) if "value" in spec else tuple(spec.get("values", ()))
                acr_essential = spec.get("essential", False)
            elif name == "sub" and "value" in spec:
                if not isinstance(spec["value"], str):
                    raise _refuse(f"{target}.sub.value must be a string.")
                if sub is not None and sub != spec["value"]:
                    raise _refuse("two different sub values.")
                sub = spec["value"]
            elif name in CITIZEN_CLAIMS:
                names.append(name)
        requested[target] = tuple(dict.fromkeys(names))
    return ClaimsRequest(
        userinfo=requested["userinfo"],
        id_token=requested["id_token"],
        acr_values=acr_values,
        acr_essential=acr_essential,
        sub=sub,
    )

"""Fill a scratch database for `make bench` and print what the load needs, as JSON.

    .venv/bin/python bench/seed.py CITIZENS REDIRECT_URI     (DATABASE_URL etc. in the env)

Registers a service-to-service client (client_credentials, scope attributes:read) and a
login client (a public authority receiving the profile on its public task), and CITIZENS
citizens `bench0`, `bench1`, … with one password, each its own TOTP seed and its own passkey.
Every citizen's password hash is one real argon2id hash of that password, made once: hashing
it per citizen would only make seeding slow, and a login verifies it at full cost all the same.
Each passkey is a software authenticator (bench/login_load.py's `SoftPasskey`, an ES256 key
pair) registered through Tillid's own registration ceremony (`passkeys.registration_options`
and `passkeys.register`, which verify the attestation as for a browser); its private key goes
into the output's ``passkeys``, for `login_load.py --method passkey`.
"""

from __future__ import annotations

import json
import sys

import pyotp
from login_load import SoftPasskey  # bench/, beside this script

from clients import service as clients
from idp.app import create_app
from idp.authenticators import passkeys as passkey_ceremonies
from idp.authenticators import totp
from idp.citizens import service as citizens
from idp.core import passwords

PASSWORD = "bench-Fjord-Solsikke-7"  # noqa: S105 (a fictitious bench citizen's)


def main(count: int, redirect_uri: str) -> None:
    app = create_app()
    with app.app_context():
        one_hash = passwords.hash_password(PASSWORD)
        passwords.hash_password = lambda _password: one_hash  # see the module docstring
        seeds, passkeys = {}, {}
        for index in range(count):
            username = f"bench{index}"
            seeds[username] = pyotp.random_base32()
            data = citizens.validate(
                cpr=f"010190{index:04d}", given_name="Bench", family_name=f"Citizen {index}"
            )
            citizen = totp.register_with_app(
                data, username=username, password=PASSWORD, secret=seeds[username]
            )
            passkeys[username] = register_passkey(app, citizen)
        service, service_secret = clients.register({
            "name": "Bench service", "kind": "public_authority",
            "grant_types": ["client_credentials"], "scope": "profile attributes:read",
            "legal_basis": "public_task", "purpose": "Benchmarking",
        })  # fmt: skip
        rs256, rs256_secret = clients.register({
            "name": "Bench service RS256", "kind": "public_authority",
            "grant_types": ["client_credentials"], "scope": "profile attributes:read",
            "legal_basis": "public_task", "purpose": "Benchmarking",
            "access_token_signed_response_alg": "RS256",
        })  # fmt: skip
        login, login_secret = clients.register({
            "name": "Bench login", "kind": "public_authority", "redirect_uris": [redirect_uri],
            "scope": "openid profile", "legal_basis": "public_task", "purpose": "Benchmarking",
        })  # fmt: skip
        json.dump(
            {
                "password": PASSWORD,
                "totp_seeds": seeds,
                "passkeys": passkeys,
                "service": {"client_id": service.client_id, "client_secret": service_secret},
                "service_rs256": {"client_id": rs256.client_id, "client_secret": rs256_secret},
                "login": {
                    "client_id": login.client_id,
                    "client_secret": login_secret,
                    "redirect_uri": redirect_uri,
                },
            },
            sys.stdout,
        )


def register_passkey(app, citizen) -> dict:
    """A new software passkey for ``citizen``, through the registration ceremony."""
    with app.test_request_context("/"):
        options = json.loads(passkey_ceremonies.registration_options(citizen))
        passkey = SoftPasskey()
        answer = passkey.register(options, passkey_ceremonies.expected_origin())
        passkey_ceremonies.register(citizen, answer, "Bench passkey")
    return passkey.to_json()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])

"""Stored credentials: writing their secret (encrypted), and resolving the names a
workflow uses into what the engine's http nodes apply (services["credentials"]).

Decrypted secrets live only in the run's services mapping, for the run's duration: they
are not logged, recorded, cached or returned (docs/security.md)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import engine
from workflows import secrets
from workflows.models import Credential, CredentialKind

log = logging.getLogger(__name__)

#: what each kind's secret is made of (the API's and the admin's write-only fields)
SECRET_FIELDS = {
    CredentialKind.BEARER: ("token",),
    CredentialKind.BASIC: ("username", "password"),
    CredentialKind.API_KEY: ("api_key",),
}


def set_secret(credential: Credential, values: dict[str, str]) -> None:
    """Encrypt the secret (`values` holds exactly the kind's SECRET_FIELDS)."""
    fields = SECRET_FIELDS[CredentialKind(credential.kind)]
    credential.encrypted = secrets.encrypt(
        json.dumps({name: values[name] for name in fields}).encode())


def engine_config(credential: Credential) -> dict[str, Any]:
    """The credential as the engine's http nodes take it ({base_url, auth})."""
    secret = json.loads(secrets.decrypt(credential.encrypted))
    kind = CredentialKind(credential.kind)
    if kind is CredentialKind.BEARER:
        auth = {"type": "bearer", "token": secret["token"]}
    elif kind is CredentialKind.BASIC:
        auth = {"type": "basic", "username": secret["username"], "password": secret["password"]}
    else:
        auth = {"type": "api_key", "name": credential.header or "X-API-Key",
                "value": secret["api_key"]}
    return {"base_url": credential.base_url, "auth": auth}


#: node fields that name a stored credential: on the platform a named HTTP client
#: (`http_client_uid`) is the owner's stored credential of that name
NAMING_FIELDS = ("credential", "http_client_uid")


def names_used(workflow: engine.Workflow) -> frozenset[str]:
    """The credential names the workflow's nodes (loop bodies included) refer to, as
    `credential` or as `http_client_uid`."""
    found: set[str] = set()
    _collect(workflow.nodes, found)
    return frozenset(found)


def _collect(nodes: Iterable[Any], found: set[str]) -> None:
    for node in nodes:
        for field in NAMING_FIELDS:
            name = node.config.get(field)
            if isinstance(name, str) and name:
                found.add(name)
        for value in node.config.values():
            if isinstance(value, engine.Workflow):
                _collect(value.nodes, found)


def resolve(owner_id: int | None, names: frozenset[str]) -> dict[str, dict[str, Any]]:
    """name -> engine config for the owner's credentials among `names`. A name the owner
    has no credential for is left out (the node then fails: "unknown credential"); so is
    one no configured key can decrypt, with a warning that names it (not its secret)."""
    if not names or owner_id is None:
        return {}
    resolved: dict[str, dict[str, Any]] = {}
    for credential in Credential.objects.filter(owner_id=owner_id, name__in=names):
        try:
            resolved[credential.name] = engine_config(credential)
        except secrets.InvalidToken:
            log.warning("credential %r of user %s cannot be decrypted with the configured "
                        "THAIYYAL_CREDENTIAL_KEYS", credential.name, owner_id)
    return resolved

"""Step 5, sink: which Azure storage account an ``az://`` lake is in, from the environment.

Owns ``AzureAccount`` and ``azure_account``: a connection string, an account URL or an account
name, checked when the settings load so a missing or malformed account exits 2 before any
request. Imports no Azure SDK (the settings stay light); ``azure.py`` builds the client from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from producer.errors import ConfigError

__all__ = ["AzureAccount", "azure_account"]

_ACCOUNT_RE = re.compile(r"^[a-z0-9]{3,24}$")


@dataclass(frozen=True, slots=True)
class AzureAccount:
    """How to reach the storage account: a connection string, or an account URL (then the
    default credential chain signs the requests). ``name`` is for descriptions only."""

    name: str
    connection_string: str | None = None
    url: str | None = None


def azure_account(environ: Mapping[str, str]) -> AzureAccount:
    """The account from the environment, or a one-line ``ConfigError`` naming the variable.

    ``AZURE_STORAGE_CONNECTION_STRING`` wins (Azurite, shared keys); else
    ``AZURE_STORAGE_ACCOUNT_URL`` (a sovereign cloud, a private endpoint); else
    ``AZURE_STORAGE_ACCOUNT`` (``https://{account}.blob.core.windows.net``).
    """
    connection = environ.get("AZURE_STORAGE_CONNECTION_STRING", "").strip()
    if connection:
        fields = dict(part.split("=", 1) for part in connection.split(";") if "=" in part.strip())
        if fields.get("UseDevelopmentStorage", "").lower() == "true":
            return AzureAccount("devstoreaccount1", connection_string=connection)  # Azurite
        if not (fields.get("AccountName") or fields.get("BlobEndpoint")):
            raise ConfigError(
                "AZURE_STORAGE_CONNECTION_STRING: names no AccountName or BlobEndpoint"
            )
        return AzureAccount(fields.get("AccountName") or "?", connection_string=connection)
    url = environ.get("AZURE_STORAGE_ACCOUNT_URL", "").strip().rstrip("/")
    if url:
        if not re.match(r"^https?://[^\s/]+(/[^\s/]+)?$", url):
            raise ConfigError(
                f"AZURE_STORAGE_ACCOUNT_URL: expected https://ACCOUNT.blob.core.windows.net, "
                f"got {url!r}"
            )
        return AzureAccount(url.split("//", 1)[1].split(".", 1)[0], url=url)
    name = environ.get("AZURE_STORAGE_ACCOUNT", "").strip()
    if not name:
        raise ConfigError(
            "AZURE_STORAGE_ACCOUNT: an az:// lake needs the storage account "
            "(or AZURE_STORAGE_ACCOUNT_URL, or AZURE_STORAGE_CONNECTION_STRING)"
        )
    if not _ACCOUNT_RE.match(name):
        raise ConfigError(
            f"AZURE_STORAGE_ACCOUNT: {name!r} is not a storage account name "
            "(3 to 24 lowercase letters and digits)"
        )
    return AzureAccount(name, url=f"https://{name}.blob.core.windows.net")

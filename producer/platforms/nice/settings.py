"""NICE CXone's configuration: its ``MESH_{DOMAIN}__NICE_*`` variables and checks (settings layer).

``NiceDomainFields``: a domain's own access key and hosts (every domain);
``NiceTelephonyFields`` and ``NiceQualityFields``: the knobs of the Telephony and Quality
extractors. ``RULES``: the area host, key id and exactly one secret required on an enabled
domain, and WFM refused (``WFM_REFUSAL``, also the line ``registry.nice_spec("wfm")`` raises).
Mixins of the settings model (``producer.settings.platforms`` composes them); imports only
pydantic and ``producer.settings.base``. Facts and their sources: ``docs/nice.md``. Pure
declarations.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from producer.settings.base import BASE_URL, PlatformRules, ReadableFile

__all__ = [
    "RULES",
    "WFM_REFUSAL",
    "NiceDomainFields",
    "NiceQualityFields",
    "NiceTelephonyFields",
]

WFM_REFUSAL = (
    "nice is not supported: CXone documents no published-schedule source with a host, path "
    "and shift fields (see docs/nice.md); use genesys"
)
"""Why CXone cannot feed WFM, after the variable (``MESH_WFM__PLATFORM``)."""


class NiceDomainFields(BaseModel):
    """A domain's own CXone access key and the hosts it is used on."""

    nice_auth_url: str | None = Field(
        default=None,
        pattern=BASE_URL,
        description="CXone: the tenant's area (auth) host, e.g. `https://na1.nice-incontact.com`; "
        "token and Data Extraction live there; required with `PLATFORM=nice`",
    )
    nice_discovery_url: str = Field(
        default="https://cxone.niceincontact.com",
        pattern=BASE_URL,
        description="CXone: the discovery host that names the tenant's API host",
    )
    nice_api_version: str = Field(
        default="v30.0",
        pattern=r"^v[0-9]+\.0$",
        description="CXone: the Reporting API version in the path, `vNN.0`",
    )
    nice_access_key_id: str | None = Field(
        default=None,
        min_length=1,
        description="CXone: the domain's own access key id; required with `PLATFORM=nice`",
    )
    nice_access_key_secret: SecretStr | None = Field(
        default=None,
        description="CXone: the access key secret; set this or `NICE_ACCESS_KEY_SECRET_FILE`, "
        "not both",
    )
    nice_access_key_secret_file: ReadableFile = Field(
        default=None,
        description="CXone: file holding the access key secret, re-read when it changes and "
        "when the key is refused (rotation without restart)",
    )


class NiceTelephonyFields(BaseModel):
    """Telephony on CXone: completed contacts by the Reporting API."""

    nice_completion_lag_seconds: float = Field(
        default=7200.0,
        ge=0,
        le=7 * 86_400,
        description="CXone: how long after a window's end its contacts are taken as reported "
        "(the query reaches this far past the window; later ones come with the re-sweep)",
    )


class NiceQualityFields(BaseModel):
    """Quality on CXone: QM workflows by Data Extraction."""

    nice_qm_entity_version: str = Field(
        default="3",
        pattern=r"^[1-9]$",
        description="CXone: version of the Data Extraction entity `qm-workflows` (3: the one "
        "whose columns are known)",
    )
    nice_extraction_interval_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="CXone: spacing of Data Extraction calls per tenant, shared by the domains "
        "of the tenant; the platform's rule is 30 (lower only against a simulator)",
    )


def _access_key(domain: NiceDomainFields | None, name: str) -> str | None:
    """What a CXone domain ``name`` is missing, as one line naming the variable, or None."""
    variable = f"MESH_{name.upper()}__"
    required = f"required with {variable}PLATFORM=nice"
    if domain is None or domain.nice_auth_url is None:
        return f"{variable}NICE_AUTH_URL: {required}"
    if domain.nice_access_key_id is None:
        return f"{variable}NICE_ACCESS_KEY_ID: {required}"
    if domain.nice_access_key_secret is None and domain.nice_access_key_secret_file is None:
        return f"{variable}NICE_ACCESS_KEY_SECRET: {required} (or NICE_ACCESS_KEY_SECRET_FILE)"
    if domain.nice_access_key_secret is not None and domain.nice_access_key_secret_file:
        return (
            f"{variable}NICE_ACCESS_KEY_SECRET: set only one of NICE_ACCESS_KEY_SECRET and "
            "NICE_ACCESS_KEY_SECRET_FILE"
        )
    return None


RULES: PlatformRules[NiceDomainFields] = PlatformRules(
    enabled=_access_key, refuses={"wfm": WFM_REFUSAL}
)
"""CXone feeds Telephony and Quality; an enabled domain needs its area host and access key."""

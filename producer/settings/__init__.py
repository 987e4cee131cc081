"""Configuration: the only package that reads the ``MESH_*`` environment.

Every model reads through ``env.MESH_ENV`` (prefix ``MESH_``, nested ``__``) and reports a bad
value as one ``ConfigError`` line naming the variable (the CLI exits 2):

- ``names``: the domain names and platform names, declared once.
- ``lake``: ``MESH_LAKE_URL``'s default and parser, the key-prefix and bucket rules.
- ``model``: the daemon's ``Settings`` (every variable ``mesh-producer run`` reads) and each
  domain's model with its defaults (``DOMAIN_MODELS``); ``load_settings()``.
- ``platforms``: each source platform's variables (mixins of ``model``'s models) and checks of
  a domain's settings (``PLATFORM_RULES``: required credentials, domains it cannot feed),
  declared in its folder, ``producer/platforms/{name}/settings.py``, on ``base``
  (``PlatformRules``, shared field rules), and composed here once.
- ``ports``: the one declaration of a domain's output-port variables read offline, and the
  lake commands' subset (``status``, ``lake audit``, ``dlq replay``, ``backfill``'s ports):
  ``load_output_port()``.
- ``registry``: the ``contracts`` commands' subset: ``load_registry_settings()``.
- ``layout``: the governance commands' subset (lake URL, prefixes, buckets, stream ARNs):
  ``load_layout_ports()``.
- ``doc``: ``docs/configuration.md`` generated from ``model`` (``python -m producer.settings.doc``).

The offline subsets read no OAuth or access-key variable, so those commands run without a
domain's credentials. Outside this package the producer reads no ``MESH_*`` variable. What is
read elsewhere, and where: the cloud SDKs read their own standard variables themselves
(botocore: ``AWS_*``; azure-identity: ``AZURE_*``; google-auth:
``GOOGLE_APPLICATION_CREDENTIALS``). ``producer.lake.store`` hands ``os.environ`` to
``producer.lake.azure_account`` (the lake's account: ``AZURE_STORAGE_CONNECTION_STRING``,
``AZURE_STORAGE_ACCOUNT_URL`` or ``AZURE_STORAGE_ACCOUNT``, also checked by ``Settings`` for an
``az://`` lake) and to ``producer.lake.gcs`` (``STORAGE_EMULATOR_HOST``). ``producer.lake.s3``
and ``producer.bus.kinesis`` read ``AWS_REGION`` (``s3`` also ``AWS_RETRY_MODE``) next to
botocore's own chain. ``producer.allocator`` reads ``MALLOC_ARENA_MAX`` and ``GLIBC_TUNABLES``
to leave glibc's arena limit to an operator who set one.
"""

from __future__ import annotations

from producer.settings.lake import (
    LakeLocation,
    bucket_problem,
    default_contracts_dir,
    lake_prefix,
)
from producer.settings.model import (
    DOMAIN_MODELS,
    SCHEMA_VERSIONS_PATTERN,
    DomainSettings,
    Priority,
    QualitySettings,
    Settings,
    TelephonySettings,
    WfmSettings,
    default_prefix,
    load_settings,
)
from producer.settings.names import (
    DEFAULT_PLATFORM,
    DOMAIN_NAMES,
    PLATFORM_NAMES,
    DomainName,
    Platform,
)

__all__ = [
    "DEFAULT_PLATFORM",
    "DOMAIN_MODELS",
    "DOMAIN_NAMES",
    "PLATFORM_NAMES",
    "SCHEMA_VERSIONS_PATTERN",
    "DomainName",
    "DomainSettings",
    "LakeLocation",
    "Platform",
    "Priority",
    "QualitySettings",
    "Settings",
    "TelephonySettings",
    "WfmSettings",
    "bucket_problem",
    "default_contracts_dir",
    "default_prefix",
    "lake_prefix",
    "load_settings",
]

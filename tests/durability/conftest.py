"""The durability tests' own fixtures: fault proxies in front of Azurite and fake-gcs-server."""

from tests.fixtures.http_faults import (
    azure_fault_proxy,
    azure_faults_env,
    gcs_fault_proxy,
    gcs_faults_env,
)

__all__ = ["azure_fault_proxy", "azure_faults_env", "gcs_fault_proxy", "gcs_faults_env"]

"""An AWS account that cannot be read: an SSO profile as ``aws configure sso`` writes it, whose
token was never cached (as after the SSO session expired and its cache was cleared)."""

from __future__ import annotations

from pathlib import Path

import pytest

PROFILE = "legacy-admin"

AWS_CONFIG = f"""
[profile {PROFILE}]
sso_session = corp
sso_account_id = 333333333333
sso_role_name = PeeringOps
region = us-east-1

[sso-session corp]
sso_start_url = https://corp-peering-tests.awsapps.com/start
sso_region = us-east-1
sso_registration_scopes = sso:account:access
"""


def use_expired_sso_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point botocore at a config file holding :data:`PROFILE` and a home with no SSO token
    cache; the profile's name."""
    config = tmp_path / "aws-config"
    config.write_text(AWS_CONFIG)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("HOME", str(tmp_path))
    return PROFILE

"""The sandbox's AWS accounts and its regions (a module of its own: the sandbox process
names them to moto before it imports anything else)."""

PLATFORM_ACCOUNT_ID = "123456789012"  # moto's default account
CUSTOMER_ACCOUNT_ID = "210987654321"
CUSTOMER_ACCOUNT_NAME = "prod"
# The customer's second account, reached by assuming a role with the first one's keys.
STAGING_ACCOUNT_ID = "222222222222"
STAGING_ACCOUNT_NAME = "staging"
STAGING_ROLE_ARN = f"arn:aws:iam::{STAGING_ACCOUNT_ID}:role/peering-ops"
SANDBOX_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")

"""The sandbox's two AWS accounts and its regions (a module of its own: the sandbox process
names them to moto before it imports anything else)."""

PLATFORM_ACCOUNT_ID = "123456789012"  # moto's default account
CUSTOMER_ACCOUNT_ID = "210987654321"
SANDBOX_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")

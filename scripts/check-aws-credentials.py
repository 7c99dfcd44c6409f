"""Before `make deploy`: are there AWS credentials, and whose? Says how to provide
them when there are none, instead of SAM's traceback half-way through."""

import sys

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

environment = sys.argv[1] if len(sys.argv) > 1 else "default"
try:
    identity = boto3.client("sts").get_caller_identity()
except (NoCredentialsError, BotoCoreError, ClientError) as err:
    print(
        f"make deploy ENV={environment}: no usable AWS credentials ({err}).\n"
        "Provide them the usual way: `aws configure sso` then `aws sso login` "
        "(AWS_PROFILE=<profile> make deploy ...), or AWS_ACCESS_KEY_ID/"
        "AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN in the environment. CI assumes the "
        "deploy role through GitHub OIDC (deploy/README.md).",
        file=sys.stderr,
    )
    sys.exit(2)
print(f"Deploying '{environment}' as {identity['Arn']} (account {identity['Account']}).")

"""Prints a fresh Cognito ID token (or ``--access`` token) for wscat, Postman and friends.

make token                                  # the local demo user
python -m local_stack.tools.token --username u --password p
python -m local_stack.tools.token --deployed --region eu-west-1 \\
  --client-id ID --username u --password p           # a deployed pool
"""

from __future__ import annotations

import argparse
import sys

from local_stack.provisioning.provision import sign_in
from local_stack.state import StackNotRunning, read_state

__all__ = ["main", "tokens_from_args"]


def add_sign_in_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--username", help="default: the local demo user")
    parser.add_argument("--password")
    parser.add_argument(
        "--deployed",
        action="store_true",
        help="sign in to a deployed user pool (needs --region and --client-id)",
    )
    parser.add_argument("--region")
    parser.add_argument("--client-id")


def tokens_from_args(args: argparse.Namespace) -> dict[str, str]:
    if args.deployed:
        if not (args.region and args.client_id and args.username and args.password):
            raise SystemExit("--deployed needs --region, --client-id, --username and --password")
        return sign_in(
            endpoint=None,
            region=args.region,
            client_id=args.client_id,
            username=args.username,
            password=args.password,
        )
    state = read_state()
    user = state["demoUser"]
    return sign_in(
        endpoint=state["awsEndpointUrl"],
        region=state["region"],
        client_id=state["userPoolClientId"],
        username=args.username or user["username"],
        password=args.password or user["password"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make token", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_sign_in_arguments(parser)
    parser.add_argument("--access", action="store_true", help="print the access token instead")
    args = parser.parse_args(argv)
    from botocore.exceptions import ClientError

    try:
        tokens = tokens_from_args(args)
    except StackNotRunning as err:
        print(err, file=sys.stderr)
        return 1
    except ClientError as err:
        print(f"sign-in failed: {err.response['Error']['Message']}", file=sys.stderr)
        return 1
    sys.stdout.write(tokens["accessToken" if args.access else "idToken"] + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Puts an inline policy on a role of the deployed stack, as its administrator: what an operator (or a
broken deploy) does to a role, for the tests that show what a function does without a grant.

Usage: put_role_policy.py ENDPOINT ACCESS_KEY_ID SECRET_ACCESS_KEY ROLE POLICY_NAME DOCUMENT_JSON
"""

import sys

import boto3


def main(endpoint, key_id, secret, role, name, document):
    iam = boto3.client(
        "iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key_id, aws_secret_access_key=secret
    )
    iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=document)


if __name__ == "__main__":
    main(*sys.argv[1:])

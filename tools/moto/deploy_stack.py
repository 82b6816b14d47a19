"""Creates the transformed template as a stack in moto's CloudFormation, as a user's first deploy
would, and prints what it made (JSON on stdout): every resource's physical id, the event source
mappings and functions as deployed, each role's policies (inline and attached, as IAM holds them),
and the credentials to act as each role. Run with moto's venv (boto3) by tests/stack.rs.

Two moto gaps are worked around here, each said where it happens:
- moto cannot create a REST API from the body SAM generates ("The REST API doesn't contain any
  methods"): the API Gateway resources (and what only they use) are left out of the stack; the test
  checks the generated API definition itself.
- A table moto's CloudFormation creates has a stream that moto never writes a record to (the same
  table made with CreateTable streams): the orders table, the one whose stream drives the pipeline,
  is deleted and made again through the API with the template's own properties. Its stream's event
  source mapping is left as CloudFormation made it, naming the first table's stream; the report's
  `replaced_streams` says which stream stands for that one now.
- moto's CloudFormation ignores a role's ManagedPolicyArns: each is attached through the API (moto
  holds AWS's managed policies when started with MOTO_IAM_LOAD_MANAGED_POLICIES, as the tests start it).
- A state machine moto's CloudFormation creates lives where moto keeps state machines it does not
  execute; with execution on (the tests turn it on) the Step Functions API sees none of them. The
  stack is created with execution off, the state machine's definition and role as CloudFormation
  resolved them are read back, and, with execution on again, it is created through the API with
  exactly those.
And one moto behaviour is turned off: moto would run a function in Docker for an enabled event
source mapping (and take its messages); the mappings are read, then disabled, and the test plays
them with the real binaries.

Then IAM enforcement is turned on (`/moto-api/reset-auth`), after making an administrator whose
keys the report gives (every call from then on is signed and checked against its caller's
policies). moto 5.2.5 cannot assume a role whose trust policy names a service principal, so each
function's role is made to trust the administrator instead (the test assumes each role to run its
function); the roles' permissions are untouched. moto keeps a role's inline policies that its
CloudFormation created in a form its own policy check then fails on (a Python object, where it reads
JSON text; GetRolePolicy shows it as the object's repr): each is put again through the API, the same
document as JSON (with a Version, which moto demands and IAM does not, and without the nulls
moto's CloudFormation leaves where an `AWS::NoValue` was).

Usage: deploy_stack.py ENDPOINT STACK TEMPLATE_JSON CODE_BUCKET [PARAMETER=VALUE ...]
"""

import ast
import json
import os
import re
import sys

import urllib.request

import boto3

API_TYPES = ("AWS::ApiGateway::",)


def client(service, endpoint):
    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def without_api(template):
    """The template without API Gateway resources, nor what refers to them."""
    resources = template["Resources"]
    dropped = {logical for logical, r in resources.items() if r["Type"].startswith(API_TYPES)}

    def refers(node):
        text = json.dumps(node)
        return any(re.search(rf"\b{d}\b", text) for d in dropped)

    while True:
        more = {logical for logical, r in resources.items() if logical not in dropped and refers(r)}
        if not more:
            break
        dropped |= more
    for logical in dropped:
        del resources[logical]
    template["Outputs"] = {name: output for name, output in template.get("Outputs", {}).items() if not refers(output)}
    return template, sorted(dropped)


def execute_state_machines(endpoint, on):
    body = json.dumps({"stepfunctions": {"execute_state_machine": on}}).encode()
    request = urllib.request.Request(f"{endpoint}/moto-api/config", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    urllib.request.urlopen(request).read()


def main(endpoint, stack, template_path, code_bucket, *parameters):
    template, dropped = without_api(json.load(open(template_path)))
    s3 = client("s3", endpoint)
    s3.create_bucket(Bucket=code_bucket)
    for logical, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function":
            code = resource["Properties"]["Code"]
            s3.put_object(Bucket=code["S3Bucket"], Key=code["S3Key"], Body=b"PK\x05\x06" + b"\x00" * 18)
    cloudformation = client("cloudformation", endpoint)
    execute_state_machines(endpoint, False)
    cloudformation.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (p.split("=", 1) for p in parameters)],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    status = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    if status != "CREATE_COMPLETE":
        events = cloudformation.describe_stack_events(StackName=stack)["StackEvents"]
        sys.exit(f"stack {stack} is {status}: " + json.dumps(events, default=str))
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName=stack)["StackResourceSummaries"]
    }

    # The state machines again, where moto executes them (see above).
    stepfunctions = client("stepfunctions", endpoint)
    machines = [
        stepfunctions.describe_state_machine(stateMachineArn=physical[logical])
        for logical, r in template["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    execute_state_machines(endpoint, True)
    for machine in machines:
        stepfunctions.create_state_machine(
            name=machine["name"], definition=machine["definition"], roleArn=machine["roleArn"], type="STANDARD"
        )

    # The orders table again, through the API, with the template's properties (see above).
    dynamodb = client("dynamodb", endpoint)
    orders = template["Resources"]["OrdersTable"]["Properties"]
    name = physical["OrdersTable"]
    created_stream = dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    dynamodb.delete_table(TableName=name)
    dynamodb.create_table(
        TableName=name,
        BillingMode=orders["BillingMode"],
        AttributeDefinitions=orders["AttributeDefinitions"],
        KeySchema=orders["KeySchema"],
        GlobalSecondaryIndexes=orders["GlobalSecondaryIndexes"],
        StreamSpecification={"StreamEnabled": True, **orders["StreamSpecification"]},
    )
    if "TimeToLiveSpecification" in orders:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=orders["TimeToLiveSpecification"])
    # The stream's mapping stays as CloudFormation made it; the report says which stream now stands
    # for the one it names (re-creating the mapping would register it with moto's table, which then
    # hands the records to its own Lambda instead of keeping them for the stream's readers).
    replaced_streams = {created_stream: dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]}

    # The AWS-managed policies the roles name (SAM attaches Lambda's execution policies for each
    # function's event sources), attached through the API: moto's CloudFormation ignores a role's
    # ManagedPolicyArns.
    iam = client("iam", endpoint)
    for logical, r in template["Resources"].items():
        if r["Type"] == "AWS::IAM::Role":
            for arn in r["Properties"].get("ManagedPolicyArns", []):
                arn = arn["Fn::Sub"] if isinstance(arn, dict) else arn
                arn = arn.replace("${AWS::Partition}", "aws")
                iam.attach_role_policy(RoleName=physical[logical], PolicyArn=arn)

    lambdas = client("lambda", endpoint)
    mappings = []
    for mapping in lambdas.list_event_source_mappings()["EventSourceMappings"]:
        mappings.append({k: v for k, v in mapping.items() if k != "ResponseMetadata"})
        lambdas.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    functions = {
        logical: lambdas.get_function_configuration(FunctionName=physical[logical])
        for logical, r in template["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function"
    }
    iam.create_user(UserName="stack-test-admin")
    iam.put_user_policy(
        UserName="stack-test-admin",
        PolicyName="everything",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    )
    admin = iam.get_user(UserName="stack-test-admin")["User"]["Arn"]
    key = iam.create_access_key(UserName="stack-test-admin")["AccessKey"]
    roles = {}
    policies = {}
    role_arns = {logical: configuration["Role"] for logical, configuration in functions.items()}
    for logical, r in template["Resources"].items():
        if r["Type"] == "AWS::StepFunctions::StateMachine":
            role_arns[logical] = iam.get_role(RoleName=physical[r["Properties"]["RoleArn"]["Fn::GetAtt"][0]])["Role"]["Arn"]
    for logical, arn in role_arns.items():
        role = arn.rsplit("/", 1)[1]
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": admin}, "Action": "sts:AssumeRole"}]}
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(trust))
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            if isinstance(document, str):
                document = ast.literal_eval(document)
            # IAM reads a document without a Version as the 2008 language; moto refuses it (SAM
            # writes the stream's on-failure destination policy so). Nothing in them needs 2012's.
            document.setdefault("Version", "2012-10-17")
            # moto's CloudFormation leaves an `AWS::NoValue` in a list as a null, where CloudFormation
            # drops it (the fulfilment role's secret statement without a webhook).
            document["Statement"] = [statement for statement in document["Statement"] if statement is not None]
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
            policies.setdefault(logical, {"role": role, "inline": {}, "managed": {}})["inline"][name] = document
        for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
            document = version["PolicyVersion"]["Document"]
            if isinstance(document, str):
                document = json.loads(document)
            policies.setdefault(logical, {"role": role, "inline": {}, "managed": {}})["managed"][attached["PolicyName"]] = document
        roles[logical] = arn
    request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST")
    request.add_header("Content-Type", "text/plain")
    urllib.request.urlopen(request).read()

    # Each function's role, assumed as the administrator (from now on, as IAM checks).
    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    role_credentials = {}
    for logical, arn in roles.items():
        credentials = sts.assume_role(RoleArn=arn, RoleSessionName=logical, DurationSeconds=3600)["Credentials"]
        role_credentials[logical] = {
            "access_key_id": credentials["AccessKeyId"],
            "secret_access_key": credentials["SecretAccessKey"],
            "session_token": credentials["SessionToken"],
        }
    # The workflow's task integrations sign as the state machine's role (tools/moto/isolated_server.py).
    workflow_credentials = os.environ.get("ORDERS_MOTO_WORKFLOW_CREDENTIALS")
    for logical, r in template["Resources"].items():
        if r["Type"] == "AWS::StepFunctions::StateMachine" and workflow_credentials:
            json.dump(role_credentials[logical], open(workflow_credentials, "w"))
    json.dump(
        {
            "resources": physical,
            "left_out": dropped,
            "event_source_mappings": mappings,
            "functions": functions,
            "roles": roles,
            "policies": policies,
            "replaced_streams": replaced_streams,
            "role_credentials": role_credentials,
            "admin": {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]},
        },
        sys.stdout,
        default=str,
    )


if __name__ == "__main__":
    main(*sys.argv[1:])

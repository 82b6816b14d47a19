"""Creates the transformed template as a stack in moto's CloudFormation, as a user's first deploy
would, and prints what it made (JSON on stdout): every resource's physical id and the event source
mappings as deployed. Run with moto's venv (boto3) by tests/stack.rs.

Two moto gaps are worked around here, each said where it happens:
- moto cannot create a REST API from the body SAM generates ("The REST API doesn't contain any
  methods"): the API Gateway resources (and what only they use) are left out of the stack; the test
  checks the generated API definition itself.
- A table moto's CloudFormation creates has a stream that moto never writes a record to (the same
  table made with CreateTable streams): the orders table, the one whose stream drives the pipeline,
  is deleted and made again through the API with the template's own properties.
- A state machine moto's CloudFormation creates lives where moto keeps state machines it does not
  execute; with execution on (the tests turn it on) the Step Functions API sees none of them. The
  stack is created with execution off, the state machine's definition and role as CloudFormation
  resolved them are read back, and, with execution on again, it is created through the API with
  exactly those.
And one moto behaviour is turned off: moto would run a function in Docker for an enabled event
source mapping (and take its messages); the mappings are read, then disabled, and the test plays
them with the real binaries.

Usage: deploy_stack.py ENDPOINT STACK TEMPLATE_JSON CODE_BUCKET [PARAMETER=VALUE ...]
"""

import json
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
    dynamodb.delete_table(TableName=name)
    dynamodb.create_table(
        TableName=name,
        BillingMode=orders["BillingMode"],
        AttributeDefinitions=orders["AttributeDefinitions"],
        KeySchema=orders["KeySchema"],
        GlobalSecondaryIndexes=orders["GlobalSecondaryIndexes"],
        StreamSpecification={"StreamEnabled": True, **orders["StreamSpecification"]},
    )

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
    json.dump(
        {"resources": physical, "left_out": dropped, "event_source_mappings": mappings, "functions": functions},
        sys.stdout,
        default=str,
    )


if __name__ == "__main__":
    main(*sys.argv[1:])

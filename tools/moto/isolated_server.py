"""moto's server, with DynamoDB's writes made isolated from each other, as DynamoDB makes them.

moto 5.2.5 runs each request on its own thread, and its TransactWriteItems is not isolated: it
snapshots whole tables before applying the items and, when one item's condition fails, puts the
snapshots back, undoing every write other requests made to those tables in between. Under
concurrent orders (the stock scenarios' 50 reservations at once) that loses reservations and
order writes that DynamoDB would have kept. Holding one lock across every DynamoDB write (and
across each transaction, from its snapshot to its rollback) gives the serialisable transactions
DynamoDB promises. Reads are not locked.

Also: moto's Step Functions calls the services of its task integrations as a fixed identity ("ak"),
which IAM enforcement refuses. Step Functions calls them as the state machine's role. When the file
named by ORDERS_MOTO_WORKFLOW_CREDENTIALS holds credentials (the stack test writes the assumed
state machine role's there), the integrations sign with those, so the role's policy is what
permits or refuses the workflow's calls.

And: with IAM enforced, moto checks a DynamoDB or Step Functions call against the resource "*"
only, so a policy naming its table or state machine (least privilege) never permits it, and it
checks a transaction or a batch as one action of its own. IAM checks each item's action on each
item's table (a TransactWriteItems of two updates needs dynamodb:UpdateItem on both tables), and
a Step Functions call on its state machine or execution; and it authorizes an SQS batch call by
its single call's action (sqs:DeleteMessage for DeleteMessageBatch). The checks below do the same,
each through moto's own policy evaluation.

And: when ORDERS_MOTO_AUTHORIZATION_LOG names a file, every authorization decision moto makes
(the caller's ARN, the action, the resource, allowed or not) is appended to it as a JSON line, so a
test can set what each role was granted beside what its function did (tools/moto/least_privilege.py).

Started by tests/support/moto.rs with moto_server's arguments.
"""

import functools
import json
import os
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.stepfunctions.parser.asl.utils import boto_client as workflow_clients
from moto.server import main

WRITES = ("transact_write_items", "put_item", "update_item", "delete_item", "batch_write_item")
LOCK = threading.RLock()


def isolated(method):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with LOCK:
            return method(*args, **kwargs)

    return locked


for name in WRITES:
    # Every write this moto has; a moto upgrade that renames one fails here rather than unlocked.
    setattr(DynamoDBBackend, name, isolated(getattr(DynamoDBBackend, name)))

unsigned_workflow_client = workflow_clients.boto_client_for


def workflow_client(region, service, state_credentials=None):
    client = unsigned_workflow_client(region, service, state_credentials)
    path = os.environ.get("ORDERS_MOTO_WORKFLOW_CREDENTIALS", "")
    if not path or not os.path.isfile(path):
        return client
    credentials = json.load(open(path))
    return workflow_clients.boto3.client(
        service_name=service,
        region_name=region,
        aws_access_key_id=credentials["access_key_id"],
        aws_secret_access_key=credentials["secret_access_key"],
        aws_session_token=credentials["session_token"],
        endpoint_url=client.meta.endpoint_url,
        config=client.meta.config,
    )


workflow_clients.boto_client_for = workflow_client
for module in list(sys.modules.values()):
    if getattr(module, "boto_client_for", None) is unsigned_workflow_client:
        module.boto_client_for = workflow_client

def table_arn(handler, name, index=None):
    arn = f"arn:aws:dynamodb:{handler.region}:{handler.current_account}:table/{name}"
    return f"{arn}/index/{index}" if index else arn


ITEM_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def dynamodb_checks(handler):
    """The (action, resource) pairs IAM checks for a DynamoDB call."""
    action, params = handler._get_action(), getattr(handler, "params", {}) or {}
    if action == "TransactWriteItems":
        return [
            (ITEM_ACTIONS[kind], table_arn(handler, op["TableName"]))
            for item in params.get("TransactItems", [])
            for kind, op in item.items()
        ]
    if action == "TransactGetItems":
        return [("GetItem", table_arn(handler, item["Get"]["TableName"])) for item in params.get("TransactItems", [])]
    if action == "BatchGetItem":
        return [("BatchGetItem", table_arn(handler, table)) for table in params.get("RequestItems", {})]
    if action == "BatchWriteItem":
        return [("BatchWriteItem", table_arn(handler, table)) for table in params.get("RequestItems", {})]
    if "TableName" in params:
        return [(action, table_arn(handler, params["TableName"], params.get("IndexName")))]
    return [(action, "*")]


def stepfunctions_checks(handler):
    action = handler._get_action()
    params = json.loads(handler.body or "{}") if isinstance(handler.body, (str, bytes)) else {}
    for key in ("stateMachineArn", "executionArn"):
        if key in params:
            return [(action, params[key])]
    return [(action, "*")]


def checked_per_resource(checks):
    def authorize(self, resource="*"):
        from moto.iam.access_control import IAMRequest

        own_action = type(self)._get_action
        for action, target in checks(self):
            # moto's check reads the action from the handler: it checks this one, then the next.
            self._get_action = lambda action=action: action
            try:
                self._authenticate_and_authorize_action(IAMRequest, target)
            finally:
                self._get_action = own_action.__get__(self)

    return authorize


# IAM authorizes SQS's batch calls by the single call's action (SendMessageBatch needs
# sqs:SendMessage); moto checks them as actions of their own, which no policy grants.
SQS_BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def sqs_checks(handler):
    action = handler._get_action()
    return [(SQS_BATCH_ACTIONS.get(action, action), handler._determine_resource())]


from moto.dynamodb.responses import DynamoHandler  # noqa: E402
from moto.sqs.responses import SQSResponse  # noqa: E402
from moto.stepfunctions.responses import StepFunctionResponse  # noqa: E402

DynamoHandler._authenticate_and_authorize_normal_action = checked_per_resource(dynamodb_checks)
StepFunctionResponse._authenticate_and_authorize_normal_action = checked_per_resource(stepfunctions_checks)
SQSResponse._authenticate_and_authorize_normal_action = checked_per_resource(sqs_checks)



def log_authorizations(path):
    from moto.iam.access_control import IAMRequestBase

    check = IAMRequestBase.check_action_permitted
    lock = threading.Lock()

    def checked_and_logged(self, resource):
        allowed = False
        try:
            check(self, resource)
            allowed = True
        finally:
            line = json.dumps({"caller": self._access_key.arn, "action": self._action, "resource": resource, "allowed": allowed})
            with lock, open(path, "a") as log:
                log.write(line + "\n")

    IAMRequestBase.check_action_permitted = checked_and_logged


if os.environ.get("ORDERS_MOTO_AUTHORIZATION_LOG"):
    log_authorizations(os.environ["ORDERS_MOTO_AUTHORIZATION_LOG"])

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

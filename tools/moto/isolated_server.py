"""moto's server, with DynamoDB's writes made isolated from each other, as DynamoDB makes them.

moto 5.2.5 runs each request on its own thread, and its TransactWriteItems is not isolated: it
snapshots whole tables before applying the items and, when one item's condition fails, puts the
snapshots back, undoing every write other requests made to those tables in between. Under
concurrent orders (the stock scenarios' 50 reservations at once) that loses reservations and
order writes that DynamoDB would have kept. Holding one lock across every DynamoDB write (and
across each transaction, from its snapshot to its rollback) gives the serialisable transactions
DynamoDB promises. Reads are not locked. Started by tests/support/moto.rs with moto_server's
arguments.
"""

import functools
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
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

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

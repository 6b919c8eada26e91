"""moto's DynamoDB-compatible server, applying one request at a time.

DynamoDB applies each request atomically. moto 5.2 does not when requests run in parallel
threads: a cancelled TransactWriteItems rolls back by restoring a copy of the whole table
taken when it began, which undoes other clients' writes made meanwhile (and the copy itself
can fail with "dictionary changed size during iteration", a 500). Serialising requests gives
the tests DynamoDB's per-request atomicity, while clients still race between requests.

Serialised, a TransactWriteItems no longer needs the whole-table copy to roll back: only the
items it writes can change while it runs. The copy (a deepcopy of every item, twice per
claim) cost 2.4 s per claim at 10,000 items and grew moto past 10 GB in the benchmark;
`snapshot_only_written_items` replaces it with a copy of the written items.

Usage: python scripts/moto_server.py -H 127.0.0.1 -p PORT
"""

import argparse
import copy
import os
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def snapshot_only_written_items() -> None:
    """Makes TransactWriteItems restore only the items it writes when it is cancelled.

    moto 5.2's transact_write_items deep-copies each table it touches (through the `copy`
    module of moto.dynamodb.models) and puts the copies back on cancellation. Here that copy
    returns the live table, and the wrapper restores the written items itself. Correct only
    because requests are serialised (see main). If moto's internals differ, leave it as is.
    """
    try:
        import moto.dynamodb.models as models
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.dynamo_type import DynamoType
        from moto.dynamodb.models.table import Table
    except ImportError as err:
        print(f"moto_server: whole-table transaction copies kept ({err})", file=sys.stderr)
        return
    if getattr(models, "copy", None) is not copy:
        print("moto_server: whole-table transaction copies kept (moto changed)", file=sys.stderr)
        return

    class NoTableCopy:
        """The `copy` module, except that a Table is not copied."""

        def __getattr__(self, name):
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value, memo=None):
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    original = DynamoDBBackend.transact_write_items

    def written(backend, transact_items):
        """(table, hash key, range key or None, a copy of the item or None) per write."""
        saved = []
        for entry in transact_items:
            for op_type, op in entry.items():
                table = backend.tables.get(op.get("TableName"))
                if table is None:
                    continue
                attrs = op.get("Item") if op_type == "Put" else op.get("Key")
                if not attrs or table.hash_key_attr not in attrs:
                    continue
                hash_key = DynamoType(attrs[table.hash_key_attr])
                range_key = None
                current = table.items.get(hash_key)
                if table.range_key_attr is not None:
                    if table.range_key_attr not in attrs:
                        continue
                    range_key = DynamoType(attrs[table.range_key_attr])
                    current = (current or {}).get(range_key)
                saved.append((table, hash_key, range_key, copy.deepcopy(current)))
        return saved

    def restore(saved):
        for table, hash_key, range_key, item in saved:
            if range_key is None:
                if item is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = item
                continue
            bucket = table.items[hash_key]
            if item is None:
                bucket.pop(range_key, None)
                if not bucket:
                    table.items.pop(hash_key, None)
            else:
                bucket[range_key] = item

    def transact_write_items(self, transact_items):
        try:
            saved = written(self, transact_items)
        except Exception:
            # A malformed request: let moto answer it its own way, with its own copy.
            return original(self, transact_items)
        models.copy = NoTableCopy()
        try:
            return original(self, transact_items)
        except Exception:
            restore(saved)
            raise
        finally:
            models.copy = copy

    DynamoDBBackend.transact_write_items = transact_write_items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    snapshot_only_written_items()
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            # Materialise the body inside the lock: the request is done when it is sent.
            return list(app(environ, start_response))

    run_simple(
        args.host,
        args.port,
        one_at_a_time,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()

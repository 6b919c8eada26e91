"""moto's DynamoDB-compatible server, applying one request at a time.

DynamoDB applies each request atomically. moto 5.2 does not when requests run in parallel
threads: a cancelled TransactWriteItems rolls back by restoring a copy of the whole table
taken when it began, which undoes other clients' writes made meanwhile (and the copy itself
can fail with "dictionary changed size during iteration", a 500). Serialising requests gives
the tests DynamoDB's per-request atomicity, while clients still race between requests.

Usage: python scripts/moto_server.py -H 127.0.0.1 -p PORT
"""

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

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

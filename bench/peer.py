"""The Fluentd Forward test peer (tests/peers/forward_server.py) driven over stdin, for the outage
scenario of bench/run.py: `stop` (a stopped Fluentd: connections cut, port closed), `start` (back
on the same port), `count` (answers the number of distinct `datameer.seq` values stored and the
number of records stored, duplicates included), `quit`.

    python bench/peer.py PORT
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.peers.forward_server import ForwardServer  # noqa: E402


def main() -> None:
    srv = ForwardServer(port=int(sys.argv[1])).start()
    print("listening", flush=True)
    seen: set = set()
    taken = 0
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "stop":
            srv.stop()
        elif cmd == "start":
            srv.start()
        elif cmd == "count":
            recs = srv.records
            for _tag, _t, r in recs[taken:]:
                seen.add((r.get("datameer") or {}).get("seq"))
            taken = len(recs)
            print(f"{len(seen)} {taken}", flush=True)
            continue
        elif cmd == "quit":
            break
        print("ok", flush=True)


if __name__ == "__main__":
    main()

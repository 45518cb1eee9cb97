# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
"""Check the JSON event lines of a file.

check_event.py FILE count=N                  exactly N egress events
check_event.py FILE [--last] key=value...    some (or the last) egress
                                             event has these fields

Keys name top-level fields or metadata.FIELD; values compare as text.
Every line must be one valid JSON object, or the check fails.
Prints nothing and exits 0 on success, one reason and exit 1 otherwise.
"""
import json
import sys


def load(path):
    events = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.startswith("{"):
                continue  # odsbpf's own log lines share stderr
            try:
                events.append(json.loads(line))
            except ValueError as e:
                sys.exit(f"{path}:{n}: not one JSON object: {e}")
    return [e for e in events if e.get("action", "").startswith("egress.")]


def field(event, key):
    node = event
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def matches(event, wanted):
    for key, value in wanted:
        got = field(event, key)
        if got is None or str(got) != value:
            return False
    return True


def main(argv):
    path, args = argv[1], argv[2:]
    last = "--last" in args
    args = [a for a in args if a != "--last"]
    events = load(path)
    wanted = [tuple(a.split("=", 1)) for a in args]
    if wanted and wanted[0][0] == "count":
        if len(events) != int(wanted[0][1]):
            sys.exit(f"expected {wanted[0][1]} events, found {len(events)}")
        return
    pool = events[-1:] if last else events
    if not any(matches(e, wanted) for e in pool):
        got = json.dumps(pool[-1]) if pool else "no event"
        sys.exit(f"no event with {' '.join(args)}; last: {got}")


main(sys.argv)

#!/usr/bin/env python3
"""Print one closing line for a meson test run: 'tests: N passed, N failed'.

Counts the cases inside cmocka executables too, from their output, so the
line says how many assertions-bearing cases ran, not only how many binaries.
"""
import json
import re
import sys

log, label = sys.argv[1], sys.argv[2]
passed = failed = skipped = 0
try:
    lines = open(log).read().splitlines()
except OSError:
    print(f"{label}: no test log at {log}", file=sys.stderr)
    print("tests: 0 passed, 1 failed")
    sys.exit(1)
for line in lines:
    t = json.loads(line)
    res = t.get("result")
    out = t.get("stdout") or ""
    ok_cases = len(re.findall(r"^\[\s+OK\s+\]", out, re.M))
    bad_cases = len(re.findall(r"^\[\s+FAILED\s+\] (?!\d)", out, re.M))
    if res == "SKIP":
        skipped += 1
    elif res in ("OK", "EXPECTEDFAIL"):
        passed += max(ok_cases, 1)
    else:
        passed += ok_cases
        failed += max(bad_cases, 1)
print(f"tests: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed else 0)

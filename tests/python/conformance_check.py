"""Checks a run of ../shared/conformance/run_cpython_asyncio_tests.py (its --json file): no
test failed, errored or hung, and each module skipped exactly the tests the expectations
file lists (with the reason, which the README repeats): per module, or per `module:mode`
(`as-is`, `bound`) where the two modes differ.

    python conformance_check.py RESULTS.json EXPECTED.txt
"""
import json
import sys


def expected_skips(path):
    skips = {}
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if line:
            module, count, *_ = line.split()
            skips[module] = int(count)
    return skips


def main(results, expected):
    data = json.load(open(results))
    want = expected_skips(expected)
    bad = []
    for row in data["rows"]:
        m = row["module"]
        if row.get("missing"):
            continue
        broken = row["fail"] + row["error"] + row["hang"]
        if broken:
            bad.append(f"{m} ({row['mode']}): {broken} not passing: {', '.join(row['failures'][:10])}")
        if row["note"]:
            bad.append(f"{m} ({row['mode']}): {row['note']}")
        expect = want.get(f"{m}:{row['mode']}", want.get(m, 0))
        if row["skip"] != expect:
            bad.append(f"{m} ({row['mode']}): {row['skip']} skipped, {expect} expected")
    t = data["total"]
    for b in bad:
        print("conformance:", b)
    print(f"conformance: {t.get('reach_pass', 0)} of the {t.get('reach', 0)} tests that reach "
          f"the loop passed; {t.get('hang', 0)} hung")
    print(f"conformance: {t.get('pass', 0)} passed, {t.get('fail', 0) + t.get('error', 0)} "
          f"failed, {t.get('skip', 0)} skipped")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

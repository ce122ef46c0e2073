"""Checks a run of ../shared/conformance/run_cpython_asyncio_tests.py (its --json file): no
test failed, errored or hung but those the expectations file names (`xfail MODULE TEST
reason`: a
test method that relies on stdlib loop internals, the README says why), each of those still
fails (one that passes must leave the list), and each module skipped exactly the tests the
expectations file lists (with the reason, which the README repeats): per module, or per
`module:mode` (`as-is`, `bound`) where the two modes differ.

    python conformance_check.py RESULTS.json EXPECTED.txt
"""
import json
import sys


def expectations(path):
    """(skips per module or module:mode, names of the tests expected to fail)."""
    skips, xfails = {}, set()
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        first, second, *rest = line.split()
        if first == "xfail":
            xfails.add((second, rest[0]))
        else:
            skips[first] = int(second)
    return skips, xfails


def main(results, expected):
    data = json.load(open(results))
    want, xfails = expectations(expected)
    bad, failed_as_expected = [], set()
    for row in data["rows"]:
        m = row["module"]
        if row.get("missing"):
            continue
        names = [(m, f.rsplit(".", 1)[-1]) for f in row["failures"]]
        failed_as_expected.update(n for n in names if n in xfails)
        unexpected = [f for f, n in zip(row["failures"], names) if n not in xfails]
        broken = row["fail"] + row["error"] + row["hang"] - (len(names) - len(unexpected))
        if broken:
            bad.append(f"{m} ({row['mode']}): {broken} not passing: {', '.join(unexpected[:10])}")
        if row["note"]:
            bad.append(f"{m} ({row['mode']}): {row['note']}")
        expect = want.get(f"{m}:{row['mode']}", want.get(m, 0))
        if row["skip"] != expect:
            bad.append(f"{m} ({row['mode']}): {row['skip']} skipped, {expect} expected")
    ran = {row["module"] for row in data["rows"] if not row.get("missing")}
    for m, name in sorted(xfails - failed_as_expected):
        if m in ran:
            bad.append(f"{m}: {name} is listed as failing but passed: take it off the list")
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

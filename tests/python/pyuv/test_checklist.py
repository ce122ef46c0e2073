"""Every row of the pyuv 1.4 API checklist exists on the installed pyuv and is
named in a behaviour test of this directory.

The checklist is ../shared/spec/pyuv-api-checklist.csv (beside the repository) (columns module,
class, member, kind, signature, notes); PYUV_CHECKLIST overrides the path.
"""

import csv
import importlib
import os
import pathlib
import re

import pytest

import pyuv

HERE = pathlib.Path(__file__).resolve().parent
# ../shared/spec beside the repository (tests/python/pyuv/<this file>: parents[3]).
CSV_PATH = pathlib.Path(os.environ.get(
    "PYUV_CHECKLIST",
    pathlib.Path(__file__).resolve().parents[3].parent / "shared/spec/pyuv-api-checklist.csv"))
STRUCT_MODULES = ("pyuv.fs", "pyuv.dns", "pyuv.util")

if not CSV_PATH.exists():
    pytest.skip(f"checklist not found at {CSV_PATH}", allow_module_level=True)

with CSV_PATH.open(newline="") as f:
    ROWS = list(csv.DictReader(f))


def _row_id(row):
    return ".".join(x for x in (row["module"], row["class"], row["member"]) if x)


def _test_sources():
    return {p.name: p.read_text() for p in sorted(HERE.glob("test_*.py"))
            if p.name != pathlib.Path(__file__).name}


SOURCES = _test_sources()


def _resolve(row):
    """The object a row names on the installed pyuv (AttributeError if absent)."""
    module, cls, member = row["module"], row["class"], row["member"]
    if module == "(struct seq)":
        for mod in STRUCT_MODULES:
            m = importlib.import_module(mod)
            if hasattr(m, cls):
                return getattr(m, cls)
        raise AttributeError(f"no struct sequence {cls} in {STRUCT_MODULES}")
    obj = importlib.import_module(module)
    if cls:
        obj = getattr(obj, cls)
    if member:
        obj = getattr(obj, member)
    return obj


def _mentioned(row, sources=None):
    """Whether a behaviour test names the row: ``.member`` (with the class
    named in the same file) for members and module functions, the bare name
    for classes, exceptions, result types and constants."""
    sources = SOURCES if sources is None else sources
    cls, member, kind = row["class"], row["member"], row["kind"]
    if kind == "constant" or not member:
        name = member or cls
        pat = re.compile(r"\b%s\b" % re.escape(name))
        return any(pat.search(src) for src in sources.values())
    attr = re.compile(r"\.%s\b" % re.escape(member))
    owner = re.compile(r"\b%s\b" % re.escape(cls)) if cls else None
    return any(attr.search(src) and (owner is None or owner.search(src))
               for src in sources.values())


def test_checklist_has_all_rows():
    assert len(ROWS) == 352
    assert {r["module"] for r in ROWS} >= {"pyuv", "pyuv.fs", "pyuv.errno", "pyuv.error",
                                          "pyuv.thread", "pyuv.util", "pyuv.dns"}


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_checklist_row_exists_on_pyuv(row):
    obj = _resolve(row)
    kind, sig = row["kind"], row["signature"]
    if kind == "constant" and re.fullmatch(r"-?\d+", sig):
        assert obj == int(sig), f"{_row_id(row)} == {obj!r}, checklist says {sig}"
    elif kind == "exception":
        assert isinstance(obj, type) and issubclass(obj, pyuv.error.UVError)
    elif kind in ("class", "class (returned, not exported)"):
        assert isinstance(obj, type)
    elif kind in ("method", "function"):
        assert callable(obj)
    elif kind == "result type":
        # pyuv's are struct sequences (n_fields), rsuv's named tuples
        # (_fields): see test_util.test_result_types_are_struct_sequences.
        assert issubclass(obj, tuple)
        n = getattr(obj, "n_fields", None) or len(obj._fields)
        fields = sig.split()
        if not sig[:1].isdigit():
            for field in fields:
                assert hasattr(obj, field), f"{row['class']}.{field}"
            assert n == len(fields)
        else:  # "16 ru_* fields"
            assert n == int(sig.split()[0])
    if row["module"] == "pyuv._cpyuv":
        for attr in re.findall(r"\b(cancel|loop|path|result|error)\b", sig):
            assert hasattr(obj, attr), f"{row['class']}.{attr}"
        assert getattr(pyuv, row["class"]) is obj  # also reachable as pyuv.<name>


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_checklist_row_named_in_a_behaviour_test(row):
    assert _mentioned(row), (
        f"{_row_id(row)} is not named in any tests/python/pyuv/test_*.py "
        "behaviour test")


def test_checklist_matcher_can_fail():
    fake = {"test_x.py": "t = pyuv.Timer(lp)\nt.start(cb, 1, 0)\nUV_EOF\n"}
    row = {"class": "Timer", "member": "start", "kind": "method"}
    assert _mentioned(row, fake)
    assert not _mentioned({"class": "Timer", "member": "again", "kind": "method"}, fake)
    assert not _mentioned({"class": "UDP", "member": "start", "kind": "method"}, fake)
    assert _mentioned({"class": "", "member": "UV_EOF", "kind": "constant"}, fake)
    assert not _mentioned({"class": "", "member": "UV_EO", "kind": "constant"}, fake)
    with pytest.raises(AttributeError):
        _resolve({"module": "pyuv", "class": "Timer", "member": "no_such_member"})

"""The type stubs of pyuv-compat (pyuv/*.pyi) against the installed pyuv.

The stubs are parsed with ``ast`` (never imported) and compared with the runtime:

* every module of the package has a stub, and the public names (not starting with
  ``_``) of each stub module are exactly the runtime module's, ``__all__`` included;
* each stub class has the runtime class's bases and exactly the public names of the
  runtime class's own ``__dict__``; a struct sequence's fields are its member descriptors;
* every method and function in a stub has the runtime ``inspect.signature``'s
  parameters (names, kinds, which have defaults); a constructor is compared with the
  runtime ``__new__`` (the class's ``__text_signature__``) or ``__init__``;
  runtime catch-alls named ``*_x``/``**_x`` may be left out of a stub;
* properties are properties at runtime, read-only or settable as the stub says;
  ``classmethod``s are class methods at runtime;
* every row of the pyuv API checklist names something in the stubs (and its
  ``(ro)``/``(rw)`` note matches the stub's property).

PYUV_CHECKLIST overrides the checklist's path, as for test_checklist.py.
"""

import ast
import csv
import ctypes
import importlib
import inspect
import os
import pathlib
import sys
import types

import pytest

import pyuv

PKG_DIR = pathlib.Path(pyuv.__file__).resolve().parent
PKG = pyuv.__name__
# ../shared/spec beside the repository (tests/python/pyuv/<this file>: parents[3]).
CSV_PATH = pathlib.Path(os.environ.get(
    "PYUV_CHECKLIST",
    pathlib.Path(__file__).resolve().parents[3].parent / "shared/spec/pyuv-api-checklist.csv"))
# Where the checklist's "(struct seq)" result types live.
STRUCT_MODULES = (PKG + ".fs", PKG + ".dns", PKG + ".util")

P = inspect.Parameter
POK, KWONLY, VARPOS, VARKW = P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY, P.VAR_POSITIONAL, P.VAR_KEYWORD


def _module_files():
    """{module name: (.py path or None, .pyi path or None)} for the package directory."""
    out = {}
    for path in sorted(PKG_DIR.iterdir()):
        if path.suffix not in (".py", ".pyi"):
            continue
        name = PKG if path.stem == "__init__" else f"{PKG}.{path.stem}"
        py, pyi = out.get(name, (None, None))
        out[name] = (path, pyi) if path.suffix == ".py" else (py, path)
    return out


FILES = _module_files()


# --- the stubs, parsed -------------------------------------------------------------------

class StubClass:
    def __init__(self, module, node):
        self.module, self.node, self.name = module, node, node.name
        self.bases = [_dotted(b) for b in node.bases]
        self.members = {}  # name -> list of nodes (several for a property's setter / overloads)
        for item in node.body:
            if isinstance(item, ast.Expr) and isinstance(item.value, ast.Constant):
                continue  # docstring / ...
            if isinstance(item, ast.Pass):
                continue
            if isinstance(item, ast.FunctionDef):
                self.members.setdefault(item.name, []).append(item)
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                self.members.setdefault(item.target.id, []).append(item)
            elif isinstance(item, ast.Assign) and all(isinstance(t, ast.Name) for t in item.targets):
                for t in item.targets:
                    self.members.setdefault(t.id, []).append(item)
            else:
                raise AssertionError(f"{module}.{self.name}: unsupported stub construct "
                                     f"{ast.dump(item)[:80]} (line {item.lineno})")

    @property
    def is_structseq(self):
        return bool(self.bases) and self.bases[0].startswith("structseq")

    def fields(self):
        """A struct sequence's fields: its properties, in order."""
        return [n.name for n in self.node.body
                if isinstance(n, ast.FunctionDef) and "property" in _decorators(n)]


class StubModule:
    def __init__(self, name, path):
        self.name, self.path = name, path
        self.tree = ast.parse(path.read_text(), filename=str(path))
        self.defs = {}        # name -> StubClass | [FunctionDef, ...] | AnnAssign/Assign node
        self.reexports = {}   # name -> (module, attribute or None for a submodule)
        self.stars = []       # modules star-imported
        self.all = None
        package = name if FILES[name][1].stem == "__init__" else name.rpartition(".")[0]
        for node in self.tree.body:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue
            if isinstance(node, ast.ClassDef):
                self.defs[node.name] = StubClass(name, node)
            elif isinstance(node, ast.FunctionDef):
                self.defs.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                self.defs[node.target.id] = node
            elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
                for t in node.targets:
                    if t.id == "__all__":
                        self.all = ast.literal_eval(node.value)
                    self.defs[t.id] = node
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    target = f"{base}.{node.module}" if node.module else base
                else:
                    target = node.module
                for alias in node.names:
                    if alias.name == "*":
                        self.stars.append(target)
                    elif alias.asname == alias.name:  # explicit re-export
                        sub = f"{target}.{alias.name}"
                        self.reexports[alias.name] = (sub, None) if sub in FILES else (target, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname is not None and alias.asname == alias.name.rpartition(".")[2]:
                        self.reexports[alias.asname] = (alias.name, None)
            else:
                raise AssertionError(f"{name}: unsupported stub construct "
                                     f"{ast.dump(node)[:80]} (line {node.lineno})")

    def public_names(self):
        names = {n for n in list(self.defs) + list(self.reexports) if not n.startswith("_")}
        for star in self.stars:
            other = STUBS[star]
            exported = other.public_names()
            names |= exported & set(other.all) if other.all is not None else exported
        return names

    def lookup(self, name):
        """What ``name`` is in this stub module: a StubClass, a list of FunctionDefs, an
        assignment node, or ("module", name); following re-exports and star imports."""
        if name in self.defs:
            return self.defs[name]
        if name in self.reexports:
            mod, attr = self.reexports[name]
            return ("module", mod) if attr is None else STUBS[mod].lookup(attr)
        for star in self.stars:
            if name in STUBS[star].public_names():
                return STUBS[star].lookup(name)
        raise KeyError(f"{name} is not in the stub of {self.name}")


def _dotted(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return _dotted(node.value) + "." + node.attr
    if isinstance(node, ast.Subscript):  # structseq[Any], Tuple[int, ...]
        return _dotted(node.value) + "[...]"
    raise AssertionError(f"unsupported base expression {ast.dump(node)}")


def _decorators(fn):
    return [_dotted(d) for d in fn.decorator_list]


STUBS = {name: StubModule(name, pyi) for name, (_, pyi) in FILES.items() if pyi is not None}


def _all_classes():
    # Private stub-only helpers (a Protocol, say) have no runtime class.
    return [c for m in STUBS.values() for n, c in m.defs.items()
            if isinstance(c, StubClass) and not n.startswith("_")]


def _runtime_class(cls):
    return getattr(importlib.import_module(cls.module), cls.name)


def _stub_class_named(name, near):
    """A base class name of a stub class, resolved in the stubs (None: not a stub class)."""
    try:
        found = STUBS[near].lookup(name.rpartition(".")[2])
    except KeyError:
        return None
    return found if isinstance(found, StubClass) else None


def _stub_mro(cls):
    out, todo = [], [cls]
    while todo:
        c = todo.pop(0)
        if c not in out:
            out.append(c)
            todo.extend(b for b in (_stub_class_named(n, c.module) for n in c.bases) if b)
    return out


# --- parameters ----------------------------------------------------------------------------

def _params_of_ast(args):
    """[(name, kind, has_default)] of an ``ast.arguments``; var-params named "*"/"**"."""
    pos = [(a.arg, P.POSITIONAL_ONLY) for a in args.posonlyargs] + [(a.arg, POK) for a in args.args]
    first_default = len(pos) - len(args.defaults)
    out = [(n, k, i >= first_default) for i, (n, k) in enumerate(pos)]
    if args.vararg:
        out.append(("*" + args.vararg.arg, VARPOS, False))
    out += [(a.arg, KWONLY, d is not None) for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg:
        out.append(("**" + args.kwarg.arg, VARKW, False))
    return out


def _params_of_signature(sig):
    out = []
    for p in sig.parameters.values():
        name = {VARPOS: "*", VARKW: "**"}.get(p.kind, "") + p.name
        out.append((name, p.kind, p.default is not P.empty))
    return out


def _params_of_textsig(textsig):
    fn = ast.parse(f"def _f{textsig.replace('$', '')}: pass").body[0]
    return _params_of_ast(fn.args)


def _drop_first(params, names=("self", "cls")):
    if params and params[0][0] in names and params[0][1] in (P.POSITIONAL_ONLY, POK):
        return params[1:]
    return params


def _matches(stub, runtime, exact):
    """Whether stub parameters describe runtime ones. Runtime catch-alls (``*_a``,
    ``**_k``) may be missing from the stub; var-params match by kind. ``exact=False``
    (an overload) lets the stub make a defaulted parameter required or keyword-only."""
    stub_kinds = {k for _, k, _ in stub}
    runtime = [p for p in runtime
               if not (p[1] in (VARPOS, VARKW) and p[0].lstrip("*").startswith("_")
                       and p[1] not in stub_kinds)]
    if len(stub) != len(runtime):
        return False
    for (sn, sk, sd), (rn, rk, rd) in zip(stub, runtime):
        if sk in (VARPOS, VARKW) or rk in (VARPOS, VARKW):
            if sk != rk:
                return False
            continue
        if sn != rn:
            return False
        if exact:
            if (sk, sd) != (rk, rd):
                return False
        elif not (sk == rk or (rk == POK and sk == KWONLY)) or (sd and not rd):
            return False
    return True


def _check_callable(label, stub_fns, runtime_params, drop_first):
    assert runtime_params is not None
    stubs = [_params_of_ast(fn.args) for fn in stub_fns]
    if drop_first:
        stubs = [_drop_first(s) for s in stubs]
    overloaded = len(stub_fns) > 1
    if overloaded:
        assert all("overload" in _decorators(fn) for fn in stub_fns), f"{label}: not all @overload"
        bad = [s for s in stubs if not _matches(s, runtime_params, exact=False)]
        assert not bad, f"{label}: overload {bad[0]} does not fit the runtime {runtime_params}"
        assert any(_matches(s, runtime_params, exact=True) for s in stubs), (
            f"{label}: no overload has exactly the runtime parameters {runtime_params}")
    else:
        assert _matches(stubs[0], runtime_params, exact=True), (
            f"{label}: stub parameters {stubs[0]} != runtime {runtime_params}")


def _runtime_params(obj, drop_self):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params = _params_of_signature(sig)
    return _drop_first(params) if drop_self else params


# --- settable or read-only descriptors ---------------------------------------------------

_PTR = ctypes.sizeof(ctypes.c_void_p)


def _getset_has_setter(desc):
    """Whether a C getset descriptor has a setter: its PyGetSetDef's ``set`` pointer, read
    after checking the PyDescr_COMMON layout (d_type, d_name) against the object."""
    base = id(desc) + object.__basicsize__
    d_type = ctypes.c_void_p.from_address(base).value
    d_name = ctypes.c_void_p.from_address(base + _PTR).value
    if d_type != id(desc.__objclass__) or d_name != id(desc.__name__):
        return None
    getset = ctypes.c_void_p.from_address(base + 3 * _PTR).value
    name = ctypes.c_char_p.from_address(getset).value
    if name is None or name.decode() != desc.__name__:
        return None
    return ctypes.c_void_p.from_address(getset + 2 * _PTR).value is not None


def _layout_known():
    if sys.implementation.name != "cpython":
        return False
    return (_getset_has_setter(type.__dict__["__name__"]) is True
            and _getset_has_setter(int.__dict__["real"]) is False)


LAYOUT_KNOWN = _layout_known()


def _writable(desc):
    """True/False for a descriptor's settability, None if it cannot be told."""
    if isinstance(desc, property):
        return desc.fset is not None
    if isinstance(desc, types.GetSetDescriptorType) and LAYOUT_KNOWN:
        return _getset_has_setter(desc)
    return None


def _is_data_descriptor(obj):
    return inspect.isdatadescriptor(obj) and not inspect.isclass(obj)


def _property_kind(nodes):
    """"ro"/"rw" for a stub property, None if the member is not a property."""
    decos = [d for n in nodes if isinstance(n, ast.FunctionDef) for d in _decorators(n)]
    if "property" not in decos:
        return None
    return "rw" if any(d.endswith(".setter") for d in decos) else "ro"


# --- the package and its modules -----------------------------------------------------------

def test_every_module_has_a_stub_and_every_stub_a_module():
    assert (PKG_DIR / "py.typed").exists()
    missing = sorted(n for n, (py, pyi) in FILES.items() if py is not None and pyi is None)
    extra = sorted(n for n, (py, pyi) in FILES.items() if py is None and pyi is not None)
    assert not missing, f"modules without a stub: {missing}"
    assert not extra, f"stubs without a module: {extra}"
    assert len(STUBS) >= 8


@pytest.mark.parametrize("modname", sorted(STUBS))
def test_module_names_match_runtime(modname):
    stub = STUBS[modname]
    mod = importlib.import_module(modname)
    runtime = {n for n in dir(mod) if not n.startswith("_")}
    stubbed = stub.public_names()
    assert sorted(runtime - stubbed) == [], f"{modname}: in the runtime, not in the stub"
    assert sorted(stubbed - runtime) == [], f"{modname}: in the stub, not in the runtime"
    if hasattr(mod, "__all__"):
        assert stub.all is not None, f"{modname}: the runtime has __all__, the stub not"
        assert sorted(stub.all) == sorted(mod.__all__)
        undefined = sorted(set(stub.all) - stub.public_names())
        assert not undefined, f"{modname}: __all__ names what the stub does not define"
    for dunder in (n for n in list(stub.defs) if n.startswith("__") and n != "__all__"):
        assert hasattr(mod, dunder), f"{modname}.{dunder} is stubbed but not at runtime"


_SIMPLE = {"int": int, "str": str, "bool": bool, "float": (int, float), "bytes": bytes,
           "Dict": dict, "dict": dict, "List": list, "list": list}


@pytest.mark.parametrize("modname", sorted(STUBS))
def test_module_members_are_the_right_kind(modname):
    stub = STUBS[modname]
    mod = importlib.import_module(modname)
    checked = 0
    for name in sorted(stub.public_names()):
        found, value = stub.lookup(name), getattr(mod, name)
        label = f"{modname}.{name}"
        if isinstance(found, tuple):
            assert isinstance(value, types.ModuleType) and value.__name__ == found[1], label
        elif isinstance(found, StubClass):
            assert inspect.isclass(value), f"{label}: a class in the stub, {value!r} at runtime"
        elif isinstance(found, list):
            assert callable(value) and not inspect.isclass(value), f"{label}: not a function"
            _check_callable(label, found, _runtime_params(value, drop_self=False), False)
        else:
            assert not callable(value), f"{label}: a variable in the stub, callable at runtime"
            ann = getattr(found, "annotation", None)
            if ann is not None:
                head = ann.value if isinstance(ann, ast.Subscript) else ann
                if isinstance(head, ast.Name) and head.id in _SIMPLE:
                    assert isinstance(value, _SIMPLE[head.id]), f"{label}: {value!r}"
        checked += 1
    assert checked


# --- classes -------------------------------------------------------------------------------

CLASSES = _all_classes()


def _cls_id(cls):
    return f"{cls.module}.{cls.name}"


@pytest.mark.parametrize("cls", CLASSES, ids=_cls_id)
def test_class_bases_match_runtime(cls):
    rt = _runtime_class(cls)
    runtime = [b.__name__ for b in rt.__bases__]
    stub = [b.rpartition(".")[2] for b in cls.bases] or ["object"]
    if cls.is_structseq:
        assert runtime == ["tuple"] and hasattr(rt, "n_fields"), f"{_cls_id(cls)} is no struct sequence"
        members = [n for n, v in vars(rt).items() if isinstance(v, types.MemberDescriptorType)]
        assert cls.fields() == members
        assert rt.n_fields == rt.n_sequence_fields == len(members)
    else:
        assert stub == runtime


@pytest.mark.parametrize("cls", CLASSES, ids=_cls_id)
def test_class_names_match_runtime(cls):
    rt = _runtime_class(cls)
    runtime = {n for n in vars(rt) if not n.startswith("_")}
    stubbed = {n for n in cls.members if not n.startswith("_")}
    if cls.is_structseq:  # declared by typeshed's _typeshed.structseq, the stub's base
        stubbed |= {"n_fields", "n_sequence_fields", "n_unnamed_fields"}
    assert sorted(runtime - stubbed) == [], f"{_cls_id(cls)}: in the runtime, not in the stub"
    assert sorted(stubbed - runtime) == [], f"{_cls_id(cls)}: in the stub, not in the runtime"
    for dunder in (n for n in cls.members if n.startswith("_")):
        assert inspect.getattr_static(rt, dunder, None) is not None, (
            f"{_cls_id(cls)}.{dunder} is stubbed but not at runtime")


@pytest.mark.parametrize("cls", CLASSES, ids=_cls_id)
def test_class_members_match_runtime(cls):
    rt = _runtime_class(cls)
    for name, nodes in sorted(cls.members.items()):
        label = f"{_cls_id(cls)}.{name}"
        if name in ("__new__", "__init__"):
            continue  # test_constructor_matches_runtime
        raw = inspect.getattr_static(rt, name)
        kind = _property_kind(nodes)
        if kind is not None:
            assert _is_data_descriptor(raw), f"{label}: a property in the stub, {raw!r} at runtime"
            writable = _writable(raw)
            if writable is not None:
                assert kind == ("rw" if writable else "ro"), (
                    f"{label}: {kind} in the stub, {'settable' if writable else 'read-only'} at runtime")
            continue
        fns = [n for n in nodes if isinstance(n, ast.FunctionDef)]
        if not fns:  # an attribute annotation
            if _is_data_descriptor(raw) and not cls.is_structseq:
                assert _writable(raw) is not False, f"{label}: read-only at runtime: a property"
            continue
        is_cm = "classmethod" in _decorators(fns[0])
        runtime_cm = isinstance(raw, (classmethod, types.ClassMethodDescriptorType))
        assert is_cm == runtime_cm, f"{label}: classmethod in the stub {is_cm}, at runtime {runtime_cm}"
        assert not _is_data_descriptor(raw) or callable(raw), f"{label}: a method in the stub"
        if is_cm:
            params = _runtime_params(getattr(rt, name), drop_self=False)
        else:
            params = _runtime_params(raw, drop_self=True)
        if params is not None:
            _check_callable(label, fns, params, drop_first=True)


def _runtime_constructor(rt):
    """The runtime constructor's parameters, from the first class along the MRO that
    defines one: a ``__new__`` (its ``__text_signature__``) or a Python-visible ``__init__``."""
    for klass in rt.__mro__:
        if klass is object:
            return []
        own = vars(klass)
        if "__new__" in own and getattr(klass, "__text_signature__", None):
            return _params_of_textsig(klass.__text_signature__)
        if "__init__" in own:
            return _runtime_params(own["__init__"], drop_self=True)
        if "__new__" in own:
            return None  # a constructor without a signature
    return []


@pytest.mark.parametrize("cls", [c for c in CLASSES if not c.is_structseq], ids=_cls_id)
def test_constructor_matches_runtime(cls):
    rt = _runtime_class(cls)
    label = _cls_id(cls) + "()"
    own = [n for n in ("__new__", "__init__") if n in cls.members]
    assert len(own) <= 1, f"{label}: the stub has both __new__ and __init__"
    runtime = _runtime_constructor(rt)
    if own:
        fns = cls.members[own[0]]
        runtime_here = "__new__" in vars(rt) or "__init__" in vars(rt)
        assert runtime_here, f"{label}: stubbed, but the runtime class inherits its constructor"
        if runtime is not None:
            _check_callable(label, fns, runtime, drop_first=True)
    else:
        # The stub inherits its constructor: the runtime must take the same.
        inherited = next((c for c in _stub_mro(cls)[1:]
                          if "__new__" in c.members or "__init__" in c.members), None)
        if inherited is None:
            expect = [] if not any(b in ("Exception", "BaseException") or b.endswith("Error")
                                   for b in cls.bases) else None
            if expect is not None and runtime is not None:
                assert _matches([], runtime, exact=True), (
                    f"{label}: the runtime takes {runtime}, the stub nothing")
        elif runtime is not None:
            fn = inherited.members.get("__new__") or inherited.members["__init__"]
            _check_callable(label, fn, runtime, drop_first=True)


def test_writability_is_checked():
    """The read-only/settable comparison ran (it needs CPython's descriptor layout)."""
    if not LAYOUT_KNOWN:
        pytest.skip("cannot read getset descriptors' setters on this interpreter")
    seen = set()
    for cls in CLASSES:
        rt = _runtime_class(cls)
        for name in cls.members:
            raw = vars(rt).get(name)
            if isinstance(raw, types.GetSetDescriptorType):
                seen.add(_writable(raw))
    assert seen == {True, False}


# --- the checklist -----------------------------------------------------------------------

def _rows():
    if not CSV_PATH.exists():
        return []
    with CSV_PATH.open(newline="") as f:
        return list(csv.DictReader(f))


ROWS = _rows()


def _row_id(row):
    return ".".join(x for x in (row["module"], row["class"], row["member"]) if x)


def _stub_member(cls, member):
    for c in _stub_mro(cls):
        if member in c.members:
            return c.members[member]
    return None


@pytest.mark.skipif(not ROWS, reason=f"checklist not found at {CSV_PATH}")
@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_checklist_row_is_stubbed(row):
    module, cls_name, member = row["module"], row["class"], row["member"]
    if module == "(struct seq)":
        found = [STUBS[m].defs[cls_name] for m in STRUCT_MODULES if cls_name in STUBS[m].defs]
        assert found and found[0].is_structseq, f"no result type {cls_name} in {STRUCT_MODULES}"
        return
    stub = STUBS[module]
    if not cls_name:
        assert member in stub.public_names(), f"{member} is not in the stub of {module}"
        return
    assert cls_name in stub.public_names(), f"{cls_name} is not in the stub of {module}"
    cls = stub.lookup(cls_name)
    assert isinstance(cls, StubClass), f"{module}.{cls_name} is not a class in the stub"
    if module != PKG and module.startswith(PKG + "._"):
        assert cls_name in STUBS[PKG].public_names(), f"{cls_name} is not in the stub of {PKG}"
    if member:
        nodes = _stub_member(cls, member)
        assert nodes is not None, f"{_row_id(row)} is not in the stub"
        note = row["signature"]
        if row["kind"] == "attribute" and ("(ro)" in note or "(rw)" in note):
            assert _property_kind(nodes) == ("rw" if "(rw)" in note else "ro"), _row_id(row)

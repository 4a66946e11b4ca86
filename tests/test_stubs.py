"""The type stubs describe the code they stand for.

stubs/ws_mask.pyi is checked against the C module's names in the firmware
and against the pure-Python twin's signatures; frozen/microdot/websocket.pyi
against this project's microdot.websocket imported on CPython.
"""
import ast
import importlib.util
import inspect
import os

import pytest

from conftest import FROZEN_MICRODOT as FROZEN, ROOT

WS_MASK_STUB = os.path.join(ROOT, 'stubs', 'ws_mask.pyi')
WEBSOCKET_STUB = os.path.join(ROOT, 'frozen', 'microdot', 'websocket.pyi')


def stub_functions(body):
    """{name: (is_async, [parameter names])} of the defs in an AST body."""
    out = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            names = [a.arg for a in args.posonlyargs + args.args
                     + args.kwonlyargs]
            out[node.name] = (isinstance(node, ast.AsyncFunctionDef), names)
    return out


def parse(path):
    with open(path) as f:
        return ast.parse(f.read())


def signature(func):
    return (inspect.iscoroutinefunction(func),
            list(inspect.signature(func).parameters))


def stub_classes(body):
    """{name: stub_functions(class body)} of the classes in an AST body."""
    return {node.name: stub_functions(node.body) for node in body
            if isinstance(node, ast.ClassDef)}


def test_ws_mask_stub_matches_the_python_twin():
    spec = importlib.util.spec_from_file_location(
        'twin', os.path.join(FROZEN, '_ws_mask.py'))
    twin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(twin)
    tree = parse(WS_MASK_STUB)
    stub = stub_functions(tree.body)
    assert sorted(stub) == ['build_header', 'byteview', 'copy', 'header',
                            'mask', 'parse_header', 'utf8_validate']
    for name, sig in stub.items():
        assert signature(getattr(twin, name)) == sig, name
    classes = stub_classes(tree.body)
    assert sorted(classes) == ['Payload']
    for cls, methods in classes.items():
        for name, sig in methods.items():
            assert signature(getattr(getattr(twin, cls), name)) == sig, \
                (cls, name)


def test_ws_mask_stub_names_the_c_module_functions(run_mpy):
    r = run_mpy(code='import ws_mask\n'
                     'def public(o):\n'
                     '    return " ".join(sorted(n for n in dir(o) '
                     'if not n.startswith("_")))\n'
                     'print(public(ws_mask))\n'
                     'print(public(ws_mask.Payload))')
    assert r.returncode == 0, r.stderr
    names, payload = r.stdout.splitlines()
    tree = parse(WS_MASK_STUB)
    classes = stub_classes(tree.body)
    assert names.split() == sorted(set(stub_functions(tree.body))
                                   | set(classes))
    assert payload.split() == sorted(n for n in classes['Payload']
                                     if not n.startswith('_'))


@pytest.fixture(scope='module')
def websocket(our_websocket):
    return our_websocket


def test_websocket_stub_matches_the_module(websocket):
    tree = parse(WEBSOCKET_STUB)
    functions = stub_functions(tree.body)
    assert functions, 'no functions in the stub'
    for name, sig in functions.items():
        assert signature(getattr(websocket, name)) == sig, name
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert {c.name for c in classes} == {'WebSocket', 'WebSocketError'}
    for cls in classes:
        real = getattr(websocket, cls.name)
        for name, sig in stub_functions(cls.body).items():
            assert signature(getattr(real, name)) == sig, (cls.name, name)
        for node in cls.body:
            if isinstance(node, ast.AnnAssign) and \
                    'ClassVar' in ast.dump(node.annotation):
                assert hasattr(real, node.target.id), node.target.id
    # Every public name of the module is in the stub.
    public = {n for n in dir(websocket) if not n.startswith('_')
              and getattr(getattr(websocket, n), '__module__', None)
              == websocket.__name__}
    assert public <= set(functions) | {c.name for c in classes}

"""The shape of the package: imports point one way, and no tool needs TensorFlow for --help.

The import graph is read from the source (no module is imported): every `import` and
`from ... import` of a cartoongan module, at module level or inside a function, is an edge.
A function-level import is lazy, but a circle of them is still a circle: the two modules
cannot be understood (or moved) one without the other.
"""

import ast
import configparser
import json
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

PACKAGE = "cartoongan"


def _modules():
    """{module name: source path} of every module of the package."""
    modules = {}
    for path in sorted((PROJECT_ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported(node, module, is_package, modules):
    """The cartoongan modules an Import/ImportFrom node names."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:  # relative: resolved against the importing module's package
            base = module.split(".")
            base = base[: len(base) - node.level + (1 if is_package else 0)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        # `from a import b` names the module a.b when there is one, else a name in a
        names = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names]
    found = set()
    for name in names:
        while name and name not in modules:  # `import a.b.c` of a name that is not a module
            name = name.rpartition(".")[0]
        if name:
            found.add(name)
    return found


def import_graph():
    """{module: set of the cartoongan modules it imports anywhere in its source}."""
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _imported(node, module, path.name == "__init__.py", modules)
        graph[module] = edges - {module}
    return graph


def find_cycles(graph):
    """The strongly connected components of more than one module (Tarjan), each as one
    circle of imports: [a, b, ..., a]."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_circle(graph, component) for component in components]


def _circle(graph, component):
    """One closed path through `component`, from its first module back to it (breadth-first)."""
    start = min(component)
    paths = {target: [start, target] for target in graph[start] if target in component}
    frontier = list(paths)
    while start not in paths:
        frontier = [(node, target) for node in frontier for target in sorted(graph[node]) if target in component]
        next_frontier = []
        for node, target in frontier:
            if target not in paths:
                paths[target] = paths[node] + [target]
                next_frontier.append(target)
        frontier = next_frontier
    return paths[start]


def test_the_package_has_no_import_cycle():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


# Edges left out of the package-level check, each with the reason it is still there (none
# today: keep the set, so that an exception is written down here rather than in the test).
_KNOWN_UPWARD_IMPORTS = set()


def test_the_subpackages_have_no_import_cycle_between_them():
    """Modules of cartoongan.weights, .data, .models, .training, .serve and .cli taken as one
    node each: presets import weights (to fetch a style), so weights must not import presets."""
    def node(module):
        return ".".join(module.split(".")[:2])

    graph = {}
    for module, targets in import_graph().items():
        graph.setdefault(node(module), set()).update(
            node(target) for target in targets if (module, target) not in _KNOWN_UPWARD_IMPORTS)
    graph = {module: targets - {module} for module, targets in graph.items()}
    cycles = find_cycles(graph)
    assert not cycles, "import cycles between subpackages: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_finder_names_a_cycle_it_is_shown():
    """The check above passes on a package without cycles only if it can see one."""
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a", "p.d"}, "p.d": set(), "p.e": {"p.d"}}
    assert find_cycles(graph) == [["p.a", "p.b", "p.c", "p.a"]]
    assert find_cycles({"p.a": {"p.b"}, "p.b": set()}) == []


def test_the_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    # presets imports the light generator only inside convert_light_checkpoint
    assert "cartoongan.families.light.generator" in graph["cartoongan.presets"]
    assert "cartoongan.models.layers" in graph["cartoongan.models.discriminator"]


# --- --help without TensorFlow ---------------------------------------------------------------


def console_scripts():
    """{script name: "module:function"} from setup.cfg's [options.entry_points]."""
    config = configparser.ConfigParser()
    config.read(PROJECT_ROOT / "setup.cfg")
    lines = config["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict((part.strip() for part in line.split("=", 1)) for line in lines if line.strip())


def test_every_tool_has_a_console_script_named_by_one_scheme():
    """cartoongan-<tool> for cartoongan/cli/<tool>.py, and `cartoonize`, the main job's short name."""
    tools = {path.stem for path in (PROJECT_ROOT / PACKAGE / "cli").glob("*.py")
             if path.stem not in ("__init__", "flags")}  # flags: the tools' shared helpers
    expected = {f"cartoongan-{tool.replace('_', '-')}": f"{PACKAGE}.cli.{tool}:main" for tool in tools}
    expected["cartoonize"] = f"{PACKAGE}.cli.cartoonize:main"
    assert console_scripts() == expected
    for tool in tools:  # and a tools/ wrapper for a clone that is not installed
        assert (PROJECT_ROOT / "tools" / f"{tool}.py").is_file(), tool


# Every tool run as `python -m cartoongan.cli.<tool> --help`, in one interpreter (runpy runs
# a module as `python -m` does): its exit status and the first line it printed.
_RUN_AS_MAIN = """
import contextlib, io, json, runpy, sys
answers = {}
for module in sys.argv[1:]:
    sys.argv = [module, "--help"]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        code = exit.code
    else:
        code = "returned"
    answers[module] = [code, out.getvalue().partition("\\n")[0]]
print(json.dumps(answers))
"""


def test_every_tool_runs_with_python_m():
    tools = sorted(f"{PACKAGE}.cli.{path.stem}" for path in (PROJECT_ROOT / PACKAGE / "cli").glob("*.py")
                   if path.stem not in ("__init__", "flags"))
    result = subprocess.run([sys.executable, "-c", _RUN_AS_MAIN, *tools], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.splitlines()[-1])
    for module in tools:  # a module without its `__main__` guard returns without a word
        code, first_line = answers[module]
        assert code == 0 and first_line.startswith("usage: "), f"python -m {module} --help: {code!r} {first_line!r}"


# What the entry point does, in a fresh interpreter: --help, then whether TensorFlow (or
# Keras, which loads it) was imported on the way.
_HELP = """
import importlib, sys
module, function = sys.argv[1].split(":")
sys.argv = [sys.argv[2], "--help"]
try:
    getattr(importlib.import_module(module), function)()
except SystemExit as exit:
    code = exit.code
else:
    code = "returned"
print("EXIT", code, "TF", "tensorflow" in sys.modules, "KERAS", "keras" in sys.modules)
"""


@pytest.mark.parametrize("script", sorted(console_scripts()))
def test_help_answers_without_importing_tensorflow(script):
    result = subprocess.run([sys.executable, "-c", _HELP, console_scripts()[script], script], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # the usage line names the command as typed: its console script (cartoonize: the short one)
    prog = "cartoonize" if console_scripts()[script].endswith(".cartoonize:main") else script
    assert result.stdout.startswith(f"usage: {prog} "), result.stdout[:100]
    assert result.stdout.splitlines()[-1] == "EXIT 0 TF False KERAS False", result.stdout[-300:]

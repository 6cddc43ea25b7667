"""The package's shape against its documentation: the layer diagram of
docs/architecture.md (read from the doc, so the two cannot drift) against every import
of finetune_lm/; every path the docs and docstrings name exists; nothing cites a file
outside the repository or an issue tracker. No TensorFlow: the code is read, not run
(one slow test runs the checks in a fresh interpreter to see TensorFlow stay out)."""

import ast
import io
import os
import re
import subprocess
import sys
import tokenize

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, "finetune_lm")
COMMANDS = "commands"


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def diagram(text=None):
    """[(layer, {module file names})], top layer first, from the code block under
    "## The layers" in docs/architecture.md."""
    text = text if text is not None else read(os.path.join(ROOT, "docs", "architecture.md"))
    block = text.split("## The layers", 1)[1].split("```", 2)[1]
    layers = []
    for line in block.splitlines():
        if not line.strip() or "─" in line:
            continue
        if not line[0].isspace():
            name, line = line.split(None, 1)
            layers.append((name, set()))
        layers[-1][1].update(re.findall(r"(?<![\w/])(\w+\.py)\b", line))
    return layers


def modules():
    """{path relative to finetune_lm/: layer name} of every module of the package."""
    found = {}
    for folder, _, files in os.walk(PKG):
        rel = os.path.relpath(folder, PKG)
        for name in files:
            if name.endswith(".py"):
                found[os.path.normpath(os.path.join(rel, name))] = (
                    COMMANDS if rel == "." else rel.split(os.sep)[0] + "/")
    return found


def layer_of(dotted):
    """The layer of the module `finetune_lm.<dotted>` (a package's name or a command)."""
    first = dotted.split(".")[0]
    return first + "/" if os.path.isdir(os.path.join(PKG, first)) else COMMANDS


def imports(path):
    """[(line, dotted name below finetune_lm)] of every import in a module, at any depth,
    relative ones resolved."""
    rel = os.path.relpath(path, PKG)
    package = os.path.dirname(rel).replace(os.sep, ".")
    out = []
    for node in ast.walk(ast.parse(read(path), path)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - node.level + 1]
                mod = ".".join(["finetune_lm"] + base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [mod + "." + a.name if mod == "finetune_lm" else mod for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("finetune_lm."):
                out.append((node.lineno, name[len("finetune_lm."):]))
    return sorted(out)


def test_the_diagram_names_every_module_in_its_layer():
    layers = dict(diagram())
    assert list(layers) == [COMMANDS, "training/", "tasks/", "lm/", "data/", "model/", "util/"]
    for rel, layer in modules().items():
        name = os.path.basename(rel)
        if name == "__init__.py" or layer == "tasks/":  # one declaration per task
            continue
        assert name in layers[layer], "%s is not drawn in the %s layer of docs/architecture.md" % (
            rel, layer)
    for layer, names in layers.items():
        folder = PKG if layer == COMMANDS else os.path.join(PKG, layer)
        for name in names:
            assert os.path.isfile(os.path.join(folder, name)), "%s%s is drawn but absent" % (
                "" if layer == COMMANDS else layer, name)


def test_every_import_goes_to_its_layer_or_below():
    rank = {name: i for i, (name, _) in enumerate(reversed(diagram()))}
    wrong = []
    for rel, layer in sorted(modules().items()):
        for line, target in imports(os.path.join(PKG, rel)):
            to = layer_of(target)
            if rank[to] > rank[layer]:
                wrong.append("finetune_lm/%s:%d imports finetune_lm.%s (%s above %s)"
                             % (rel, line, target, to, layer))
            elif layer == to == COMMANDS and target.split(".")[0] != "flags" and not (
                    rel == "api.py" or (rel == "__init__.py" and target == "api")):
                # api.py (the Python API, re-exported by the package) is the commands'
                # work as functions: it alone calls commands.
                wrong.append("finetune_lm/%s:%d imports the command finetune_lm.%s: a command "
                             "imports library code from the layers (and flags)" % (rel, line, target))
    assert wrong == []


def test_a_planted_upward_import_is_caught(tmp_path):
    """The checks can fail: the diagram parser and the import reader on a made-up doc and
    module."""
    doc = "## The layers\n\n```\nupper/   a.py\n  ───\nlower/   b.py\n         c.py\n```\n"
    assert diagram(doc) == [("upper/", {"a.py"}), ("lower/", {"b.py", "c.py"})]
    mod = tmp_path / "m.py"
    mod.write_text("import os\ndef f():\n    from finetune_lm.training import towers\n"
                   "from finetune_lm import flags\nfrom finetune_lm.model.ops import gelu\n")
    assert imports(str(mod)) == [(3, "training"), (4, "flags"), (5, "model.ops")]
    assert layer_of("training.towers") == "training/" and layer_of("flags") == COMMANDS


def test_activation_and_schedule_names_without_tensorflow_match_their_code():
    from finetune_lm.model import hparams, ops
    from finetune_lm.training import opt
    assert sorted(hparams.ACTIVATIONS) == sorted(ops.ACT_FNS)
    assert sorted(hparams.SCHEDULES) == sorted(opt.SCHEDULES)


@pytest.mark.slow
def test_the_checks_and_every_parser_import_without_tensorflow():
    code = ("import sys; import finetune_lm.training.checks, finetune_lm.training.fine_tune, "
            "finetune_lm.flags, finetune_lm.train, finetune_lm.reproduce, finetune_lm.download, "
            "finetune_lm.convert; from finetune_lm import train, flags; "
            "a = train.build_parser().parse_args(['--dataset', 'rte', '--lr', '-1']); "
            "e = None\ntry:\n    flags.check(a)\nexcept Exception as err:\n    e = str(err)\n"
            "print(e); print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["--lr -1.0: expected a positive learning rate", "False"]


# -- what the docs and docstrings name ------------------------------------------------------

def prose_files():
    """(path, [(line, text)]) of the Markdown pages and of every comment and docstring of
    the Python files, package and tests."""
    for name in ["README.md"] + sorted("docs/" + n for n in os.listdir(os.path.join(ROOT, "docs"))
                                       if n.endswith(".md")):
        yield name, list(enumerate(read(os.path.join(ROOT, name)).splitlines(), 1))
    for top in ("finetune_lm", "tests"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    yield os.path.relpath(path, ROOT), python_prose(path)


def python_prose(path):
    text = read(path)
    lines = [(t.start[0], t.string) for t in tokenize.generate_tokens(io.StringIO(text).readline)
             if t.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(text, path)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                first = node.body[0].lineno
                lines += [(first + i, line) for i, line in enumerate(doc.splitlines())]
    return lines


PATH = re.compile(r"(?<![\w/.])((?:finetune_lm|tests|docs)/[\w./-]*\w)")
DOTTED = re.compile(r"(?<![\w/.])finetune_lm((?:\.\w+)+)")
ISSUE = re.compile(r"(?i)\bissues? #?\d+\b|(?<![\w&#])#\d+\b(?! (?:ID|String))")


def dotted_exists(parts):
    """finetune_lm.<parts>: modules down the packages, then at most attributes of a module
    (or names a package's __init__.py holds)."""
    here = PKG
    for i, part in enumerate(parts):
        if os.path.isdir(os.path.join(here, part)):
            here = os.path.join(here, part)
        elif os.path.isfile(os.path.join(here, part + ".py")):
            return True
        else:
            init = os.path.join(here, "__init__.py")
            if i == 0:  # the package's own names: the Python API it exports lazily (_API)
                return '"%s"' % part in read(init)
            return re.search(r"\b%s\b" % part, read(init)) is not None
    return True


def test_every_path_named_in_the_docs_and_docstrings_exists():
    missing = []
    for name, lines in prose_files():
        for line, text in lines:
            for path in PATH.findall(text):
                if not os.path.exists(os.path.join(ROOT, path.rstrip("."))):
                    missing.append("%s:%d names %s" % (name, line, path))
            for dotted in DOTTED.findall(text):
                if not dotted_exists(dotted.strip(".").split(".")):
                    missing.append("%s:%d names finetune_lm%s" % (name, line, dotted))
    assert missing == []


def test_nothing_cites_a_file_outside_the_repository_or_an_issue():
    cited = []
    for name, lines in prose_files():
        for line, text in lines:
            text = text.replace("FINETUNE_LM_DATA=../shared/data", "")  # the test command
            if "FIDELITY.md" in text or "../shared" in text or "/work/" in text:
                cited.append("%s:%d: %s" % (name, line, text.strip()))
            if ISSUE.search(text):
                cited.append("%s:%d: %s" % (name, line, text.strip()))
    assert cited == []


def test_the_prose_checks_can_fail():
    assert ISSUE.search("measured in the same run (issue #11)")
    assert ISSUE.search("The edges (#18): runs")
    assert not ISSUE.search("index\t#1 ID\t#2 ID\t#1 String\t#2 String")
    assert PATH.findall("see finetune_lm/checkpoint.py, or docs/fidelity.md.") == [
        "finetune_lm/checkpoint.py", "docs/fidelity.md"]
    assert not dotted_exists(["rng"]) and dotted_exists(["model", "rng", "SiteSeeds"])
    assert dotted_exists(["tasks", "get_task"]) and not dotted_exists(["heads"])


def test_ci_runs_the_readmes_test_command():
    """.ci/run runs the README's test command (its pytest part, as written), and the
    test extras install what that command needs (pytest-xdist for -n)."""
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    commands = [l for l in readme.splitlines() if l.startswith("pip install -e '.[test]'")]
    assert len(commands) == 1, commands
    pytest_part = commands[0].split("python -m pytest", 1)[1]
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    runs = [l for l in ci.splitlines() if "python -m pytest" in l]
    assert runs and all(l.split("python -m pytest", 1)[1] == pytest_part for l in runs), runs
    setup = open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read()
    if " -n " in pytest_part:
        assert "pytest-xdist" in setup

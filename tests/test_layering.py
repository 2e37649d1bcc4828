"""The layering of DESIGN.md, kept by the test command.

import-linter checks the imports against the contracts in pyproject.toml
([tool.importlinter]); an AST scan checks what imports cannot show: that a front
(handlers/, jobs/, web/) neither writes the journal (actions, steps, events, orders, fills,
rule state) through the Store nor reaches a venue or the executor itself. The contracts
name all three fronts.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "db", "handlers", "jobs", "web")
FRONTS = ("handlers", "jobs", "web")

# lint-imports, run by the interpreter that runs the tests (it is import-linter 2.16's
# console script; the package has no `python -m` entry).
LINT_IMPORTS = [
    sys.executable,
    "-c",
    "from importlinter.cli import lint_imports_command; lint_imports_command()",
    "--no-cache",  # nothing written into the checkout or the copy
    "--no-logo",
]


def _contract_names(root: Path) -> list[str]:
    config = tomllib.loads((root / "pyproject.toml").read_text())
    return [c["name"] for c in config["tool"]["importlinter"]["contracts"]]


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the packages under `root`, which comes first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p
    )
    env["COLUMNS"] = "1000"  # one contract a line: rich wraps at the terminal width
    env["NO_COLOR"] = "1"
    return subprocess.run(
        LINT_IMPORTS, cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def _report(result: subprocess.CompletedProcess[str]) -> str:
    return f"lint-imports exited {result.returncode}\n{result.stdout}\n{result.stderr}"


def _verdicts(output: str, names: list[str]) -> dict[str, str]:
    """Each contract's KEPT or BROKEN, from the summary lines of the report."""
    verdicts = {}
    for line in output.splitlines():
        for name in names:
            for verdict in ("KEPT", "BROKEN"):
                if line.startswith(f"{name} {verdict}"):
                    verdicts[name] = verdict
    return verdicts


def _sections(output: str) -> dict[str, str]:
    """The report's parts by title (a title is underlined with dashes): under each broken
    contract's name, the imports that break it."""
    lines = output.splitlines()
    titles = [i for i in range(len(lines) - 1) if lines[i] and lines[i + 1] == "-" * len(lines[i])]
    ends = [*titles[1:], len(lines)]
    return {lines[i]: "\n".join(lines[i + 2 : end]) for i, end in zip(titles, ends, strict=True)}


def test_every_import_contract_is_kept() -> None:
    names = _contract_names(ROOT)
    result = _lint_imports(ROOT)
    verdicts = _verdicts(result.stdout, names)
    assert result.returncode == 0 and verdicts == dict.fromkeys(names, "KEPT"), _report(result)


def _copy_project(dest: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _first_module(package_dir: Path) -> Path:
    return next(p for p in sorted(package_dir.glob("*.py")) if p.name != "__init__.py")


@pytest.mark.parametrize(
    ("package", "injected", "contract"),
    [
        pytest.param(
            "handlers",
            "bot.venues.paper",
            "Fronts go through bot.ops: handlers, jobs and web import no venue and no"
            " execution machinery",
            id="handler-imports-a-venue",
        ),
        pytest.param(
            "web",
            "handlers.messages",
            "Fronts are independent: handlers, jobs and web meet only in bot.ops",
            id="web-imports-a-handler",
        ),
        pytest.param(
            "bot/ops",
            "web.server",
            "bot.ops knows no front: no Telegram, no scheduler, no handlers, jobs or bot.app",
            id="op-imports-the-web-front",
        ),
        pytest.param(
            "bot/ops",
            "telegram",
            "bot.ops knows no front: no Telegram, no scheduler, no handlers, jobs or bot.app",
            id="op-imports-telegram",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, package: str, injected: str, contract: str
) -> None:
    copy = _copy_project(tmp_path)
    names = _contract_names(copy)
    assert contract in names, "the contract this test breaks was renamed in pyproject.toml"
    module_file = _first_module(copy / package)
    with module_file.open("a") as f:
        f.write(f"\nimport {injected}\n")
    module = ".".join(module_file.relative_to(copy).with_suffix("").parts)

    result = _lint_imports(copy)

    assert result.returncode == 1, _report(result)
    assert _verdicts(result.stdout, names).get(contract) == "BROKEN", _report(result)
    offending = f"{module} -> {injected} (l."
    assert offending in _sections(result.stdout).get(contract, ""), _report(result)


# A front asks bot.ops; it never journals nor trades itself.
STORE_WRITES = frozenset(
    {
        "record_event",
        "create_action",
        "update_action",
        "add_step",
        "update_step",
        "upsert_order",
        "record_fills",
        "put_rule_state",
        "delete_rule_state",
    }
)
EXECUTION = frozenset({"venues", "executor"})


def front_violations(source: str, filename: str) -> list[str]:
    """Where `source` writes through the Store or touches `.venues` / `.executor`."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        name = None
        if isinstance(node, ast.Attribute):
            name = node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
        ):
            name = node.args[1].value
        if name in STORE_WRITES:
            found.append((node.lineno, f"writes through the Store: {ast.unparse(node)}"))
        elif name in EXECUTION:
            found.append((node.lineno, f"reaches .{name}: {ast.unparse(node)}"))
    return [f"{filename}:{line}: {what}" for line, what in sorted(found)]


def test_the_scanner_flags_writes_and_venue_access() -> None:
    source = (
        "async def handle(services, ctx, store):\n"
        "    services.store.record_event('tp_fired', 'text')\n"
        "    await ctx.venues['okx'].place(order)\n"
        "    await ctx.executor.run(order)\n"
        "    write = store.add_step\n"
        "    getattr(store, 'upsert_order')(order)\n"
        "    return await services.ops.status.snapshot(), store.recent_events()\n"
    )
    found = front_violations(source, "handlers/example.py")
    assert [v.split(": ", 1)[0] for v in found] == [
        f"handlers/example.py:{line}" for line in (2, 3, 4, 5, 6)
    ]
    assert "services.store.record_event" in found[0]
    assert front_violations("ops.close.preview(plan)\nstore.recent_actions()\n", "f.py") == []


def test_fronts_neither_write_the_journal_nor_reach_venues() -> None:
    files = sorted(f for front in FRONTS for f in (ROOT / front).rglob("*.py"))
    assert {f.relative_to(ROOT).parts[0] for f in files} == set(FRONTS)
    found = [
        v for f in files for v in front_violations(f.read_text(), f.relative_to(ROOT).as_posix())
    ]
    assert found == [], "a front does what belongs in bot.ops:\n" + "\n".join(found)

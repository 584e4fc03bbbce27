"""Team requirements and the CI lock: which locked packages each model depends on.

A team declares what its models import in pip requirements files under
`requirements/`: `models.in` for every model, and a model's own file named by
its spec (`train.requirements: requirements/<model>.in`). `make lock` compiles
them, with the toolkit's dependencies (pyproject.toml) and its dev tools
(`toolkit-dev.in`), into `requirements/lock.txt` with pip-compile: one pin and
its sha256 hashes per package, and pip-compile's `# via` notes, which say which
input file or package asked for it. torch is left out of the lock (its CPU and
CUDA builds cannot share one): actions/setup installs it at the pin the `.in`
files give, from the index that fits the runner.

`modelops changed` reads the lock at both ends of a change: a package whose
pin changed touches the models whose requirements reach it through the `# via`
notes; a package only the toolkit or its dev tools need touches none.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from modelops.errors import InputError
from modelops.project import Project

REQUIREMENTS_DIR = "requirements"
LOCK = f"{REQUIREMENTS_DIR}/lock.txt"
SHARED = f"{REQUIREMENTS_DIR}/models.in"
# Installed by actions/setup from the index that fits the runner, never from the lock.
UNLOCKED = frozenset({"torch"})
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")
_PIN_START = re.compile(r"^[A-Za-z0-9]")


@dataclass(frozen=True)
class Pin:
    """One locked package: its exact version, its hashes and who asked for it."""

    name: str
    version: str
    hashes: tuple[str, ...]
    # pip-compile's `# via` notes: "-r requirements/x.in", "modelops (pyproject.toml)"
    # or the canonical name of a package that depends on this one.
    via: tuple[str, ...]


@dataclass(frozen=True)
class Lock:
    """A parsed `requirements/lock.txt`."""

    pins: dict[str, Pin]

    def reached_from(self, sources: set[str]) -> set[str]:
        """Packages that `sources` (e.g. "-r requirements/models.in") need, directly or not."""
        reached: set[str] = set()
        grew = True
        while grew:
            grew = False
            for name, pin in self.pins.items():
                if name not in reached and any(v in sources or v in reached for v in pin.via):
                    reached.add(name)
                    grew = True
        return reached


def _via_item(item: str) -> str:
    """A `# via` entry as the graph names it: package names canonical, sources as written."""
    item = item.strip()
    if item.startswith("-") or " " in item:
        return item
    return canonicalize_name(item)


def parse_lock(text: str, file: str = LOCK) -> Lock:
    """Parse pip-compile's output; an InputError names the line that is not a hashed pin."""
    pins: dict[str, Pin] = {}
    current: tuple[str, str, list[str], list[str]] | None = None
    in_via_block = False
    lines = text.splitlines()

    def finish() -> None:
        if current is not None:
            name, version, hashes, via = current
            pins[name] = Pin(name, version, tuple(hashes), tuple(via))

    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        index += 1
        if _PIN_START.match(line):
            finish()
            logical = line
            while logical.rstrip().endswith("\\") and index < len(lines):
                logical = logical.rstrip()[:-1] + " " + lines[index]
                index += 1
            requirement_text, _, _ = logical.partition(" --hash=")
            requirement_text = requirement_text.partition(" #")[0].strip()
            try:
                req = Requirement(requirement_text)
            except InvalidRequirement as exc:
                raise InputError(f"not a requirement: {exc}", file=file, line=number) from None
            specs = list(req.specifier)
            if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
                raise InputError(
                    f"'{req.name}' is not pinned to one version",
                    file=file,
                    line=number,
                    hint="regenerate the lock with `make lock`",
                )
            hashes = _HASH.findall(logical)
            name = canonicalize_name(req.name)
            if name in pins:
                raise InputError(f"'{req.name}' is pinned twice", file=file, line=number)
            # `--annotation-style line` writes the notes on the pin's own line.
            inline = logical.partition("# via ")[2]
            via = [_via_item(v) for v in inline.split(",")] if inline else []
            current = (name, specs[0].version, hashes, via)
            in_via_block = False
            continue
        stripped = line.strip()
        if not stripped:
            in_via_block = False
            continue
        if stripped.startswith("#"):
            comment = stripped[1:].strip()
            if current is not None and line.startswith((" ", "\t")):
                if comment == "via":
                    in_via_block = True
                elif comment.startswith("via "):
                    current[3].append(_via_item(comment[4:]))
                    in_via_block = False
                elif in_via_block and comment:
                    current[3].append(_via_item(comment))
            else:
                in_via_block = False
            continue
        raise InputError(
            f"unexpected line {stripped[:60]!r}",
            file=file,
            line=number,
            hint="the lock holds hashed pins only (no options, no editable installs): `make lock`",
        )
    finish()
    return Lock(pins)


def read_requirements(path: Path, file: str) -> list[Requirement]:
    """The requirements of one `.in` file: one per line, `#` comments; nothing else."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise InputError(f"cannot read it: {exc.strerror}", file=file) from None
    reqs = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        try:
            reqs.append(Requirement(line))
        except InvalidRequirement as exc:
            raise InputError(
                f"not a requirement: {exc}",
                file=file,
                line=number,
                hint="one requirement a line (e.g. scikit-learn>=1.5); no pip options",
            ) from None
    return reqs


def model_sources(project: Project, requirements: str | None) -> set[str]:
    """The `# via` sources a model depends on: the shared file (if any), its own, and
    the unlocked packages (torch) these files ask for, whose locked dependencies it needs."""
    files = [f for f in (SHARED, requirements) if f and (project.root / f).is_file()]
    sources = {f"-r {f}" for f in files}
    for rel in files:
        for req in read_requirements(project.root / rel, rel):
            if canonicalize_name(req.name) in UNLOCKED:
                sources.add(canonicalize_name(req.name))
    return sources


def changed_pins(base: Lock | None, head: Lock | None) -> set[str]:
    """Packages added, removed or moved to another version between two locks."""
    old = {n: p.version for n, p in (base.pins if base else {}).items()}
    new = {n: p.version for n, p in (head.pins if head else {}).items()}
    return {n for n in old.keys() | new.keys() if old.get(n) != new.get(n)}


def lock_at(project: Project, commit: str) -> Lock | None:
    """The lock as committed at `commit` (None when it has none)."""
    text = project.git("show", f"{commit}:{LOCK}", check=False)
    if not text:
        return None
    return parse_lock(text, file=f"{LOCK} at {commit[:12]}")


def torch_pin(project: Project) -> str | None:
    """The one `torch==X` that the `.in` files under requirements/ agree on (None: no torch)."""
    pins: dict[str, str] = {}
    for path in sorted((project.root / REQUIREMENTS_DIR).glob("*.in")):
        rel = project.relative(path)
        for req in read_requirements(path, rel):
            if canonicalize_name(req.name) != "torch":
                continue
            specs = list(req.specifier)
            if len(specs) != 1 or specs[0].operator != "==":
                raise InputError(
                    f"torch must be pinned exactly, not '{req.specifier}'",
                    file=rel,
                    field="torch",
                    hint="e.g. torch==2.13.0: a looser pin makes pip fetch a multi-GB CUDA build",
                )
            pins[rel] = specs[0].version
    if len(set(pins.values())) > 1:
        raise InputError(
            "the requirements files pin different torch versions: "
            + ", ".join(f"{f}: {v}" for f, v in pins.items()),
            file=REQUIREMENTS_DIR,
            field="torch",
            hint="one torch for the whole repository: pin the same version everywhere",
        )
    return f"torch=={next(iter(pins.values()))}" if pins else None


def check_lock(project: Project, toolkit_dependencies: list[str]) -> list[str]:
    """What makes the committed lock disagree with the `.in` files (empty: consistent).

    `toolkit_dependencies`: pyproject.toml's `project.dependencies`, which the lock
    must satisfy as well.
    """
    lock_file = project.root / LOCK
    if not lock_file.is_file():
        return [f"{LOCK}: missing; run `make lock`"]
    lock = parse_lock(lock_file.read_text("utf-8"))
    problems = [f"{LOCK}: {n} has no hash" for n, p in sorted(lock.pins.items()) if not p.hashes]
    problems += [f"{LOCK}: {n} must not be locked" for n in sorted(UNLOCKED & lock.pins.keys())]
    wanted: list[tuple[str, Requirement]] = []
    for path in sorted((project.root / REQUIREMENTS_DIR).glob("*.in")):
        rel = project.relative(path)
        wanted += [(rel, req) for req in read_requirements(path, rel)]
    wanted += [("pyproject.toml", Requirement(dep)) for dep in toolkit_dependencies]
    for source, req in wanted:
        name = canonicalize_name(req.name)
        if name in UNLOCKED:
            continue
        pin = lock.pins.get(name)
        if pin is None:
            problems.append(f"{source}: {req.name} is not in {LOCK}; run `make lock`")
        elif not req.specifier.contains(pin.version, prereleases=True):
            problems.append(
                f"{source}: {req.name}{req.specifier} but {LOCK} has {pin.version}; run `make lock`"
            )
        elif source.endswith(".in") and f"-r {source}" not in pin.via:
            problems.append(f"{source}: {LOCK} was not compiled from it; run `make lock`")
    return problems


def main(argv: list[str] | None = None) -> int:
    """`python -m modelops.requirements torch`: print the torch pin (actions/setup)."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["torch"]:
        print("usage: python -m modelops.requirements torch", file=sys.stderr)
        return 2
    try:
        pin = torch_pin(Project.discover())
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)  # names the file and the field
        return 2
    if pin:
        print(pin)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

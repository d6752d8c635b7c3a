"""The hashed lock (requirements/services.lock) as playbooks/wheelhouse.yml needs it.

    wheelhouse_lock.py select LOCK PYTHON OUT
        The lock's requirements for CPython PYTHON (e.g. 3.13) on Linux, markers evaluated and
        dropped, hashes kept: what `pip download --python-version PYTHON ...` downloads (pip
        evaluates markers against its own interpreter, not the target's, so the selection is
        made here).
    wheelhouse_lock.py archive LOCK WHEELS OUT
        The lock shipped in the archive: the lock itself, with the hash of each wheel under
        WHEELS that was built on the controller (from an sdist) added to its requirement. Hosts
        install it with `pip install --require-hashes -r`, their own interpreter evaluating the
        markers.

Markers are evaluated for Linux on x86_64/aarch64 and CPython, at the first and a late patch
release of PYTHON (a requirement such as `python_full_version < '3.11.3'` holds on some 3.11
hosts): a requirement true for either is selected.
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: Marker | None
    hashes: tuple[str, ...]

    def line(self, *, marker: bool, extra_hashes: tuple[str, ...] = ()) -> str:
        head = f"{self.name}=={self.version}"
        if marker and self.marker is not None:
            head += f" ; {self.marker}"
        hashes = self.hashes + tuple(h for h in extra_hashes if h not in self.hashes)
        return " \\\n".join([head, *(f"    --hash={h}" for h in hashes)]) + "\n"


def parse_lock(text: str) -> list[Pin]:
    """The pins of a `uv pip compile --generate-hashes` file (one `name==version` each)."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current.strip():
        logical.append(current)

    pins = []
    for entry in logical:
        hashes = tuple(_HASH.findall(entry))
        spec = _HASH.sub("", entry).strip()
        req = Requirement(spec)
        (specifier,) = req.specifier
        if specifier.operator != "==" or not hashes:
            raise ValueError(f"not an exact, hashed pin: {spec}")
        pins.append(Pin(canonicalize_name(req.name), specifier.version, req.marker, hashes))
    return pins


def _environments(python: str) -> list[dict[str, str]]:
    major, minor = (int(part) for part in python.split(".")[:2])
    envs = []
    for patch in (0, 99):
        for machine in ("x86_64", "aarch64"):
            full = f"{major}.{minor}.{patch}"
            envs.append(
                {
                    "implementation_name": "cpython",
                    "implementation_version": full,
                    "os_name": "posix",
                    "platform_machine": machine,
                    "platform_python_implementation": "CPython",
                    "platform_release": "",
                    "platform_system": "Linux",
                    "platform_version": "",
                    "python_full_version": full,
                    "python_version": f"{major}.{minor}",
                    "sys_platform": "linux",
                    "extra": "",
                }
            )
    return envs


def select(pins: list[Pin], python: str) -> list[Pin]:
    envs = _environments(python)
    return [p for p in pins if p.marker is None or any(p.marker.evaluate(e) for e in envs)]


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def archive_lock(text: str, wheels: Path) -> str:
    """The lock with the hashes of wheels built on the controller added to their pins."""
    pins = parse_lock(text)
    known = {h for p in pins for h in p.hashes}
    extra: dict[tuple[str, str], list[str]] = {}
    for wheel in sorted(wheels.glob("*.whl")):
        digest = _sha256(wheel)
        if digest in known:
            continue
        name, version, _unused, _unused = parse_wheel_filename(wheel.name)
        extra.setdefault((name, str(version)), []).append(digest)
    pinned = {(p.name, p.version) for p in pins}
    # The package of the collection itself is installed by file, without a pin.
    unpinned = sorted(f"{n}=={v}" for n, v in extra if (n, v) not in pinned and n != "shield-rag")
    if unpinned:
        raise SystemExit(f"wheels not in the lock: {', '.join(unpinned)}")
    header = (
        "# The lock of this wheelhouse: requirements/services.lock of the collection, plus the\n"
        "# hashes of the wheels built from sdists when the wheelhouse was built.\n"
        "# Install: pip install --no-index --find-links DIR --require-hashes -r requirements.lock\n"
    )
    return header + "".join(
        p.line(marker=True, extra_hashes=tuple(extra.get((p.name, p.version), ()))) for p in pins
    )


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] not in {"select", "archive"}:
        print(__doc__, file=sys.stderr)
        return 2
    command, lock, arg, out = argv
    text = Path(lock).read_text(encoding="utf-8")
    if command == "select":
        content = "".join(p.line(marker=False) for p in select(parse_lock(text), arg))
    else:
        content = archive_lock(text, Path(arg))
    Path(out).write_text(content, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""What the stand-ins' "release archives" share (tests only): a stand-in package as one
executable file (a Python zip application: a ``#!`` line, then the zip), with the version it
reports baked in, and tar.gz archives whose bytes depend on their contents only.

The same inputs give the same bytes: fixed member times and owners, no gzip time stamp.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

DEFAULT_SHEBANG_INTERPRETER = "/usr/bin/env python3"
# Each stand-in package has version.py with this line; a build may pin the version there.
_VERSION_FILE = "version.py"
_VERSION_LINE = "BAKED_VERSION: str | None = None\n"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_TAR_MTIME = 315532800  # 1980-01-01T00:00:00Z


def package_sources(package: Path, version: str | None = None) -> dict[str, str]:
    """The package's modules by name in the zip, with the reported version pinned, and the
    zip application's own ``__main__`` (the package's entry, run as ``__main__``)."""
    sources = {
        f"{package.name}/{path.name}": path.read_text(encoding="utf-8")
        for path in sorted(package.glob("*.py"))
    }
    version_file = f"{package.name}/{_VERSION_FILE}"
    if _VERSION_LINE not in sources[version_file]:
        raise RuntimeError(f"{package / _VERSION_FILE}: the BAKED_VERSION line changed")
    if version:
        pinned = f"BAKED_VERSION: str | None = {version!r}\n"
        sources[version_file] = sources[version_file].replace(_VERSION_LINE, pinned, 1)
    main = f'import runpy\n\nrunpy.run_module("{package.name}", run_name="__main__")\n'
    return {"__main__.py": main, **sources}


def zip_executable(
    package: Path, version: str | None = None, interpreter: str | None = None
) -> bytes:
    """The package as one executable file: ``#!<interpreter>`` and the zip application."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in package_sources(package, version).items():
            info = zipfile.ZipInfo(name, _ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, text)
    shebang = f"#!{interpreter or DEFAULT_SHEBANG_INTERPRETER}\n".encode()
    return shebang + buffer.getvalue()


def tar_member(name: str, mode: int, data: bytes | None = None) -> tuple[tarfile.TarInfo, bytes]:
    """A directory (``data`` None) or a file member owned by root, at the fixed time."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.REGTYPE if data is not None else tarfile.DIRTYPE
    info.mode, info.mtime, info.size = mode, _TAR_MTIME, len(data or b"")
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info, data or b""


def write_tgz(archive: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    """Write ``members`` as a gzip-compressed tar at ``archive``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as gz:
        gz.write(raw.getvalue())
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.write_bytes(packed.getvalue())
    return archive

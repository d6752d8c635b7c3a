"""An offline stand-in for pip's ``get-pip.py``, for ``ansible-test sanity``.

ansible-test creates each sanity test's virtual environment without pip, then bootstraps pip
with ``get-pip.py``, which it downloads from ci-files.testing.ansible.com unless it finds
``~/.ansible/test/cache/get_pip_<version>.py``. ``make sanity`` puts this script there: it
installs the pip wheel that ships with Python (``ensurepip``, no network), then lets that pip
install what ansible-test asked for (``pip==<version>``) from the configured package index,
exactly as ``get-pip.py`` does with the pip it carries.

ansible-test runs it as ``python get_pip.py [pip options] [--no-setuptools] [--no-wheel]
<requirements>``; like ``get-pip.py``, it takes ``--no-setuptools`` and ``--no-wheel`` as its
own and passes the rest to ``pip install``.
"""

from __future__ import annotations

import subprocess
import sys

OWN_OPTIONS = ("--no-setuptools", "--no-wheel")


def main() -> int:
    """Install pip offline, then the requested pip version and packages with it."""
    args = [arg for arg in sys.argv[1:] if arg not in OWN_OPTIONS]
    subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True)
    if "--no-setuptools" in sys.argv:
        # ensurepip brings setuptools along on Python < 3.12; get-pip.py would not have.
        subprocess.run(
            [sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", "setuptools"], check=True
        )
    return subprocess.run(
        [sys.executable, "-m", "pip", "install", "--upgrade", *args], check=False
    ).returncode


if __name__ == "__main__":
    sys.exit(main())

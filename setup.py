"""Package discovery for the folders mapped into ``tcir`` (see pyproject.toml).

setuptools does not discover nested subpackages of a ``package-dir`` mapping on
its own; without this the wheel silently misses them.
"""

from setuptools import find_packages, setup

MAPPED = {"tcir": "tcir", "tcir.dialects": "dialects", "tcir.passes": "passes", "tcir.backends": "backends"}


def _packages() -> list[str]:
    found = []
    for name, folder in MAPPED.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder)]
    return found


setup(packages=_packages())

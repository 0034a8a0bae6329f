"""Build hook: ship the top-level example-config.yaml inside the ``bridge`` package.

The repository keeps one example configuration, at the top level, where people read it; an
installed bridge reads it as ``pkg://bridge/example-config.yaml`` (the base that config.yaml is
checked and updated against). Everything else about the package is in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

EXAMPLE = "example-config.yaml"


class BuildPyWithExample(build_py):
    """``build_py`` that also copies the example configuration into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the example from the checkout itself
        target = Path(self.build_lib) / "bridge" / EXAMPLE
        self.mkpath(str(target.parent))
        self.copy_file(str(Path(__file__).resolve().parent / EXAMPLE), str(target))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs.append(str(Path(self.build_lib) / "bridge" / EXAMPLE))
        return outputs


setup(cmdclass={"build_py": BuildPyWithExample})

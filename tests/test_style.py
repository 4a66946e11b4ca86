"""Every Python file of the project is flake8-clean (.flake8 configures it):
frozen code, examples, benchmarks, CI helpers and the tests themselves."""
import subprocess
import sys

from conftest import ROOT


def test_python_sources_are_flake8_clean():
    r = subprocess.run([sys.executable, '-m', 'flake8'], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

"""ws_core.c under clang's sanitizers: unit test, canary, short fuzz runs.

``make fuzz`` runs the same libFuzzer targets for longer (FUZZ_SECONDS).
Here each target runs ``CI_FUZZ_SECONDS`` (20 s by default) from the
committed seed corpus plus whatever earlier runs added under build/fuzz.
"""
import os
import re
import subprocess

import pytest

from conftest import BUILD, ROOT

FUZZ_DIR = os.path.join(ROOT, 'fuzz')
FUZZ_BUILD = os.path.join(BUILD, 'fuzz')
SECONDS = int(os.environ.get('CI_FUZZ_SECONDS', '20'))


def make(*args, timeout=300):
    return subprocess.run(['make', '-s', '-C', FUZZ_DIR,
                           'BUILD=' + FUZZ_BUILD] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def test_unit_test_at_every_alignment_under_sanitizers():
    r = make('unit')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'mask: 8224 runs at start offsets 0-7' in r.stdout
    assert 'ws_core unit test: ok' in r.stdout


def test_alignment_sanitizer_catches_a_misaligned_read():
    # Without this, a clean unit test could mean a sanitizer that is off.
    r = make('canary')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'misaligned read caught' in r.stdout


@pytest.mark.parametrize('target', ['mask', 'header', 'utf8', 'grow'])
def test_fuzz_target_runs_clean(target):
    r = make('run', 'TARGETS=' + target, 'FUZZ_SECONDS={}'.format(SECONDS),
             timeout=SECONDS + 240)
    assert r.returncode == 0, r.stdout + r.stderr
    execs = re.search(r'number_of_executed_units: (\d+)', r.stdout)
    assert execs, r.stdout
    # It really ran: thousands of inputs per second at the very least.
    assert int(execs.group(1)) > 1000 * SECONDS, r.stdout

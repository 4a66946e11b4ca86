"""The ESP32_CAM image itself, checked whenever one has been built.

`make firmware` leaves the port's build folder in build/esp32/idf (and, with
CAMERA_API_DIR=, build/esp32/idf-camera): the app, the merged image, the ELF,
its map and the build's own tools (CMakeCache.txt names the toolchain and
the Python environment that made it). Every test of a variant that has not
been built is skipped, with the reason. Checked:

* esptool's image_info on the app and on the merged image, whose parts must
  be the bootloader, partition table and app at their flash offsets;
* the app against its partition, with the headroom measured, and against
  the size recorded in tests/test_esp32_board.py;
* IRAM, DRAM and flash use from esp_idf_size (as `idf.py size`);
* the frozen modules and the ws_mask module in the image, no Bluetooth;
* ws_mask optimised: the linked functions are those of an object compiled
  with the port's flags (the -O0 copy of micropython/micropython#18880 is
  not what is linked), and its word loop accesses words only through the
  buffer pointer whose low two bits the code tests.
"""
import json
import os
import re
import shlex
import subprocess
import sys

import pytest
from esp_idf_defs import partitions as idfpart

from conftest import ROOT
import test_esp32_board as board

ESP32_BUILD = os.path.join(ROOT, 'build', 'esp32')
VARIANTS = {'plain': 'idf', 'camera': 'idf-camera'}
APP_OFFSET = 0x10000
MERGED_OFFSET = 0x1000          # where firmware.bin is written
HEADROOM = 0.10                 # of the app partition, at least
WS_CORE_FUNCTIONS = ('ws_mask', 'ws_parse_header', 'ws_build_header',
                     'ws_utf8_validate')


def run(cmd, **kw):
    kw.setdefault('capture_output', True)
    kw.setdefault('text', True)
    kw.setdefault('timeout', 300)
    r = subprocess.run(cmd, **kw)
    assert r.returncode == 0, ' '.join(cmd) + '\n' + r.stdout + r.stderr
    return r.stdout


class Build:
    """One port build folder and the tools that made it."""

    def __init__(self, path):
        self.path = path
        cache = {}
        with open(self.file('CMakeCache.txt')) as f:
            for line in f:
                m = re.match(r'([A-Za-z_]+):[A-Z_]+=(.*)$', line.strip())
                if m:
                    cache[m.group(1)] = m.group(2)
        self.python = cache['PYTHON']
        self.nm = cache['CMAKE_NM']
        self.objdump = cache['CMAKE_OBJDUMP']
        with open(self.file('flasher_args.json')) as f:
            self.flasher = json.load(f)

    def file(self, *parts):
        return os.path.join(self.path, *parts)

    def read(self, *parts):
        with open(self.file(*parts), 'rb') as f:
            return f.read()

    def symbols(self, path=None):
        """{name: (type letter, size)} of the ELF (or of an object)."""
        out = run([self.nm, '-S', path or self.file('micropython.elf')])
        table = {}
        for line in out.splitlines():
            fields = line.split()
            if len(fields) == 4:
                table[fields[3]] = (fields[2], int(fields[1], 16))
        return table

    def sdkconfig(self):
        config = {}
        with open(self.file('sdkconfig')) as f:
            for line in f:
                m = re.match(r'(CONFIG_\w+)=(.*)$', line.strip())
                if m:
                    config[m.group(1)] = m.group(2)
        return config


if not any(os.path.isfile(os.path.join(ESP32_BUILD, d, 'firmware.bin'))
           for d in VARIANTS.values()):
    pytest.skip('no ESP32 image in build/esp32/ (`make firmware` builds one '
                'with an ESP32 SDK, ESP32_SDK= or the cache, or with ESP-IDF)',
                allow_module_level=True)


@pytest.fixture(scope='module', params=sorted(VARIANTS))
def build(request):
    path = os.path.join(ESP32_BUILD, VARIANTS[request.param])
    if not os.path.isfile(os.path.join(path, 'firmware.bin')):
        pytest.skip('no ESP32 image ({} not built): `make firmware` builds '
                    'it{} with an ESP32 SDK (ESP32_SDK=, or the cache) or '
                    'ESP-IDF'.format(
                        os.path.relpath(os.path.join(path, 'firmware.bin'),
                                        ROOT),
                        ' with CAMERA_API_DIR=' if request.param == 'camera'
                        else ''))
    b = Build(path)
    b.variant = request.param
    return b


# --- images ------------------------------------------------------------------

def image_info(path):
    out = run([sys.executable, '-m', 'esptool', '--chip', 'esp32',
               'image_info', '--version', '2', path])
    assert 'Checksum:' in out and 'Validation hash:' in out, out
    for line in out.splitlines():
        if line.startswith(('Checksum:', 'Validation hash:')):
            assert line.endswith('(valid)'), line
    return out


def test_app_image_is_valid(build):
    out = image_info(build.file('micropython.bin'))
    assert 'Chip ID: 0 (ESP32)' in out
    # The app descriptor names the ESP-IDF it was built with (the port's
    # sdkconfig.base leaves the project name and version out).
    assert re.search(r'^ESP-IDF: v5\.[234]\.', out, re.M), out
    flash = build.flasher['flash_settings']
    assert (flash['flash_mode'], flash['flash_size'], flash['flash_freq']) \
        == ('dio', '4MB', '40m')
    assert 'Flash size: 4MB' in out and 'Flash mode: DIO' in out


def test_merged_image_is_the_parts_at_their_offsets(build, tmp_path):
    merged = build.read('firmware.bin')
    files = {int(offset, 16): name
             for offset, name in build.flasher['flash_files'].items()}
    assert sorted(files) == [0x1000, 0x8000, APP_OFFSET]
    end = 0
    for offset, name in sorted(files.items()):
        part = build.read(name)
        start = offset - MERGED_OFFSET
        assert start >= end, 'overlap at {:#x}'.format(offset)
        assert merged[start:start + len(part)] == part, name
        end = start + len(part)
    assert len(merged) == end
    # What the board gets at 0x1000 is a valid bootloader image.
    boot = tmp_path / 'bootloader.bin'
    boot.write_bytes(merged[:len(build.read(files[0x1000]))])
    image_info(str(boot))
    # The table in the merged image is the board's partition table.
    table_bin = merged[0x8000 - MERGED_OFFSET:APP_OFFSET - MERGED_OFFSET]
    table = idfpart.PartitionTable.from_binary(table_bin)
    with open(os.path.join(board.BOARD, 'partitions-4MiB.csv')) as f:
        assert list(table) == list(board.read_table(f.read()))


def factory_partition(build):
    table = idfpart.PartitionTable.from_binary(
        build.read('partition_table', 'partition-table.bin'))
    return table['factory']


def test_app_fits_its_partition_with_headroom(build):
    app = os.path.getsize(build.file('micropython.bin'))
    factory = factory_partition(build)
    assert factory.offset == APP_OFFSET
    used = app / factory.size
    print('{} app: {} bytes, {:.1%} of the {:#x} partition ({:.1%} free)'
          .format(build.variant, app, used, factory.size, 1 - used))
    assert used <= 1 - HEADROOM
    # The figure the board's partition table is sized by (README, "The
    # board") is this image's, within 2%.
    recorded = board.MEASURED_APP[build.variant]
    assert abs(app - recorded) <= 0.02 * recorded, (
        'the {} app is {} bytes, tests/test_esp32_board.py records {}: '
        'measure again and update it and the README'.format(
            build.variant, app, recorded))


def test_memory_use_from_esp_idf_size(build):
    out = run([build.python, '-m', 'esp_idf_size', '--ng', '--format',
               'json2', build.file('micropython.map')])
    layout = {m['name']: m for m in json.loads(out)['layout']}
    for name in ('IRAM', 'DRAM'):
        m = layout[name]
        print('{} {}: {} of {} bytes ({:.1%})'.format(
            build.variant, name, m['used'], m['total'],
            m['used'] / m['total']))
        assert 0 < m['used'] <= m['total']
    # IRAM is what a camera driver and ISRs compete for: keep 10% free.
    assert layout['IRAM']['free'] >= 0.10 * layout['IRAM']['total']
    flash = layout['Flash Code']['used'] + layout['Flash Data']['used']
    print('{} flash code + data: {} bytes'.format(build.variant, flash))
    assert flash <= os.path.getsize(build.file('micropython.bin'))


# --- what is in it -----------------------------------------------------------

def test_frozen_modules_are_in_the_image(build):
    with open(build.file('frozen_content.c')) as f:
        names = board.frozen_names(f.read())
    assert {'microdot/__init__.py', 'microdot/microdot.py',
            'microdot/websocket.py', 'microdot/_ws_mask.py', 'esp32cam.py',
            'asyncio/__init__.py', '_boot.py'} <= names
    # The names table, in its order, is in the app as the C compiler laid
    # it out, and is the ELF's mp_frozen_names.
    with open(build.file('frozen_content.c')) as f:
        body = f.read().split('const char mp_frozen_names[] = {', 1)[1]
    ordered = re.findall(r'"([^"]+)\\0"', body.split('};', 1)[0])
    table = ''.join(n + '\0' for n in ordered).encode()
    assert table in build.read('micropython.bin')
    _, size = build.symbols()['mp_frozen_names']
    assert size >= len(table)


def test_ws_mask_module_and_core_are_linked(build):
    syms = build.symbols()
    for name in WS_CORE_FUNCTIONS:
        assert syms[name][0] == 'T', name
    assert syms['ws_mask_user_cmodule'][0] in 'DdRr'
    assert 'ws_mask_module_globals_table' in syms
    assert b'ws_mask\0' in build.read('micropython.bin')


def test_no_bluetooth_is_linked(build):
    syms = build.symbols()
    assert not [s for s in syms if s.startswith(('esp_bt_', 'ble_hs_',
                                                 'btdm_'))]
    assert build.sdkconfig().get('CONFIG_BT_ENABLED') is None


def test_camera_variant_has_the_camera_module(build):
    syms = build.symbols()
    has_camera = any('camera' in s and 'module' in s for s in syms)
    assert has_camera == (build.variant == 'camera')


def test_build_only_settings_of_an_esp32_sdk(build):
    # An ESP32 SDK's sdkconfig.sdk (applied as sdkconfig.combined.esp32)
    # turns off what its toolchain and Mbed TLS cannot do; a stock ESP-IDF
    # build keeps the port's PSRAM cache workaround.
    config = build.sdkconfig()
    assert config['CONFIG_SPIRAM'] == 'y'
    assert config['CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ'] == '240'
    sdk = build.file('sdkconfig.combined.esp32')
    if os.path.isfile(sdk):
        wanted = board.parse_sdkconfig(open(sdk).read(), sdk)
        for key, value, _ in wanted:
            assert config.get(key) == (value if value != 'n' else None), key
    else:
        assert config['CONFIG_SPIRAM_CACHE_WORKAROUND'] == 'y'


# --- ws_mask optimised -------------------------------------------------------

def ws_core_objects(build):
    """[(object path, compile command)] of every ws_core.c this build made."""
    with open(build.file('compile_commands.json')) as f:
        commands = json.load(f)
    found = []
    for entry in commands:
        if entry['file'].endswith(os.path.join('ws_mask', 'ws_core.c')):
            args = shlex.split(entry['command'])
            obj = args[args.index('-o') + 1]
            found.append((os.path.join(entry['directory'], obj), args))
    return found


def function_bytes(build, path, name):
    """The bytes of a function, from an object or the linked ELF."""
    out = run([build.objdump, '-t', path])
    line = [x for x in out.splitlines() if x.split()[-1:] == [name]][0]
    fields = line.split()
    value, section = int(fields[0], 16), fields[-3]
    size = int(fields[-2], 16)
    out = run([build.objdump, '-s', '-j', section,
               '--start-address={:#x}'.format(value),
               '--stop-address={:#x}'.format(value + size), path])
    data = bytearray()
    for row in out.splitlines():
        m = re.match(r' ([0-9a-f]+) ((?:[0-9a-f]{2,8} ){1,4})', row + ' ')
        if m:
            data += bytes.fromhex(m.group(2).replace(' ', ''))
    assert len(data) == size, (name, path)
    return bytes(data)


def test_ws_mask_is_the_optimised_object(build):
    objects = ws_core_objects(build)
    assert objects, 'no ws_core.c in compile_commands.json'
    linked = build.symbols()
    elf = build.file('micropython.elf')
    for obj, args in objects:
        level = [a for a in args if re.fullmatch(r'-O[0-3sgz]?', a)]
        assert level and level[-1] != '-O0', (
            '{} was compiled without optimisation (micropython#18880: '
            'usermod/ws_mask/micropython.cmake should add the port\'s '
            'flags)'.format(obj))
        own = build.symbols(obj)
        for name in WS_CORE_FUNCTIONS:
            assert linked[name][1] == own[name][1], (name, obj)
        # ws_mask refers to nothing outside itself: the same bytes.
        assert function_bytes(build, elf, 'ws_mask') == \
            function_bytes(build, obj, 'ws_mask'), obj
    print('{} ws_mask: {} bytes ({:#x}), compiled with {}'.format(
        build.variant, linked['ws_mask'][1], linked['ws_mask'][1],
        level[-1]))


def disassembly(build, obj, name):
    """[(mnemonic, [operands])] of a function in an object file."""
    out = run([build.objdump, '-d', '--no-show-raw-insn',
               '--disassemble=' + name, obj])
    code = []
    for line in out.splitlines():
        m = re.match(r'\s+[0-9a-f]+:\s+([a-z0-9.]+)\s*(.*)$', line)
        if m and m.group(1) != '.byte':
            ops = [o.strip() for o in m.group(2).split('<')[0].split(',')]
            code.append((m.group(1), [o for o in ops if o]))
    return code


@pytest.mark.parametrize('index', [0, 1])
def test_ws_mask_word_loop_accesses_aligned_words(build, index):
    # Each compiled copy (the executable's and the main component's, as
    # MicroPython 1.25 builds user modules twice; the linked one is checked
    # to be byte for byte one of them above).
    objects = ws_core_objects(build)
    if index >= len(objects):
        pytest.skip('ws_core.c is compiled {} time(s)'.format(len(objects)))
    code = disassembly(build, objects[index][0], 'ws_mask')
    # The pointer the code tests for alignment: extui t, p, 0, 2.
    tested = {ops[1] for op, ops in code
              if op == 'extui' and ops[2:] == ['0', '2']}
    assert tested, 'no alignment test in ws_mask'
    # Registers that only ever carry that pointer moved by whole words.
    derived = set(tested)
    changed = True
    while changed:
        changed = False
        for op, ops in code:
            dest = None
            if op in ('mov', 'mov.n') and ops[1] in derived:
                dest = ops[0]
            elif op in ('addi', 'addi.n') and ops[1] in derived \
                    and int(ops[2]) % 4 == 0:
                dest = ops[0]
            elif op == 'addx4' and ops[2] in derived:
                dest = ops[0]
            if dest and dest not in derived:
                derived.add(dest)
                changed = True
    words = [(op, ops) for op, ops in code
             if op.startswith(('l32i', 's32i')) and ops[1] != 'a1']
    assert words, 'ws_mask has no word loop'
    for op, (reg, base, offset) in words:
        assert base in derived, (op, reg, base, offset)
        assert int(offset) % 4 == 0
    # Read-modify-write: each word loaded is stored back at the same place.
    loads = sorted((b, int(o)) for op, (_, b, o) in words if op[0] == 'l')
    stores = sorted((b, int(o)) for op, (_, b, o) in words if op[0] == 's')
    assert loads == stores
    # Nothing but the key word (built in a stack union) comes from the
    # stack: no variable reloaded from memory in the loops (the -O0 shape).
    stack = [ops for op, ops in code
             if op.startswith(('l32i', 's32i', 'l8ui', 's8i'))
             and ops[1] in ('a1', 'a7')]
    assert len(stack) <= 8, stack

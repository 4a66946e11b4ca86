"""The ESP32_CAM board and the ESP32 make targets, checked without ESP-IDF.

ESP-IDF and the ESP32 Xtensa toolchain are in no package registry this
project reaches: the image is built only where an ESP32 SDK is at hand, and
then checked by tests/test_esp32_image.py. Everything around that build is
checked here, on any machine, with the MicroPython port's own code and tools
(its CMakeLists.txt evaluated by cmake, boards/make-pins.py,
tools/makemanifest.py with mpy-cross -march=xtensawin,
tools/autobuild/build-downloads.py), ESP-IDF's partition table parser
(gen_esp32part's classes from the esp-idf-defs package), the C preprocessor,
esptool's argument parser and the AI-Thinker ESP32-CAM schematic.
"""
import ast
import glob
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml
from esp_idf_defs import partitions as idfpart

from conftest import FROZEN_MICRODOT, ROOT

BOARD = os.path.join(ROOT, 'firmware', 'boards', 'ESP32_CAM')
MPY_DIR = os.environ.get('MICROPY_DIR',
                         os.path.join(ROOT, 'build', 'micropython-1.25.0'))
PORT_DIR = os.path.join(MPY_DIR, 'ports', 'esp32')
MPY_CROSS = os.path.join(ROOT, 'build', 'mpy-cross', 'mpy-cross')
UNIX_BUILD = os.path.join(ROOT, 'build', 'unix')
USERMOD_CMAKE = os.path.join(ROOT, 'usermod', 'micropython.cmake')

MiB = 1024 * 1024

# --- the oracle: AI-Thinker ESP32-CAM schematic ------------------------------
CAMERA = {'D0': 5, 'D1': 18, 'D2': 19, 'D3': 21, 'D4': 36, 'D5': 39,
          'D6': 34, 'D7': 35, 'VSYNC': 25, 'HREF': 23, 'PCLK': 22,
          'XCLK': 0, 'SIOD': 26, 'SIOC': 27, 'PWDN': 32}
SD = {'CLK': 14, 'CMD': 15, 'D0': 2, 'D1': 4, 'D2': 12, 'D3': 13}
LED = 33          # red, active low
FLASH_LED = 4     # white, through a transistor
PSRAM = {16, 17}  # CS, CLK of the PSRAM chip: never exposed
INPUT_ONLY = {34, 35, 36, 37, 38, 39}  # ESP32 datasheet: no output driver

# camera.Camera() keywords, micropython-camera-API's README ("Keyword
# arguments for construction").
CAMERA_API_KEYWORDS = {
    'data_pins', 'pclk_pin', 'vsync_pin', 'href_pin', 'sda_pin', 'scl_pin',
    'xclk_pin', 'xclk_freq', 'powerdown_pin', 'reset_pin', 'pixel_format',
    'frame_size', 'jpeg_quality', 'fb_count', 'grab_mode', 'init'}


def run(cmd, **kw):
    kw.setdefault('capture_output', True)
    kw.setdefault('text', True)
    kw.setdefault('timeout', 120)
    return subprocess.run(cmd, **kw)


@pytest.fixture(scope='module', autouse=True)
def _port_tree():
    if not os.path.isfile(os.path.join(PORT_DIR, 'CMakeLists.txt')):
        pytest.fail('{} is not the esp32 port of a MicroPython tree: run '
                    '`make test` (it fetches one) or set MICROPY_DIR'
                    .format(PORT_DIR))


# --- cmake: the board as the port's CMakeLists.txt evaluates it --------------

def port_cmake_prologue():
    """The port's top-level CMakeLists.txt up to ESP-IDF's project.cmake.

    Everything before that include is what a board's cmake runs in: the
    board lookup, the frozen-manifest precedence and the concatenation of
    SDKCONFIG_DEFAULTS. A recording line goes in just before the
    concatenation, which replaces the list by the combined file.
    """
    with open(os.path.join(PORT_DIR, 'CMakeLists.txt')) as f:
        text = f.read()
    idf = 'include($ENV{IDF_PATH}/tools/cmake/project.cmake)'
    assert idf in text, 'the port no longer includes project.cmake that way'
    text = text[:text.index(idf)]
    concat = 'file(WRITE ${CMAKE_BINARY_DIR}/sdkconfig.combined.in "")'
    assert concat in text, 'the port no longer concatenates SDKCONFIG_DEFAULTS'
    record = ('file(WRITE ${CMAKE_BINARY_DIR}/defaults.txt '
              '"${SDKCONFIG_DEFAULTS}")\n')
    return text.replace(concat, record + concat)


def evaluate_board_cmake(tmp_path, **defines):
    """Run the port's prologue on this board in cmake script mode.

    cmake runs in the port directory, as the real configure step does
    (SDKCONFIG_DEFAULTS entries are relative to it); CMAKE_BINARY_DIR is a
    temporary folder. ``defines`` are -D cache entries, as idf.py passes.
    """
    out = tmp_path / 'cmake'
    out.mkdir(exist_ok=True)
    prologue = out / 'port_prologue.cmake'
    prologue.write_text(port_cmake_prologue())
    driver = out / 'driver.cmake'
    names = ['IDF_TARGET', 'MICROPY_FROZEN_MANIFEST', 'SDKCONFIG',
             'EXTRA_COMPONENT_DIRS', 'USER_C_MODULES',
             'MICROPY_BOARD_PARTITIONS']
    driver.write_text(
        'set(CMAKE_BINARY_DIR {out})\n'
        'include({prologue})\n'.format(out=out, prologue=prologue) +
        ''.join('file(APPEND {}/vars.txt "{}=${{{}}}\\n")\n'.format(
            out, n, n) for n in names))
    cmd = ['cmake', '-DMICROPY_BOARD=ESP32_CAM',
           '-DMICROPY_BOARD_DIR=' + BOARD]
    cmd += ['-D{}={}'.format(k, v) for k, v in defines.items()]
    cmd += ['-P', str(driver)]
    r = run(cmd, cwd=PORT_DIR)
    assert r.returncode == 0, r.stdout + r.stderr
    values = {}
    for line in (out / 'vars.txt').read_text().splitlines():
        name, _, value = line.partition('=')
        values[name] = value.split(';') if value else []
    values['SDKCONFIG_DEFAULTS'] = \
        (out / 'defaults.txt').read_text().split(';')
    values['combined'] = (out / 'sdkconfig.combined').read_text()
    values['out'] = str(out)
    return values


def resolve_in_port(path):
    return os.path.normpath(os.path.join(PORT_DIR, path))


def test_board_cmake_evaluates_as_the_port_does(tmp_path):
    v = evaluate_board_cmake(tmp_path, USER_C_MODULES=USERMOD_CMAKE)
    assert v['IDF_TARGET'] == ['esp32']
    defaults = [resolve_in_port(p) for p in v['SDKCONFIG_DEFAULTS']]
    assert defaults == [
        os.path.join(PORT_DIR, 'boards', 'sdkconfig.base'),
        os.path.join(PORT_DIR, 'boards', 'sdkconfig.spiram'),
        os.path.join(BOARD, 'sdkconfig.board'),
        os.path.join(v['out'], 'sdkconfig.partitions'),
    ]
    for path in defaults:
        assert os.path.isfile(path), path
    # The port read every file: the combined config is their concatenation.
    contents = ''
    for path in defaults:
        with open(path) as f:
            contents += f.read()
    assert v['combined'] == contents
    assert v['MICROPY_FROZEN_MANIFEST'] == [os.path.join(BOARD, 'manifest.py')]
    assert os.path.isfile(v['MICROPY_FROZEN_MANIFEST'][0])
    assert v['MICROPY_BOARD_PARTITIONS'] == [
        os.path.join(BOARD, 'partitions-4MiB.csv')]
    # No camera asked for: no extra component, our C modules only.
    assert v['EXTRA_COMPONENT_DIRS'] == []
    assert v['USER_C_MODULES'] == [USERMOD_CMAKE]
    assert os.path.isfile(USERMOD_CMAKE)


def test_camera_option_adds_component_module_and_keeps_our_manifest(
        tmp_path):
    cam = str(tmp_path / 'micropython-camera-API')
    v = evaluate_board_cmake(tmp_path, USER_C_MODULES=USERMOD_CMAKE,
                             MICROPY_CAMERA_API_DIR=cam)
    assert v['EXTRA_COMPONENT_DIRS'] == [cam]
    assert v['USER_C_MODULES'] == [
        USERMOD_CMAKE, os.path.join(cam, 'micropython.cmake'),
        os.path.join(BOARD, 'camera.cmake')]
    assert v['MICROPY_FROZEN_MANIFEST'] == [os.path.join(BOARD, 'manifest.py')]

    # The driver's micropython.cmake points MICROPY_FROZEN_MANIFEST at its
    # own manifest; camera.cmake, included after it, must undo that.
    def after_camera_module(user_manifest):
        script = tmp_path / 'camera_scope.cmake'
        script.write_text(
            'set(MICROPY_BOARD_DIR {board})\n'
            'set(MICROPY_CAMERA_API_DIR {cam})\n'
            'set(MICROPY_USER_FROZEN_MANIFEST "{user}")\n'
            'set(MICROPY_FROZEN_MANIFEST {cam}/manifest.py)\n'
            'include({board}/camera.cmake)\n'
            'message("${{MICROPY_FROZEN_MANIFEST}}|'
            '${{MICROPY_MANIFEST_CAMERA_API_DIR}}")\n'.format(
                board=BOARD, cam=cam, user=user_manifest))
        r = run(['cmake', '-P', str(script)], cwd=str(tmp_path))
        assert r.returncode == 0, r.stderr
        return r.stderr.strip().split('|')

    assert after_camera_module('') == [
        os.path.join(BOARD, 'manifest_camera.py'), cam]
    assert os.path.isfile(os.path.join(BOARD, 'manifest_camera.py'))
    # A manifest given on the command line (FROZEN_MANIFEST=) still wins.
    assert after_camera_module('/elsewhere/manifest.py') == [
        '/elsewhere/manifest.py', cam]


# --- sdkconfig ---------------------------------------------------------------

_SDKCONFIG_LINE = re.compile(
    r'(CONFIG_[A-Z0-9_]+)=(y|n|-?[0-9]+|0x[0-9a-fA-F]+|"(?:[^"\\]|\\.)*")?$')


def parse_sdkconfig(text, name='sdkconfig'):
    """Strictly parse an sdkconfig fragment: [(key, value, line number)].

    Blank lines and comments are skipped; every other line must be
    CONFIG_NAME=value with a Kconfig value (y, n, a number, a hex number, a
    quoted string) or nothing (unset).
    """
    entries = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        m = _SDKCONFIG_LINE.match(line)
        if not m:
            raise ValueError('{}:{}: not a Kconfig assignment: {!r}'.format(
                name, n, line))
        entries.append((m.group(1), m.group(2) or '', n))
    return entries


@pytest.fixture(scope='module')
def sdkconfig_chain(tmp_path_factory):
    """[(file, entries)] in the order the port applies them."""
    v = evaluate_board_cmake(tmp_path_factory.mktemp('sdk'),
                             USER_C_MODULES=USERMOD_CMAKE)
    chain = []
    for path in v['SDKCONFIG_DEFAULTS']:
        path = resolve_in_port(path)
        with open(path) as f:
            chain.append((path, parse_sdkconfig(f.read(), path)))
    return chain


def merged(chain):
    config = {}
    for _, entries in chain:
        for key, value, _ in entries:
            config[key] = value
    return config


def test_sdkconfig_parser_rejects_malformed_lines():
    with pytest.raises(ValueError, match='board:2'):
        parse_sdkconfig('CONFIG_A=y\nCONFIG_B y\n', 'board')
    with pytest.raises(ValueError):
        parse_sdkconfig('CONFIG_A="unterminated\n')
    with pytest.raises(ValueError):
        parse_sdkconfig('SPIRAM=y\n')
    assert parse_sdkconfig('# c\n\nCONFIG_A=\nCONFIG_B="x y"\n') == [
        ('CONFIG_A', '', 3), ('CONFIG_B', '"x y"', 4)]


def test_sdkconfig_chain_has_no_conflicting_keys(sdkconfig_chain):
    names = [os.path.basename(p) for p, _ in sdkconfig_chain]
    assert names == ['sdkconfig.base', 'sdkconfig.spiram', 'sdkconfig.board',
                     'sdkconfig.partitions']
    seen = {}
    conflicts = {}
    for path, entries in sdkconfig_chain:
        keys = [k for k, _, _ in entries]
        dup = {k for k in keys if keys.count(k) > 1}
        assert not dup, '{} sets {} twice'.format(path, dup)
        for key, value, _ in entries:
            if key in seen and seen[key][1] != value:
                conflicts[key] = (seen[key], (path, value))
            seen[key] = (path, value)
    # The one intended override: the board's own partition table instead of
    # the port's partitions-4MiB.csv.
    assert set(conflicts) == {'CONFIG_PARTITION_TABLE_CUSTOM_FILENAME'}, \
        conflicts
    (first, old), (last, new) = \
        conflicts['CONFIG_PARTITION_TABLE_CUSTOM_FILENAME']
    assert first.endswith('sdkconfig.base') and old == '"partitions-4MiB.csv"'
    assert last.endswith('sdkconfig.partitions')
    # Kconfig choices the board sets: no earlier file picks another member.
    board = dict((k, v) for k, v, _ in sdkconfig_chain[2][1])
    earlier = merged(sdkconfig_chain[:2])
    for prefix in ('CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ_',
                   'CONFIG_ESPTOOLPY_FLASHMODE_',
                   'CONFIG_ESPTOOLPY_FLASHFREQ_',
                   'CONFIG_ESPTOOLPY_FLASHSIZE_', 'CONFIG_SPIRAM_SPEED_'):
        mine = [k for k, v in board.items()
                if k.startswith(prefix) and v == 'y']
        assert len(mine) == 1, prefix
        others = [k for k, v in earlier.items() if k.startswith(prefix) and
                  v == 'y' and k != mine[0] and k[len(prefix):].isalnum()]
        assert not others, (mine, others)


def test_sdkconfig_chain_sets_what_the_board_needs(sdkconfig_chain):
    config = merged(sdkconfig_chain)
    required = {
        'CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ_240': 'y',
        'CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ': '240',
        'CONFIG_ESPTOOLPY_FLASHSIZE_4MB': 'y',
        'CONFIG_SPIRAM': 'y',
        'CONFIG_SPIRAM_USE_MALLOC': 'y',
        'CONFIG_SPIRAM_CACHE_WORKAROUND': 'y',
        'CONFIG_BT_ENABLED': 'n',
        'CONFIG_PARTITION_TABLE_CUSTOM': 'y',
        'CONFIG_PARTITION_TABLE_CUSTOM_FILENAME':
            '"{}"'.format(os.path.join(BOARD, 'partitions-4MiB.csv')),
    }
    for key, value in required.items():
        assert config.get(key) == value, key
    # Absolute, as ESP-IDF resolves a relative one against ports/esp32.
    table = config['CONFIG_PARTITION_TABLE_CUSTOM_FILENAME'].strip('"')
    assert os.path.isabs(table) and os.path.isfile(table)
    # The PSRAM pins the config names are the ones pins.csv must not expose.
    assert {int(config['CONFIG_D0WD_PSRAM_CS_IO']),
            int(config['CONFIG_D0WD_PSRAM_CLK_IO'])} == PSRAM


def test_connection_cap_is_derived_from_the_socket_count(sdkconfig_chain):
    # sdkconfig.board's arithmetic: lwIP's sockets are the server's
    # connections, its listening socket, one to refuse a connection with
    # 503, and 4 for the application.
    import microdot
    if FROZEN_MICRODOT not in microdot.__path__:
        microdot.__path__.insert(0, FROZEN_MICRODOT)
    from microdot.server import Microdot
    sockets = int(merged(sdkconfig_chain)['CONFIG_LWIP_MAX_SOCKETS'])
    assert Microdot.max_connections + 1 + 1 + 4 == sockets
    assert sockets <= 16   # ESP-IDF 5.2-5.4's Kconfig range for it


# --- mpconfigboard.h, through the C preprocessor -----------------------------

@pytest.fixture(scope='module')
def board_macros():
    header = os.path.join(BOARD, 'mpconfigboard.h')
    r = run(['gcc', '-E', '-dM', '-x', 'c', header])
    assert r.returncode == 0, r.stderr
    macros = {}
    for line in r.stdout.splitlines():
        m = re.match(r'#define (\w+) (.*)$', line)
        if m and (m.group(1).startswith('MICROPY_')):
            macros[m.group(1)] = m.group(2).strip()
    return macros


def c_int(text):
    return int(text.strip('()'), 0)


def test_mpconfigboard_names_bluetooth_sdcard(board_macros,
                                              sdkconfig_chain):
    m = board_macros
    assert m['MICROPY_HW_BOARD_NAME'] == '"AI-Thinker ESP32-CAM"'
    assert m['MICROPY_HW_MCU_NAME'] == '"ESP32"'
    assert c_int(m['MICROPY_HW_ENABLE_SDCARD']) == 1
    # Bluetooth off in both places, or the build fails (NimBLE bindings
    # without the IDF component) or wastes IRAM (controller without
    # bindings).
    config = merged(sdkconfig_chain)
    assert c_int(m['MICROPY_PY_BLUETOOTH']) == 0
    assert config['CONFIG_BT_ENABLED'] == 'n'
    assert m['MICROPY_PY_NETWORK_HOSTNAME_DEFAULT'] == \
        config['CONFIG_LWIP_LOCAL_HOSTNAME']


def test_mpconfigboard_camera_defaults_match_the_schematic(board_macros):
    pins = {name[len('MICROPY_CAMERA_PIN_'):]: c_int(value)
            for name, value in board_macros.items()
            if name.startswith('MICROPY_CAMERA_PIN_')}
    assert pins == dict(CAMERA, RESET=-1)
    assert c_int(board_macros['MICROPY_CAMERA_XCLK_FREQ']) == 20000000


# --- pins.csv through the port's make-pins.py --------------------------------

def make_pins(tmp_path, csv_path):
    src, hdr = tmp_path / 'pins.c', tmp_path / 'pins.h'
    r = run([sys.executable, os.path.join(PORT_DIR, 'boards', 'make-pins.py'),
             '--board-csv', csv_path,
             '--prefix', os.path.join(PORT_DIR, 'boards', 'pins_prefix.c'),
             '--output-source', str(src), '--output-header', str(hdr)])
    return r, src, hdr


def test_pins_csv_through_make_pins(tmp_path):
    r, src, hdr = make_pins(tmp_path, os.path.join(BOARD, 'pins.csv'))
    assert r.returncode == 0, r.stdout + r.stderr
    board = {}
    for name, gpio in re.findall(
            r'MP_ROM_QSTR\(MP_QSTR_(\w+)\), MP_ROM_PTR\(pin_GPIO(\d+)\)',
            src.read_text()):
        assert name not in board, name
        board[name] = int(gpio)
    expected = {'LED': LED, 'FLASH_LED': FLASH_LED, 'U0TXD': 1, 'U0RXD': 3}
    expected.update(('CAM_' + k, v) for k, v in CAMERA.items())
    expected.update(('SD_' + k, v) for k, v in SD.items())
    assert board == expected
    assert not PSRAM & set(board.values())
    # GPIO34-39 have no output driver: only camera data inputs may use them.
    assert {n for n, g in board.items() if g in INPUT_ONLY} == {
        'CAM_D4', 'CAM_D5', 'CAM_D6', 'CAM_D7'}
    # The header the firmware compiles against has the same names.
    for name, gpio in board.items():
        assert '#define pin_{} pin_GPIO{}\n'.format(name, gpio) in \
            hdr.read_text()
    # Not even as a hidden ("-") entry.
    with open(os.path.join(BOARD, 'pins.csv')) as f:
        rows = [line.strip().split(',') for line in f
                if line.strip() and not line.startswith('#')]
    assert len(rows) == len(board)
    assert not {'GPIO{}'.format(g) for g in PSRAM} & \
        {cpu.lstrip('-') for _, cpu in rows}


def test_make_pins_rejects_a_bad_csv(tmp_path):
    bad = tmp_path / 'bad.csv'
    bad.write_text('LED,GPIO33\nNOPE,GPIO99\n')
    r, _, _ = make_pins(tmp_path, str(bad))
    assert r.returncode != 0
    assert 'GPIO99' in r.stdout + r.stderr


# --- the frozen board module -------------------------------------------------

@pytest.fixture(scope='module')
def esp32cam():
    path = os.path.join(BOARD, 'modules', 'esp32cam.py')
    spec = importlib.util.spec_from_file_location('esp32cam', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_board_module_camera_pins_in_camera_api_form(esp32cam):
    pins = esp32cam.camera_pins()
    assert set(pins) <= CAMERA_API_KEYWORDS
    assert pins == {
        'data_pins': [CAMERA['D{}'.format(i)] for i in range(8)],
        'vsync_pin': CAMERA['VSYNC'], 'href_pin': CAMERA['HREF'],
        'sda_pin': CAMERA['SIOD'], 'scl_pin': CAMERA['SIOC'],
        'pclk_pin': CAMERA['PCLK'], 'xclk_pin': CAMERA['XCLK'],
        'powerdown_pin': CAMERA['PWDN'], 'reset_pin': -1}
    # A fresh dict and list each call: a caller's change does not stick.
    pins['data_pins'][0] = 99
    pins['vsync_pin'] = 99
    assert esp32cam.camera_pins()['data_pins'][0] == CAMERA['D0']
    assert esp32cam.camera_pins()['vsync_pin'] == CAMERA['VSYNC']
    assert (esp32cam.LED, esp32cam.FLASH_LED) == (LED, FLASH_LED)
    assert {k: getattr(esp32cam, 'SD_' + k) for k in SD} == SD
    assert esp32cam.XCLK_FREQ == 20000000


def test_board_module_runs_on_micropython(run_mpy, esp32cam):
    env = dict(os.environ, MICROPYPATH=os.path.join(BOARD, 'modules'))
    r = run_mpy(code='import esp32cam; print(esp32cam.camera_pins())',
                env=env)
    assert r.returncode == 0, r.stderr
    assert ast.literal_eval(r.stdout.strip()) == esp32cam.camera_pins()


# --- board.json through MicroPython's download-page generator ----------------

def test_board_json_builds_the_download_page(tmp_path):
    boards = tmp_path / 'repo' / 'ports' / 'esp32' / 'boards' / 'ESP32_CAM'
    boards.mkdir(parents=True)
    for name in ('board.json', 'deploy.md'):
        shutil.copy(os.path.join(BOARD, name), str(boards))
    out = tmp_path / 'out'
    out.mkdir()
    r = run([sys.executable,
             os.path.join(MPY_DIR, 'tools', 'autobuild', 'build-downloads.py'),
             str(tmp_path / 'repo'), str(out)])
    assert r.returncode == 0, r.stdout + r.stderr
    index = json.loads((out / 'index.json').read_text())
    assert len(index) == 1
    entry = index[0]
    assert (entry['id'], entry['port'], entry['mcu']) == \
        ('ESP32_CAM', 'esp32', 'esp32')
    assert entry['vendor'] == 'AI-Thinker'
    assert {'Camera', 'External RAM', 'microSD', 'WiFi'} <= \
        set(entry['features'])
    assert entry['deploy_options']['flash_offset'] == '0x1000'
    page = (out / 'ESP32_CAM.md').read_text()
    assert 'write_flash 0x1000 firmware.bin' in page
    assert '{' not in page  # every placeholder was substituted


# --- partition table: ESP-IDF's parser ---------------------------------------

# The ESP32_CAM app as built (README, "The board"): micropython.bin from
# `make firmware`, MicroPython v1.25.0, ESP-IDF v5.3.1, GCC 14.2.0 (the ESP32
# SDK of `make esp32-sdk-bundle`), 2026-12-01; the camera variant with
# micropython-camera-API v0.6.2. tests/test_esp32_image.py checks these
# figures against the image whenever one is built, so they cannot go stale
# unnoticed.
MEASURED_APP = {'plain': 1305504, 'camera': 1391040}
# What the app partition keeps free over the larger of the two: room for
# the next MicroPython release and a bigger driver.
HEADROOM = 1.10


def read_table(text):
    table = idfpart.PartitionTable.from_csv(text)
    table.verify(partition_table_offset=0x8000)
    return table


@pytest.fixture(scope='module')
def board_table():
    with open(os.path.join(BOARD, 'partitions-4MiB.csv')) as f:
        return f.read()


def test_partition_table_is_valid_for_4mib(board_table):
    table = read_table(board_table)
    table.verify_size_fits(4 * MiB)
    assert table.flash_size() == 4 * MiB  # nothing left unused
    by_name = {p.name: p for p in table}
    assert [p.name for p in table] == ['nvs', 'phy_init', 'factory', 'vfs']
    assert table[0].offset == 0x9000  # right after the table at 0x8000
    factory = by_name['factory']
    assert (factory.type, factory.subtype) == (idfpart.APP_TYPE, 0)
    assert factory.offset % 0x10000 == 0
    assert factory.size >= 0x240000
    vfs = by_name['vfs']
    assert vfs.type == idfpart.DATA_TYPE
    assert vfs.subtype == idfpart.SUBTYPES[idfpart.DATA_TYPE]['fat']
    # MicroPython mounts its filesystem from the data partition so labelled.
    with open(os.path.join(PORT_DIR, 'modules', 'flashbdev.py')) as f:
        assert 'label="vfs"' in f.read()
    # makeimg.py sizes the table slot up to "nvs" and takes the first app.
    apps = [p for p in table if p.type == idfpart.APP_TYPE]
    assert apps[0] is factory
    # The binary form round-trips through the same parser.
    assert list(idfpart.PartitionTable.from_binary(table.to_binary())) == \
        list(table)


def test_partition_parser_agrees_with_the_port_tables():
    csvs = glob.glob(os.path.join(PORT_DIR, 'partitions-*.csv'))
    assert len(csvs) >= 5
    for path in csvs:
        with open(path) as f:
            table = read_table(f.read())
        mib = int(re.search(r'partitions-(\d+)MiB', path).group(1))
        table.verify_size_fits(mib * MiB)


@pytest.mark.parametrize('old, new, error', [
    # the app moved off its 64 KiB boundary (and shrunk to stay clear)
    ('0x10000,  0x240000', '0x11000,  0x23f000', 'not aligned'),
    # an app size that is not whole 4 KiB flash sectors
    ('0x10000,  0x240000', '0x10000,  0x23f800', 'not aligned'),
    # the filesystem starting inside the app
    ('0x250000, 0x1b0000', '0x240000, 0x1c0000', 'overlap'),
    # a partition on top of the partition table at 0x8000
    ('0x9000,   0x6000', '0x7000,   0x8000', 'partition table occupies'),
])
def test_partition_parser_rejects_broken_variants(board_table, old, new,
                                                  error):
    assert old in board_table
    with pytest.raises(idfpart.InputError, match=error):
        read_table(board_table.replace(old, new))


def test_partition_table_does_not_fit_smaller_flash(board_table):
    with pytest.raises(idfpart.InputError, match='does not fit'):
        read_table(board_table).verify_size_fits(2 * MiB)


# --- the frozen manifest, for the ESP32 --------------------------------------

def port_requires():
    with open(os.path.join(PORT_DIR, 'boards', 'manifest.py')) as f:
        return re.findall(r'^require\("([^"]+)"\)', f.read(), re.M)


def micropython_lib_complete():
    # The port's own build checks for this file (py/mkrules.cmake).
    return os.path.isfile(os.path.join(MPY_DIR, 'lib', 'micropython-lib',
                                       'README.md'))


@pytest.fixture(scope='module')
def frozen(tmp_path_factory):
    """The board manifest frozen with makemanifest.py for xtensawin.

    With a complete micropython-lib the real port directory is used. Debian's
    MicroPython tree has only two micropython-lib packages, so then PORT_DIR
    is a copy of the port's boards/manifest.py without its require() lines
    (modules/ linked to the real one) and the board manifest is otherwise
    frozen unchanged.
    """
    tmp = tmp_path_factory.mktemp('freeze')
    genhdr = os.path.join(UNIX_BUILD, 'genhdr', 'qstrdefs.preprocessed.h')
    assert os.path.isfile(genhdr), 'run `make unix` first'
    os.makedirs(str(tmp / 'build' / 'genhdr'))
    # Which qstrs count as static: the unix build's list serves (it changes
    # the generated C, not what is frozen).
    shutil.copy(genhdr, str(tmp / 'build' / 'genhdr'))
    if micropython_lib_complete():
        port_dir, skipped = PORT_DIR, []
    else:
        port_dir = str(tmp / 'port')
        os.makedirs(os.path.join(port_dir, 'boards'))
        os.symlink(os.path.join(PORT_DIR, 'modules'),
                   os.path.join(port_dir, 'modules'))
        with open(os.path.join(PORT_DIR, 'boards', 'manifest.py')) as f:
            text = f.read()
        skipped = port_requires()
        text = re.sub(r'^require\(', '# skipped here: require(', text,
                      flags=re.M)
        with open(os.path.join(port_dir, 'boards', 'manifest.py'), 'w') as f:
            f.write(text)
    out = tmp / 'frozen_content.c'
    cmd = [sys.executable, os.path.join(MPY_DIR, 'tools', 'makemanifest.py'),
           '-o', str(out), '-b', str(tmp / 'build'),
           '-v', 'MPY_DIR=' + MPY_DIR, '-v', 'PORT_DIR=' + port_dir,
           '-v', 'BOARD_DIR=' + BOARD,
           '-v', 'MPY_LIB_DIR=' + os.path.join(MPY_DIR, 'lib',
                                               'micropython-lib'),
           '-f-march=xtensawin', os.path.join(BOARD, 'manifest.py')]
    r = run(cmd, env=dict(os.environ, MICROPY_MPYCROSS=MPY_CROSS),
            timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    mpy = {}
    root = str(tmp / 'build' / 'frozen_mpy')
    for path in glob.glob(os.path.join(root, '**', '*.mpy'), recursive=True):
        mpy[os.path.relpath(path, root)[:-4] + '.py'] = path
    return {'c': out.read_text(), 'mpy': mpy, 'skipped': skipped}


def frozen_names(c_source):
    body = c_source[c_source.index('const char mp_frozen_names[] = {'):]
    body = body[:body.index('};')]
    return set(re.findall(r'"([^"]+)\\0"', body))


def test_board_manifest_freezes_for_xtensawin(frozen):
    names = frozen_names(frozen['c'])
    port_modules = {os.path.basename(p) for p in
                    glob.glob(os.path.join(PORT_DIR, 'modules', '*.py'))}
    assert {'_boot.py', 'flashbdev.py', 'inisetup.py'} <= port_modules
    assert port_modules <= names
    assert {'asyncio/__init__.py', 'asyncio/core.py', 'asyncio/stream.py',
            'microdot/__init__.py', 'microdot/microdot.py',
            'microdot/websocket.py', 'esp32cam.py'} <= names
    ours = glob.glob(os.path.join(ROOT, 'frozen', 'microdot', '*.py'))
    assert {'microdot/' + os.path.basename(p) for p in ours} <= names
    assert set(frozen['mpy']) == names
    # .mpy v6 headers: bytecode carries no architecture; code with native
    # parts must have been compiled for xtensawin.
    persistentcode = open(os.path.join(MPY_DIR, 'py',
                                       'persistentcode.h')).read()
    mpy_version = int(re.search(r'#define MPY_VERSION (\d+)',
                                persistentcode).group(1))
    arches = re.search(r'MP_NATIVE_ARCH_NONE = 0,(.*?)\}', persistentcode,
                       re.S).group(1)
    xtensawin = re.findall(r'MP_NATIVE_ARCH_(\w+)', arches).index(
        'XTENSAWIN') + 1
    for name, path in frozen['mpy'].items():
        with open(path, 'rb') as f:
            header = f.read(3)
        assert header[:2] == bytes([ord('M'), mpy_version]), name
        assert header[2] >> 2 in (0, xtensawin), name


def test_port_default_packages_freeze(frozen):
    if frozen['skipped']:
        pytest.skip('micropython-lib packages absent from {} were not frozen '
                    'here (the real build freezes them): {}'.format(
                        MPY_DIR, ', '.join(frozen['skipped'])))
    names = frozen_names(frozen['c'])
    assert 'mip/__init__.py' in names


# --- the measured image against the partition table --------------------------

def test_app_partition_has_headroom_over_the_measured_image(board_table):
    largest = max(MEASURED_APP.values())
    factory = read_table(board_table)['factory']
    assert factory.size >= HEADROOM * largest, (
        'app partition {:#x} < {:.0%} of the measured {} bytes'.format(
            factory.size, HEADROOM, largest))
    # The port's default table (0x1F0000) would too, with less to spare:
    # the board's is sized for the camera driver and what comes after.
    with open(os.path.join(PORT_DIR, 'partitions-4MiB.csv')) as f:
        port = read_table(f.read())['factory']
    assert port.size < factory.size


# --- make targets ------------------------------------------------------------

def make(*args, env):
    return run(['make', '--no-print-directory', '-C', ROOT] + list(args),
               env=env)


def _env_without(*names):
    env = dict(os.environ)
    for name in names + ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'ESP32_SDK'):
        env.pop(name, None)
    return env


def _env_without_esp_idf(cache):
    """No ESP-IDF, no ESP32 SDK given, an empty ESP32 SDK cache."""
    return dict(_env_without('IDF_PATH'), ESP32_SDK_CACHE=str(cache))


def esptool_line(output):
    lines = [line for line in output.splitlines()
             if ' -m esptool ' in line]
    assert len(lines) == 1, output
    return shlex.split(lines[0])


def make_n(*args):
    return run(['make', '-n', '--no-print-directory', '-C', ROOT] +
               list(args), env=_env_without('PORT', 'BAUD'))


def test_make_deploy_dry_run_shows_esptool():
    r = make_n('deploy', 'PORT=/dev/ttyUSB0')
    assert r.returncode == 0, r.stderr
    argv = esptool_line(r.stdout)
    venv_python = os.path.join(ROOT, 'build', 'venv', 'bin', 'python')
    assert argv == [venv_python, '-m', 'esptool', '--chip', 'esp32',
                    '--port', '/dev/ttyUSB0', '--baud', '460800',
                    'write_flash', '0x1000',
                    os.path.join(ROOT, 'build', 'esp32', 'firmware.bin')]
    r = make_n('deploy', 'PORT=COM3', 'BAUD=115200')
    assert esptool_line(r.stdout)[6:9] == ['COM3', '--baud', '115200']


def test_esptool_accepts_the_deploy_and_erase_arguments(tmp_path):
    # esptool parses the command before it opens the port: with a port that
    # does not exist it must fail on the port, not on the arguments. (The
    # image argument is /dev/null: nothing is written anywhere.)
    missing = str(tmp_path / 'no-such-tty')
    for goal in ('deploy', 'erase'):
        r = make_n(goal, 'PORT=' + missing, 'ESP32_FIRMWARE=/dev/null')
        argv = esptool_line(r.stdout)
        e = run(argv, timeout=60)
        assert e.returncode != 0
        out = e.stdout + e.stderr
        assert 'usage:' not in out, out
        assert missing in out, out
    bad = run([argv[0], '-m', 'esptool', '--chip', 'esp32', '--port', missing,
               'write_flash', '0xZZ', '/dev/null'], timeout=60)
    assert 'usage:' in bad.stdout + bad.stderr


def test_make_erase_and_repl_dry_run():
    r = make_n('erase', 'PORT=/dev/ttyUSB1')
    assert esptool_line(r.stdout)[-1] == 'erase_flash'
    r = make_n('repl', 'PORT=/dev/ttyACM0')
    assert r.stdout.splitlines()[-1].split()[1:] == [
        '-m', 'mpremote', 'connect', '/dev/ttyACM0', 'repl']


@pytest.mark.parametrize('goal', ['deploy', 'erase', 'repl'])
def test_port_targets_without_port_fail_clearly(goal):
    r = run(['make', '-C', ROOT, goal], env=_env_without('PORT'))
    assert r.returncode != 0
    assert 'PORT is not set' in r.stderr
    assert 'make {} PORT=/dev/ttyUSB0'.format(goal) in r.stderr


def test_make_firmware_without_idf_fails_with_guidance(tmp_path):
    before = sorted(glob.glob(os.path.join(ROOT, 'build', 'esp32', '*.bin')))
    # No ESP32 SDK either: neither given nor in an (empty) cache.
    r = make('firmware', env=_env_without_esp_idf(tmp_path))
    assert r.returncode != 0
    assert 'IDF_PATH is not set' in r.stderr
    assert 'export.sh' in r.stderr and 'v5.2.2' in r.stderr
    assert 'nothing was built' in r.stderr
    # No image appears: the firmware is never faked.
    assert sorted(glob.glob(os.path.join(ROOT, 'build', 'esp32',
                                         '*.bin'))) == before


def test_make_firmware_reports_every_missing_prerequisite(tmp_path):
    not_idf = tmp_path / 'idf'
    not_mpy = tmp_path / 'micropython'
    not_cam = tmp_path / 'camera'
    for d in (not_idf, not_mpy, not_cam):
        d.mkdir()
    r = make('firmware', 'MICROPY_DIR=' + str(not_mpy),
             'CAMERA_API_DIR=' + str(not_cam),
             env=dict(_env_without(), IDF_PATH=str(not_idf)))
    assert r.returncode != 0
    err = r.stderr
    assert 'IDF_PATH={} is not an ESP-IDF tree'.format(not_idf) in err
    assert 'MICROPY_DIR={} is not a MicroPython tree'.format(not_mpy) in err
    assert 'git clone -b v1.25.0' in err
    assert 'CAMERA_API_DIR={} is not a micropython-camera-API'.format(
        not_cam) in err
    assert '3 prerequisite(s) missing' in err


def test_debian_tree_is_refused_for_the_esp32_build(tmp_path):
    # Debian's source package (the fallback of `make micropython`) has no
    # git metadata, so no submodules: the ESP32 build needs a checkout.
    if os.path.isdir(os.path.join(MPY_DIR, '.git')):
        pytest.skip('{} is a git checkout'.format(MPY_DIR))
    r = make('firmware', 'MICROPY_DIR=' + MPY_DIR,
             env=_env_without_esp_idf(tmp_path))
    assert r.returncode != 0
    assert 'MICROPY_DIR={} is not a git checkout'.format(MPY_DIR) in r.stderr


def test_make_firmware_with_an_incomplete_esp32_sdk(tmp_path):
    sdk = tmp_path / 'esp32-sdk'
    (sdk / 'esp-idf').mkdir(parents=True)
    (sdk / 'env.sh').write_text('')
    before = sorted(glob.glob(os.path.join(ROOT, 'build', 'esp32', '*.bin')))
    r = make('firmware', 'ESP32_SDK=' + str(sdk),
             env=_env_without_esp_idf(tmp_path / 'cache'))
    assert r.returncode != 0
    assert 'ESP32_SDK={} is not a complete ESP32 SDK (no setup-python.sh)' \
        .format(sdk) in r.stderr
    assert 'docs/topics/esp32-sdk.rst' in r.stderr
    assert 'nothing was built' in r.stderr
    assert sorted(glob.glob(os.path.join(ROOT, 'build', 'esp32',
                                         '*.bin'))) == before


def test_ci_step_without_an_sdk_is_one_skipped_line(tmp_path):
    env = dict(os.environ, ESP32_SDK_CACHE=str(tmp_path))
    for name in ('ESP32_SDK', 'ESP32_SDK_BUNDLE'):
        env.pop(name, None)
    r = subprocess.run([os.path.join(ROOT, 'ci', 'esp32-image.sh')],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = (r.stdout + r.stderr).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('SKIPPED: ESP32 image')


# --- the CI recipe -----------------------------------------------------------

def test_workflow_builds_the_pinned_versions():
    with open(os.path.join(ROOT, '.github', 'workflows', 'esp32.yml')) as f:
        wf = yaml.safe_load(f)
    with open(os.path.join(ROOT, 'Makefile')) as f:
        version = re.search(r'^MICROPY_VERSION \?= (\S+)', f.read(),
                            re.M).group(1)
    job = wf['jobs']['firmware']
    image = job['container']['image'] if isinstance(job['container'], dict) \
        else job['container']
    tag = re.fullmatch(r'espressif/idf:v(\d+)\.(\d+)\.(\d+)', image)
    assert tag, image
    assert (5, 2) <= tuple(int(x) for x in tag.groups()[:2]) <= (5, 4)
    script = '\n'.join(s.get('run', '') for s in job['steps'])
    assert '--branch v{} '.format(version) in script
    assert 'make firmware' in script
    uploads = [s for s in job['steps']
               if str(s.get('uses', '')).startswith('actions/upload-artifact')]
    assert len(uploads) == 1
    assert 'build/esp32/firmware' in uploads[0]['with']['path']

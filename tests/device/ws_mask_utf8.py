# ws_mask.utf8_validate() of the C module and of its Python twin: RFC 3629
# boundaries, overlongs, surrogates, code points past U+10FFFF, truncated
# sequences (RFC 6455 section 8.1 and the Autobahn 6.x cases), fed whole,
# byte by byte (where does it fail?) and split at every position.
# Runs unchanged on a board: mpremote connect PORT run tests/device/<file>.py
try:
    import ws_mask
except ImportError:
    print("SKIP")
    raise SystemExit

from microdot import _ws_mask


def unhex(s):
    return bytes(int(s[i:i + 2], 16) for i in range(0, len(s), 2))


KOSME = "ceba" "e1bdb9" "cf83" "cebc" "ceb5"

VECTORS = (
    ("empty", ""),
    ("ascii", "48656c6c6f"),
    ("nul", "00"),
    ("del", "7f"),
    ("kosme", KOSME),
    ("U+0080", "c280"),
    ("U+07FF", "dfbf"),
    ("U+0800", "e0a080"),
    ("U+D7FF", "ed9fbf"),
    ("U+E000", "ee8080"),
    ("U+FFFD", "efbfbd"),
    ("U+FFFF", "efbfbf"),
    ("U+10000", "f0908080"),
    ("U+1F600", "f09f9880"),
    ("U+10FFFF", "f48fbfbf"),
    ("overlong / 2", "c0af"),
    ("overlong nul 2", "c080"),
    ("overlong c1", "c1bf"),
    ("overlong / 3", "e080af"),
    ("overlong 3 max", "e09fbf"),
    ("overlong / 4", "f08080af"),
    ("overlong 4 max", "f08fbfbf"),
    ("U+D800", "eda080"),
    ("U+DBFF", "edafbf"),
    ("U+DC00", "edb080"),
    ("U+DFFF", "edbfbf"),
    ("surrogate pair", "eda080edb080"),
    ("U+110000", "f4908080"),
    ("f5", "f5808080"),
    ("f8 5-byte", "f888808080"),
    ("fc 6-byte", "fc8480808080"),
    ("fe", "fe"),
    ("ff", "ff"),
    ("lone 80", "80"),
    ("lone bf", "bf"),
    ("c3 then ascii", "c341"),
    ("e2 82 then ascii", "e28241"),
    ("f0 9f 98 then ascii", "f09f9841"),
    ("lead after lead", "c3c3a9"),
    ("truncated c3", "c3"),
    ("truncated e2", "e2"),
    ("truncated e2 82", "e282"),
    ("truncated f0 9f", "f09f"),
    ("truncated f0 9f 98", "f09f98"),
    ("text then truncated", "616263e282"),
    ("text then 80", "68656c6c6f" "80" "776f726c64"),
    ("autobahn 6.4 kosme f4908080 edited", KOSME + "f4908080" "656469746564"),
    ("autobahn 6.4 kosme f49080", KOSME + "f49080"),
    ("long ascii then e9", "41" * 40 + "e9" + "41" * 3),
    ("long mixed", (KOSME + "41") * 8 + "f09f9880" * 4),
)


def kind(state):
    if state == 0:
        return "valid"
    if state == -1:
        return "invalid"
    if type(state) is int and state > 0:
        return "partial"
    return "bad state {!r}".format(state)


def bytewise(impl, data):
    # Index of the first byte rejected when fed one byte at a time.
    state = 0
    for i in range(len(data)):
        state = impl.utf8_validate(data[i:i + 1], state)
        if state == -1:
            return "fails at {}".format(i)
    return "ends " + kind(state)


def splits(impl, data, whole):
    # Every split into two pieces gives the verdict of the whole buffer.
    for i in range(len(data) + 1):
        state = impl.utf8_validate(data[:i])
        if state != -1:
            state = impl.utf8_validate(memoryview(data)[i:], state)
        if kind(state) != whole:
            return "differ at {}".format(i)
    return "agree"


for name, impl in (("C", ws_mask), ("py", _ws_mask)):
    for label, text in VECTORS:
        data = unhex(text)
        whole = kind(impl.utf8_validate(data))
        print(name, label, whole, bytewise(impl, data),
              splits(impl, data, whole))

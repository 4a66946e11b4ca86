"""Print the code size of object files: .text (code and, with
-mtext-section-literals, its literal pools) and .rodata, in bytes.

    python3 sizes.py SIZE_TOOL [--max NAME.o=BYTES]... FILE.o...

Exits 1 if a file's .text is over its --max budget.
"""
import subprocess
import sys


def sections(size_tool, path):
    out = subprocess.run([size_tool, '-A', path], check=True,
                         capture_output=True, text=True).stdout
    totals = {'.text': 0, '.rodata': 0}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1].isdigit():
            for kind in totals:
                if fields[0] == kind or fields[0].startswith(kind + '.'):
                    totals[kind] += int(fields[1])
    return totals


def main():
    size_tool, args = sys.argv[1], sys.argv[2:]
    budgets, paths = {}, []
    while args:
        arg = args.pop(0)
        if arg == '--max':
            name, limit = args.pop(0).split('=')
            budgets[name] = int(limit)
        else:
            paths.append(arg)
    print('{:<16} {:>7} {:>7}  budget'.format('xtensa-lx106', '.text',
                                              '.rodata'))
    over = []
    for path in paths:
        name = path.rsplit('/', 1)[-1]
        t = sections(size_tool, path)
        limit = budgets.get(name)
        print('{:<16} {:>7} {:>7}  {}'.format(
            name, t['.text'], t['.rodata'],
            '<= {}'.format(limit) if limit else '-'))
        if limit and t['.text'] > limit:
            over.append(name)
    if over:
        sys.exit('error: .text over budget: ' + ', '.join(over))


main()

"""Merge the benchmark results and plot them.

    python bench/report.py build/bench

Reads the ``NAME.json`` files ci/bench.sh leaves there (one per
``bench/bench_NAME.py``), writes ``results.json`` (all of them, with the
machine they ran on) and ``throughput.png``, and prints the summary table
the README shows.
"""
import datetime
import json
import os
import platform
import sys

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from bench_ws import nbytes  # noqa: E402


def size_label(n):
    if n >= 1 << 20:
        return '{} MiB'.format(n >> 20)
    if n >= 1 << 10:
        return '{} KiB'.format(n >> 10)
    return '{} B'.format(n)


def load(folder):
    results = {}
    for name in ('mask', 'ws', 'autobahn'):
        path = os.path.join(folder, 'bench_{}.json'.format(name))
        if os.path.exists(path):
            with open(path) as f:
                results[name] = json.load(f)
    return results


def cpu_model():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


LABELS = {'bytearray': 'this firmware, binary_type=bytearray',
          'upstream 2.7': 'upstream Microdot 2.7.0'}


def plot(results, path):
    panels = [k for k in ('ws', 'memory', 'mask', 'autobahn')
              if k in results or k == 'memory' and
              results.get('ws', {}).get('memory')]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2))
    if len(panels) == 1:
        axes = [axes]
    for ax, key in zip(axes, panels):
        data = results['ws' if key == 'memory' else key]
        if key == 'memory':
            # Peak heap and bytes allocated per message, by size.
            for layer, color in zip(data['layers'],
                                    ('tab:blue', 'tab:orange', 'tab:green')):
                for kind, style in (('heap', 'o-'), ('allocated', 'x--')):
                    pts = [(r['size'], r[kind][layer])
                           for r in data['memory'] if r[kind].get(layer)]
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style,
                            color=color, label='{}, {}'.format(
                                LABELS.get(layer, layer),
                                'peak heap' if kind == 'heap'
                                else 'allocated'))
            ax.set_title('Memory per message echoed (in the firmware)')
            ax.set_ylabel('bytes')
        elif key == 'ws':
            # Echo throughput in MB/s at every size (msg/s * size).
            rows = [r for r in data['results'] if 'rtt' not in r['label']]
            for layer, style in zip(data['layers'], ('o-', 's--', '^-')):
                xs, ys = [], []
                for r in rows:
                    v = r[layer]
                    if v is None:
                        continue
                    xs.append(r['size'])
                    ys.append(v * r['size'] / 1e6 if r['unit'] == 'msg/s'
                              else v)
                ax.plot(xs, ys, style, label=LABELS.get(layer, layer))
            ax.set_title('WebSocket echo (server side)')
            ax.set_ylabel('MB/s echoed')
        elif key == 'mask':
            rows = data['results']
            for name, style in (('ws_mask', 'o-'), ('twin', 's--'),
                                ('generator', '^-'), ('copy', 'k:')):
                pts = [(r['size'], r['mbps'][name]) for r in rows
                       if r['mbps'].get(name)]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style,
                        label={'generator': 'upstream generator',
                               'twin': 'Python twin (_ws_mask)',
                               'copy': 'copy reference'}.get(name, name))
            ax.set_title('Unmasking in the firmware')
            ax.set_ylabel('MB/s')
        if key in ('ws', 'memory', 'mask'):
            ax.set_xscale('log', base=2)
            ax.set_yscale('log')
            ax.set_xlabel('message size (bytes)')
            ax.legend(fontsize=6 if key == 'memory' else 8)
            ax.grid(True, which='both', alpha=0.3)
        if key == 'autobahn':
            rows = data['results']
            names = [r['layer'].replace(', ', '\n') for r in rows]
            passed = [r['passed'] for r in rows]
            failed = [r['failed'] for r in rows]
            ax.bar(names, passed, color='tab:green', label='passed')
            ax.bar(names, failed, bottom=passed, color='tab:red',
                   label='failed')
            for i, p in enumerate(passed):
                ax.text(i, p / 2, str(p), ha='center', color='white')
            ax.set_title('Autobahn cases 1-10')
            ax.set_ylabel('cases')
            ax.tick_params(axis='x', labelsize=8)
            ax.legend(fontsize=8)
    fig.suptitle('ws-firmware vs upstream Microdot 2.7.0, same unix firmware '
                 'binary, one run', fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def table(results):
    lines = []
    ws = results.get('ws')
    if ws:
        ours, upstream = ws['layers'][0], ws['layers'][-1]
        lines += ['| message | unit | this firmware | upstream 2.7.0 '
                  '| ratio |', '| --- | --- | ---: | ---: | ---: |']
        for r in ws['results']:
            a, b = r[ours], r[upstream]
            lines.append('| {} | {} | {} | {} | {} |'.format(
                r['label'], r['unit'], fmt(a), fmt(b),
                '{:.1f}x'.format(a / b) if a and b else '-'))
        lines.append('')
    if ws and ws.get('memory'):
        lines += ['| message | allocated: this firmware | upstream 2.7.0 '
                  '| peak heap: this firmware | upstream 2.7.0 |',
                  '| --- | ---: | ---: | ---: | ---: |']
        for r in ws['memory']:
            lines.append('| {} | {} | {} | {} | {} |'.format(
                r['label'], nbytes(r['allocated'][ours], ','),
                nbytes(r['allocated'][upstream], ','), nheap(r['heap'][ours]),
                nheap(r['heap'][upstream])))
        lines.append('')
    mask = results.get('mask')
    if mask:
        lines += ['| size | ws_mask MB/s | / generator | / copy | '
                  'twin / generator |', '| --- | ---: | ---: | ---: | ---: |']
        for r in mask['results']:
            m = r['mbps']
            lines.append('| {} | {} | {} | {} | {} |'.format(
                size_label(r['size']), fmt(m.get('ws_mask')),
                ratio(m, 'ws_mask', 'generator'), ratio(m, 'ws_mask', 'copy'),
                ratio(m, 'twin', 'generator')))
        lines.append('')
    ab = results.get('autobahn')
    if ab:
        lines += ['| Autobahn 1-10 | passed | failed |',
                  '| --- | ---: | ---: |']
        for r in ab['results']:
            lines.append('| {} | {} | {} |'.format(r['layer'], r['passed'],
                                                   r['failed']))
    return '\n'.join(lines)


def nheap(v):
    """A peak heap: measured to 4 KiB (or 2%) by bisection."""
    return '≤ 4 KiB' if v is not None and v <= 4096 else nbytes(v, ',')


def fmt(v):
    if not v:
        return '-'
    return '{:,.0f}'.format(v) if v >= 100 else '{:.1f}'.format(v)


def ratio(m, a, b):
    if m.get(a) and m.get(b):
        return '{:.2f}x'.format(m[a] / m[b])
    return '-'


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else 'build/bench'
    results = load(folder)
    if not results:
        sys.exit('no benchmark results in {}'.format(folder))
    results['machine'] = {
        'cpu': cpu_model(), 'cores': os.cpu_count(),
        'date': datetime.date.today().isoformat()}
    with open(os.path.join(folder, 'results.json'), 'w') as f:
        json.dump(results, f, indent=1)
    png = os.path.join(folder, 'throughput.png')
    plot(results, png)
    print()
    print('machine: {cpu}, {cores} cores, {date}'.format(
        **results['machine']))
    print(table(results))
    print()
    print('wrote {} and {}'.format(os.path.join(folder, 'results.json'), png))


if __name__ == '__main__':
    main()

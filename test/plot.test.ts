import { describe, expect, it } from 'vitest';
import { lineChart, lineCharts, logTicks, niceTicks, tickLabel } from '../lib/plot/svg';
import { sparkline, textChart } from '../lib/plot/text';

/** Checks that every element is closed in order (a tiny XML well-formedness check: no parser dependency). */
function balanced(svg: string): boolean {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, close, name, self] = m;
    if (self) continue;
    if (close) {
      if (stack.pop() !== name) return false;
    } else stack.push(name);
  }
  return stack.length === 0;
}

/** The points of every <path d="…"> as [[x, y], …] per path, and the number of pen-ups (M) in each. */
function paths(svg: string): { pts: number[][]; moves: number }[] {
  return [...svg.matchAll(/<path d="([^"]+)"/g)].map((m) => {
    const segs = [...m[1].matchAll(/([ML])([-\d.]+) ([-\d.]+)/g)];
    return { pts: segs.map((s) => [Number(s[2]), Number(s[3])]), moves: segs.filter((s) => s[1] === 'M').length };
  });
}

describe('ticks', () => {
  it('niceTicks uses 1-2-5 steps and covers the range', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 100, 5)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(0.13, 0.91, 4)).toEqual([0.2, 0.4, 0.6, 0.8]);
    expect(niceTicks(-3, 7, 5)).toEqual([-2, 0, 2, 4, 6]);
    expect(niceTicks(5, 5)).toEqual([5]);
  });
  it('logTicks gives powers of ten, thinned when many', () => {
    expect(logTicks(1e-3, 1)).toEqual([1e-3, 1e-2, 1e-1, 1]);
    expect(logTicks(2e-3, 50)).toEqual([1e-2, 1e-1, 1, 10]);
    const many = logTicks(1e-12, 1e4);
    expect(many.length).toBeLessThanOrEqual(9);
    expect(many[0]).toBe(1e-12);
  });
  it('labels', () => {
    expect(tickLabel(0)).toBe('0');
    expect(tickLabel(0.5)).toBe('0.5');
    expect(tickLabel(1500)).toBe('1.5k');
    expect(tickLabel(1e-6, true)).toBe('1e-6');
    expect(tickLabel(100, true)).toBe('1e2');
  });
});

describe('lineChart', () => {
  it('maps data to the plot area: linear axes', () => {
    const svg = lineChart([{ name: 'a', x: [0, 1, 2], y: [0, 0.5, 1] }], { width: 400, height: 300 });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(balanced(svg)).toBe(true);
    const [p] = paths(svg);
    expect(p.pts).toHaveLength(3);
    // x: 0 → left edge (64), 2 → right edge (400 − 16); y: 0 → bottom (300 − 34), 1 → top (14)
    expect(p.pts[0]).toEqual([64, 266]);
    expect(p.pts[2]).toEqual([384, 14]);
    expect(p.pts[1]).toEqual([224, 140]); // the midpoint is in the middle
  });

  it('log y axis: equal ratios are equal distances, non-positive values break the line', () => {
    const svg = lineChart([{ name: 'loss', y: [1e-4, 1e-3, 1e-2, 0, 1e-3] }], { logY: true, width: 400, height: 300 });
    const [p] = paths(svg);
    expect(p.moves).toBe(2); // the 0 lifts the pen
    const [a, b, c] = p.pts;
    expect(b[1] - a[1]).toBeCloseTo(c[1] - b[1], 1);
    expect(a[1]).toBe(266); // 1e-4 is the bottom of [1e-4, 1e-2]
    expect(c[1]).toBe(14);
    expect(svg).toContain('>1e-3<'); // a tick label
  });

  it('NaN and Infinity break the line instead of breaking the SVG', () => {
    const svg = lineChart([{ name: 's', y: [1, NaN, 2, Infinity, 3] }]);
    expect(svg).not.toMatch(/NaN|Infinity/);
    expect(paths(svg)[0].moves).toBe(3);
  });

  it('legend, labels and title are escaped; several series get distinct colours', () => {
    const svg = lineChart(
      [
        { name: 'NGD <λ=1e-3> & "co"', y: [3, 2, 1] },
        { name: 'Adam', y: [3, 2.5, 2], dash: true },
      ],
      { title: 'a < b', xLabel: 'step', yLabel: 'loss' }
    );
    expect(balanced(svg)).toBe(true);
    expect(svg).toContain('NGD &lt;λ=1e-3&gt; &amp; &quot;co&quot;');
    expect(svg).toContain('a &lt; b');
    expect(svg).toContain('>step<');
    expect(svg).toContain('>loss<');
    const colours = [...svg.matchAll(/<path d="[^"]+" fill="none" stroke="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(colours).size).toBe(2);
    expect(svg).toContain('stroke-dasharray');
  });

  it('is deterministic and rejects mismatched x/y', () => {
    const s = [{ name: 'a', y: [1, 2, 3] }];
    expect(lineChart(s)).toBe(lineChart(s));
    expect(() => lineChart([{ name: 'a', x: [1, 2], y: [1, 2, 3] }])).toThrow(/x has 2 values, y has 3/);
    expect(() => lineChart([{ name: 'a', y: [] }])).not.toThrow();
  });

  it('lineCharts lays panels out in a grid, in absolute coordinates (no nested transforms)', () => {
    const panel = { series: [{ name: 'a', y: [1, 2] }], options: { width: 300, height: 200 } };
    const svg = lineCharts([panel, panel, panel], { columns: 2, title: 'both' });
    expect(balanced(svg)).toBe(true);
    expect(svg).toMatch(/^<svg[^>]*width="600" height="430"/);
    expect(svg).not.toContain('<g');
    expect(svg).toContain('<rect x="300" y="30" width="300" height="200"');
    expect(svg).toContain('<rect x="0" y="230" width="300" height="200"');
    // the same line in panel 1 and panel 2 is shifted by exactly the panel offset
    const [p0, p1, p2] = paths(svg);
    expect(p1.pts[0][0] - p0.pts[0][0]).toBe(300);
    expect(p2.pts[1][1] - p0.pts[1][1]).toBe(200);
  });

  it('lines are clipped to the plot area at its edges', () => {
    // y range fixed to [0, 1]: the line 0 → 2 leaves through the top edge halfway along
    const svg = lineChart([{ name: 'a', x: [0, 1, 2, 3], y: [0, 2, 2, 0.5] }], { width: 400, height: 300, yMin: 0, yMax: 1 });
    const [p] = paths(svg);
    expect(p.moves).toBe(2); // out through the top, back in through the top
    expect(p.pts[0]).toEqual([64, 266]);
    expect(p.pts[1]).toEqual([64 + 320 / 6, 14].map((v) => Math.round(v * 100) / 100)); // x = 0.5 of 3 → 53.33 px in
    expect(p.pts[3][1]).toBe(140); // ends at y = 0.5
    for (const [x, y] of p.pts) {
      expect(y).toBeGreaterThanOrEqual(14);
      expect(y).toBeLessThanOrEqual(266);
      expect(x).toBeLessThanOrEqual(384);
    }
  });
});

describe('text charts', () => {
  it('a falling line runs from the top left to the bottom right', () => {
    const out = textChart([{ name: 'down', y: [10, 5, 0] }], { width: 20, height: 5 });
    const rows = out.split('\n');
    const plot = rows.slice(0, 5).map((r) => r.slice(r.indexOf('|') + 1));
    expect(plot[0][0]).toBe('*');
    expect(plot[4][19]).toBe('*');
    expect(plot[2][10]).toBe('*');
    expect(rows[0]).toMatch(/^10 \|/);
    expect(rows[4]).toMatch(/^ 0 \|/);
    expect(out).toContain('* down');
  });
  it('two series, log scale, legend', () => {
    const out = textChart(
      [
        { name: 'NGD', y: [1, 1e-4, 1e-8] },
        { name: 'Adam', y: [1, 0.5, 0.1] },
      ],
      { logY: true, width: 30, height: 9, title: 'loss' }
    );
    expect(out.split('\n')[0]).toBe('loss');
    expect(out).toContain('* NGD');
    expect(out).toContain('o Adam');
    expect(out).toContain('(log y)');
    expect(out).toContain('1e-8');
  });
  it('sparkline', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([1, NaN, 1])).toBe('▄ ▄');
    expect(sparkline([1e-8, 1e-4, 1], { logY: true })).toBe('▁▅█');
  });
});

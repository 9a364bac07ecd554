// Compact text charts for terminals (no colours, no dependencies): the same Series as ./svg.ts.
//
// API
//   textChart(series, options?) → string   a character grid, y labels on the left, x range below,
//                                           legend last; one marker per series ('*', 'o', '+', 'x', …)
//   sparkline(values, { logY? }) → string  one line of ▁▂▃▄▅▆▇█, one character per value
//
//   interface TextChartOptions {
//     width?: number;  height?: number;   // plot area in characters, default 60 × 12
//     logY?: boolean;                      // log10 y axis (values ≤ 0 are skipped)
//     title?: string; xLabel?: string;
//     yMin?: number; yMax?: number;
//   }
//
// Each column shows each series' value interpolated at that column's x, so curves with hundreds of
// points still read as lines. Where series overlap, the later one's marker wins.
import type { Series } from './svg';
import { tickLabel } from './svg';

export interface TextChartOptions {
  width?: number;
  height?: number;
  logY?: boolean;
  title?: string;
  xLabel?: string;
  yMin?: number;
  yMax?: number;
}

export const MARKERS = ['*', 'o', '+', 'x', '#', '@', '%', '&'];

/** Finite (and, on a log axis, positive) points of a series, sorted by x. */
function points(s: Series, logY: boolean): Array<[number, number]> {
  const pts: Array<[number, number]> = [];
  for (let i = 0; i < s.y.length; i++) {
    const x = s.x ? s.x[i] : i;
    const y = s.y[i];
    if (Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0)) pts.push([x, logY ? Math.log10(y) : y]);
  }
  return pts.sort((a, b) => a[0] - b[0]);
}

/** A character chart of one or more series. */
export function textChart(series: Series[], options: TextChartOptions = {}): string {
  const width = Math.max(10, Math.floor(options.width ?? 60));
  const height = Math.max(3, Math.floor(options.height ?? 12));
  const logY = !!options.logY;
  const all = series.map((s) => points(s, logY));
  const flat = all.flat();
  const lines: string[] = [];
  if (options.title) lines.push(options.title);
  if (flat.length === 0) {
    lines.push('(no data)');
    return lines.join('\n');
  }
  const xlo = Math.min(...flat.map((p) => p[0])),
    xhi = Math.max(...flat.map((p) => p[0]));
  const tr = (v: number | undefined) => (v === undefined ? undefined : logY ? Math.log10(v) : v);
  let ylo = tr(options.yMin) ?? Math.min(...flat.map((p) => p[1]));
  let yhi = tr(options.yMax) ?? Math.max(...flat.map((p) => p[1]));
  if (!(yhi > ylo)) {
    const d = ylo === 0 ? 1 : Math.abs(ylo) * 0.1;
    ylo -= d;
    yhi += d;
  }
  const grid = Array.from({ length: height }, () => new Array<string>(width).fill(' '));
  all.forEach((pts, si) => {
    if (pts.length === 0) return;
    const mark = MARKERS[si % MARKERS.length];
    let j = 0;
    for (let c = 0; c < width; c++) {
      const x = xhi === xlo ? xlo : xlo + ((xhi - xlo) * c) / (width - 1);
      if (x < pts[0][0] - 1e-12 * Math.abs(x) || x > pts[pts.length - 1][0] + 1e-12 * Math.abs(x)) continue;
      while (j < pts.length - 2 && pts[j + 1][0] < x) j++;
      const [xa, ya] = pts[j];
      const [xb, yb] = pts[Math.min(j + 1, pts.length - 1)];
      const y = xb === xa ? ya : ya + ((yb - ya) * (x - xa)) / (xb - xa);
      const row = Math.round(((yhi - y) / (yhi - ylo)) * (height - 1));
      if (row >= 0 && row < height) grid[row][c] = mark;
    }
  });
  const label = (row: number) => {
    const v = yhi - ((yhi - ylo) * row) / (height - 1);
    return tickLabel(logY ? 10 ** v : v, false);
  };
  const labelRows = new Set([0, Math.floor((height - 1) / 2), height - 1]);
  const lw = Math.max(...[...labelRows].map((r) => label(r).length));
  grid.forEach((row, r) => lines.push(`${(labelRows.has(r) ? label(r) : '').padStart(lw)} |${row.join('').trimEnd()}`));
  lines.push(`${' '.repeat(lw)} +${'-'.repeat(width)}`);
  const xl = tickLabel(xlo),
    xh = tickLabel(xhi);
  const mid = options.xLabel ? ` ${options.xLabel} ` : '';
  const gap = Math.max(1, width - xl.length - xh.length - mid.length);
  lines.push(`${' '.repeat(lw + 2)}${xl}${' '.repeat(Math.floor(gap / 2))}${mid}${' '.repeat(Math.ceil(gap / 2))}${xh}`);
  if (series.length)
    lines.push(`${' '.repeat(lw + 2)}${series.map((s, i) => `${MARKERS[i % MARKERS.length]} ${s.name}`).join('   ')}${logY ? '   (log y)' : ''}`);
  return lines.join('\n');
}

const BARS = '▁▂▃▄▅▆▇█';

/** One line of block characters, one per value (non-finite values, and ≤ 0 ones with logY, print as a space). */
export function sparkline(values: ArrayLike<number>, options: { logY?: boolean } = {}): string {
  const v = Array.from(values, (y) => (options.logY ? (y > 0 ? Math.log10(y) : NaN) : y));
  const ok = v.filter(Number.isFinite);
  if (ok.length === 0) return ' '.repeat(v.length);
  const lo = Math.min(...ok),
    hi = Math.max(...ok);
  return v.map((y) => (Number.isFinite(y) ? BARS[hi === lo ? 3 : Math.round(((y - lo) / (hi - lo)) * 7)] : ' ')).join('');
}

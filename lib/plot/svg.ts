// Dependency-free SVG line charts (loss curves and the like).
//
// API
//   lineChart(series, options?)            → string   one chart as a standalone <svg> document
//   lineCharts(panels, { columns?, title? }) → string  several charts side by side in one <svg>
//   niceTicks(min, max, count?)            → number[] "nice" linear tick values covering [min, max]
//   logTicks(min, max)                     → number[] powers of ten covering [min, max] (min > 0)
//
//   interface Series {
//     name: string;                 // shown in the legend (XML-escaped)
//     y: ArrayLike<number>;         // values; non-finite ones (and ≤ 0 ones on a log axis) break the line
//     x?: ArrayLike<number>;        // default 0, 1, 2, … ; same length as y
//     color?: string;               // default: a fixed palette, by series index
//     dash?: boolean;               // dashed stroke (e.g. test curves beside solid train curves)
//   }
//   interface ChartOptions {
//     title?: string; xLabel?: string; yLabel?: string;
//     logY?: boolean; logX?: boolean;    // log10 axes; ticks at powers of ten
//     width?: number; height?: number;   // pixels, default 640 × 400
//     yMin?: number; yMax?: number;      // fixed y range (default: the data's, padded on a linear axis)
//     xMin?: number; xMax?: number;
//   }
//   Panel = { series: Series[]; options?: ChartOptions }
//
// Example:
//   writeFileSync('loss.svg', lineChart([{ name: 'NGD', y: losses }, { name: 'Adam', y: adam }],
//                                       { title: 'train loss', xLabel: 'step', yLabel: 'loss', logY: true }));
//
// Output is deterministic (same input → same bytes); numbers are written with at most 2 decimals.

export interface Series {
  name: string;
  y: ArrayLike<number>;
  x?: ArrayLike<number>;
  color?: string;
  dash?: boolean;
}

export interface ChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  logY?: boolean;
  logX?: boolean;
  width?: number;
  height?: number;
  yMin?: number;
  yMax?: number;
  xMin?: number;
  xMax?: number;
}

export interface Panel {
  series: Series[];
  options?: ChartOptions;
}

/** The default colours, in order (colour-blind-safe Okabe–Ito palette, darkest first). */
export const PALETTE = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#000000', '#f0e442'];

/** Escapes text for XML content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A coordinate with at most 2 decimals and no trailing zeros. */
function num(v: number): string {
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

/** Tick values at 1, 2 or 5 × 10^e spacing covering [min, max], about `count` of them. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min > max) [min, max] = [max, min];
  if (min === max) return [min];
  const raw = (max - min) / Math.max(1, count);
  const e = Math.floor(Math.log10(raw));
  const base = 10 ** e;
  const f = raw / base;
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * base;
  const ticks: number[] = [];
  const first = Math.ceil(min / step - 1e-9);
  const last = Math.floor(max / step + 1e-9);
  for (let i = first; i <= last; i++) ticks.push(cleanFloat(i * step, e));
  return ticks;
}

/** Powers of ten covering [min, max] (both > 0); every other one when there are more than 8. */
export function logTicks(min: number, max: number): number[] {
  if (!(min > 0) || !(max > 0) || !Number.isFinite(min) || !Number.isFinite(max)) return [];
  const lo = Math.ceil(Math.log10(min) - 1e-9);
  const hi = Math.floor(Math.log10(max) + 1e-9);
  const every = Math.max(1, Math.ceil((hi - lo + 1) / 8));
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) if ((e - lo) % every === 0) ticks.push(Number(`1e${e}`));
  return ticks;
}

/** Rounds i·step to the precision of the step so that 0.1 + 0.2 prints as 0.3. */
function cleanFloat(v: number, e: number): number {
  const r = e < 0 ? Number(v.toFixed(-e)) : v;
  return r === 0 ? 0 : r; // no -0
}

/** A short tick label: 0, 0.5, 20, 1.5k, 1e-6 … */
export function tickLabel(v: number, log = false): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (log || a >= 1e5 || a < 1e-3) {
    const e = Math.round(Math.log10(a));
    if (Math.abs(a - 10 ** e) / a < 1e-9) return `${v < 0 ? '-' : ''}1e${e}`;
    return v.toExponential(1).replace('e+', 'e');
  }
  if (a >= 1000) return `${Number((v / 1000).toPrecision(3))}k`;
  return String(Number(v.toPrecision(4)));
}

interface Axis {
  lo: number;
  hi: number;
  log: boolean;
  ticks: number[];
}

function axis(values: number[], log: boolean, fixedLo?: number, fixedHi?: number): Axis {
  const ok = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  let lo = fixedLo ?? (ok.length ? Math.min(...ok) : log ? 0.1 : 0);
  let hi = fixedHi ?? (ok.length ? Math.max(...ok) : log ? 10 : 1);
  if (log) {
    if (!(lo > 0)) lo = hi > 0 ? hi / 10 : 0.1;
    if (!(hi > lo)) hi = lo * 10;
    if (fixedLo === undefined) lo = 10 ** Math.floor(Math.log10(lo) + 1e-9);
    if (fixedHi === undefined) hi = 10 ** Math.ceil(Math.log10(hi) - 1e-9);
    if (hi <= lo) hi = lo * 10;
    return { lo, hi, log, ticks: logTicks(lo, hi) };
  }
  if (hi === lo) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= d;
    hi += d;
  }
  const ticks0 = niceTicks(lo, hi, 5);
  const step = ticks0.length > 1 ? ticks0[1] - ticks0[0] : (hi - lo) / 5;
  // extend the range to whole ticks unless fixed
  if (fixedLo === undefined) lo = Math.min(lo, Math.floor(lo / step + 1e-9) * step);
  if (fixedHi === undefined) hi = Math.max(hi, Math.ceil(hi / step - 1e-9) * step);
  return { lo, hi, log, ticks: niceTicks(lo, hi, 5) };
}

function scale(a: Axis, v: number, p0: number, p1: number): number {
  const t = a.log ? (Math.log10(v) - Math.log10(a.lo)) / (Math.log10(a.hi) - Math.log10(a.lo)) : (v - a.lo) / (a.hi - a.lo);
  return p0 + t * (p1 - p0);
}

function checkSeries(series: Series[]): void {
  if (!Array.isArray(series)) throw new TypeError('lineChart: series must be an array');
  series.forEach((s, i) => {
    if (typeof s?.name !== 'string') throw new TypeError(`lineChart: series[${i}].name must be a string`);
    if (!s.y || typeof s.y.length !== 'number') throw new TypeError(`lineChart: series[${i}].y must be an array of numbers`);
    if (s.x && s.x.length !== s.y.length) throw new RangeError(`lineChart: series[${i}] ('${s.name}'): x has ${s.x.length} values, y has ${s.y.length}`);
  });
}

/**
 * Clips the segment a→b to the rectangle [xa, xb] × [ya, yb] (Liang–Barsky); null when it lies outside.
 * Lines are clipped here rather than with an SVG clipPath, which some renderers mishandle.
 */
function clipSegment(a: [number, number], b: [number, number], xa: number, xb: number, ya: number, yb: number): [[number, number], [number, number]] | null {
  let t0 = 0,
    t1 = 1;
  const dx = b[0] - a[0],
    dy = b[1] - a[1];
  const edges: Array<[number, number]> = [
    [-dx, a[0] - xa],
    [dx, xb - a[0]],
    [-dy, a[1] - ya],
    [dy, yb - a[1]],
  ];
  for (const [pp, q] of edges) {
    if (pp === 0) {
      if (q < 0) return null;
    } else {
      const r = q / pp;
      if (pp < 0) {
        if (r > t1) return null;
        if (r > t0) t0 = r;
      } else {
        if (r < t0) return null;
        if (r < t1) t1 = r;
      }
    }
  }
  return [
    [a[0] + t0 * dx, a[1] + t0 * dy],
    [a[0] + t1 * dx, a[1] + t1 * dy],
  ];
}

/**
 * The body of one chart (no <svg> wrapper) in a width × height box at (ox, oy), in absolute coordinates.
 * (~100 lines on purpose: ranges, axes, ticks, lines and legend share one coordinate mapping, laid out
 * in the order they are drawn.)
 */
function chartBody(series: Series[], o: ChartOptions, width: number, height: number, ox = 0, oy = 0): string {
  checkSeries(series);
  const logX = !!o.logX,
    logY = !!o.logY;
  const xs: number[] = [],
    ys: number[] = [];
  for (const s of series) {
    for (let i = 0; i < s.y.length; i++) {
      const x = s.x ? s.x[i] : i;
      const y = s.y[i];
      if (Number.isFinite(x) && Number.isFinite(y) && (!logX || x > 0) && (!logY || y > 0)) {
        xs.push(x);
        ys.push(y);
      }
    }
  }
  const ax = axis(xs, logX, o.xMin, o.xMax);
  if (!logX && o.xMin === undefined && xs.length && Math.min(...xs) >= 0) ax.lo = Math.max(ax.lo, 0);
  const ay = axis(ys, logY, o.yMin, o.yMax);
  const left = 64,
    right = 16,
    top = o.title ? 34 : 14,
    bottom = o.xLabel ? 50 : 34;
  const legendH = series.length ? 18 * series.length + 8 : 0;
  const x0 = ox + left,
    x1 = ox + width - right,
    y0 = oy + height - bottom,
    y1 = oy + top;
  const out: string[] = [];
  out.push(`<rect x="${ox}" y="${oy}" width="${width}" height="${height}" fill="#ffffff"/>`);
  if (o.title) out.push(`<text x="${num(ox + width / 2)}" y="${oy + 20}" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(o.title)}</text>`);
  // grid and ticks
  for (const t of ay.ticks) {
    if (t < ay.lo - 1e-12 * Math.abs(ay.lo) || t > ay.hi + 1e-12 * Math.abs(ay.hi)) continue;
    const y = scale(ay, t, y0, y1);
    out.push(`<line x1="${x0}" y1="${num(y)}" x2="${x1}" y2="${num(y)}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${x0 - 6}" y="${num(y + 4)}" text-anchor="end" font-size="11">${escapeXml(tickLabel(t, logY))}</text>`);
  }
  for (const t of ax.ticks) {
    if (t < ax.lo - 1e-12 * Math.abs(ax.lo) || t > ax.hi + 1e-12 * Math.abs(ax.hi)) continue;
    const x = scale(ax, t, x0, x1);
    out.push(`<line x1="${num(x)}" y1="${y0}" x2="${num(x)}" y2="${y1}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${num(x)}" y="${y0 + 16}" text-anchor="middle" font-size="11">${escapeXml(tickLabel(t, logX))}</text>`);
  }
  out.push(`<line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}" stroke="#333333"/>`);
  out.push(`<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}" stroke="#333333"/>`);
  if (o.xLabel) out.push(`<text x="${num((x0 + x1) / 2)}" y="${oy + height - 12}" text-anchor="middle" font-size="12">${escapeXml(o.xLabel)}</text>`);
  if (o.yLabel) {
    const lx = ox + 14,
      ly = num((y0 + y1) / 2);
    out.push(`<text x="0" y="0" text-anchor="middle" font-size="12" transform="translate(${lx} ${ly}) rotate(-90)">${escapeXml(o.yLabel)}</text>`);
  }
  // lines, clipped to the plot area
  series.forEach((s, si) => {
    const color = s.color ?? PALETTE[si % PALETTE.length];
    const parts: string[] = [];
    let prev: [number, number] | null = null; // the previous point (pixels), null after a gap
    let pen: [number, number] | null = null; // where the pen is (pixels), null when lifted
    const moveOrLine = (p: [number, number], draw: boolean) => {
      parts.push(`${draw ? 'L' : 'M'}${num(p[0])} ${num(p[1])}`);
      pen = p;
    };
    for (let i = 0; i < s.y.length; i++) {
      const x = s.x ? s.x[i] : i;
      const y = s.y[i];
      if (!Number.isFinite(x) || !Number.isFinite(y) || (logX && x <= 0) || (logY && y <= 0)) {
        prev = pen = null;
        continue;
      }
      const p: [number, number] = [scale(ax, x, x0, x1), scale(ay, y, y0, y1)];
      if (prev === null) {
        if (p[0] >= x0 && p[0] <= x1 && p[1] >= y1 && p[1] <= y0) moveOrLine(p, false);
        else pen = null;
      } else {
        const seg = clipSegment(prev, p, x0, x1, y1, y0);
        if (seg === null) pen = null;
        else {
          const [a, b] = seg;
          const pn = pen as [number, number] | null;
          if (pn === null || Math.abs(pn[0] - a[0]) > 1e-6 || Math.abs(pn[1] - a[1]) > 1e-6) moveOrLine(a, false);
          moveOrLine(b, true);
          if (b[0] !== p[0] || b[1] !== p[1]) pen = null; // left the plot area
        }
      }
      prev = p;
    }
    const dash = s.dash ? ' stroke-dasharray="6 4"' : '';
    if (parts.length)
      out.push(`<path d="${parts.join('')}" fill="none" stroke="${escapeXml(color)}" stroke-width="1.8"${dash}><title>${escapeXml(s.name)}</title></path>`);
  });
  // legend, top right inside the plot area
  if (series.length) {
    const lw = Math.min(x1 - x0 - 8, 24 + 7 * Math.max(...series.map((s) => s.name.length)));
    const lx = x1 - lw - 6,
      ly = y1 + 6;
    out.push(`<rect x="${num(lx)}" y="${ly}" width="${num(lw)}" height="${legendH}" fill="#ffffff" fill-opacity="0.85" stroke="#cccccc"/>`);
    series.forEach((s, si) => {
      const color = s.color ?? PALETTE[si % PALETTE.length];
      const y = ly + 14 + 18 * si;
      const dash = s.dash ? ' stroke-dasharray="6 4"' : '';
      out.push(`<line x1="${num(lx + 6)}" y1="${y - 4}" x2="${num(lx + 22)}" y2="${y - 4}" stroke="${escapeXml(color)}" stroke-width="2"${dash}/>`);
      out.push(`<text x="${num(lx + 26)}" y="${y}" font-size="11">${escapeXml(s.name)}</text>`);
    });
  }
  return out.join('\n');
}

function dims(o: ChartOptions): [number, number] {
  const w = o.width ?? 640,
    h = o.height ?? 400;
  if (!(w >= 100 && h >= 80 && Number.isFinite(w) && Number.isFinite(h)))
    throw new RangeError(`lineChart: width × height must be at least 100 × 80, got ${w} × ${h}`);
  return [w, h];
}

const HEAD = (w: number, h: number) => `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">`;

/** One line chart as a standalone SVG document. */
export function lineChart(series: Series[], options: ChartOptions = {}): string {
  const [w, h] = dims(options);
  return `${HEAD(w, h)}\n${chartBody(series, options, w, h)}\n</svg>\n`;
}

/** Several charts in a grid (default: all in one row), optionally under a common title, as one SVG. */
export function lineCharts(panels: Panel[], layout: { columns?: number; title?: string } = {}): string {
  if (!Array.isArray(panels) || panels.length === 0) throw new RangeError('lineCharts: panels must be a non-empty array');
  const cols = Math.max(1, Math.min(layout.columns ?? panels.length, panels.length));
  const sizes = panels.map((p) => dims(p.options ?? {}));
  const cw = Math.max(...sizes.map((s) => s[0])),
    ch = Math.max(...sizes.map((s) => s[1]));
  const rows = Math.ceil(panels.length / cols);
  const top = layout.title ? 30 : 0;
  const W = cols * cw,
    H = rows * ch + top;
  const out = [HEAD(W, H), `<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`];
  if (layout.title) out.push(`<text x="${W / 2}" y="21" text-anchor="middle" font-size="17" font-weight="bold">${escapeXml(layout.title)}</text>`);
  panels.forEach((p, i) => {
    const [w, h] = sizes[i];
    out.push(chartBody(p.series, p.options ?? {}, w, h, (i % cols) * cw, top + Math.floor(i / cols) * ch));
  });
  out.push('</svg>\n');
  return out.join('\n');
}

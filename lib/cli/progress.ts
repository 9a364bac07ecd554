// A one-line progress bar for the CLI that degrades to plain lines when the stream is not a terminal.
//
//   const bar = new Progress({ stream: process.stdout });
//   bar.update(done, total, 'epoch 3/20', { loss: '0.1234', acc: '97.1%' });  // redraws in place (TTY only, ≤ 10/s)
//   bar.line('epoch 3/20  loss 0.1234 …');   // a permanent line: above the bar on a TTY, a plain line otherwise
//   bar.done();                              // clears the bar
//
// On a TTY the bar is `label [#######.......]  45%  key value  key value`, cut to the terminal's width.
// Not on a TTY (a pipe, a file, CI) update() prints nothing and line() prints its text: logs stay clean.
//
// By hand, not cli-progress: the bar must share the terminal with permanent per-epoch lines written
// above it (line()), stay silent but keep those lines when the output is a pipe or a file, and cut
// itself to the terminal's width; with cli-progress that takes a MultiBar plus a logger and a TTY check
// around it, more code than these 80 lines, which the tests drive through a fake stream.

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Where to draw. Default process.stdout. */
  stream?: ProgressStream;
  /** Force the TTY (true) or plain (false) behaviour. Default: stream.isTTY. */
  tty?: boolean;
  /** Cells of the bar itself. Default 24. */
  barWidth?: number;
  /** Minimum milliseconds between redraws. Default 100. */
  interval?: number;
  /** Clock, for tests. Default performance.now. */
  now?: () => number;
}

/** `label [####....]  45%  k v  k v` (no colours). */
export function formatBar(done: number, total: number, label: string, fields: Record<string, string>, barWidth = 24): string {
  const f = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.round(f * barWidth);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]`;
  const pct = `${Math.floor(f * 100)}%`.padStart(4);
  const kv = Object.entries(fields)
    .map(([k, v]) => `${k} ${v}`)
    .join('  ');
  return `${label ? `${label} ` : ''}${bar} ${pct}${kv ? `  ${kv}` : ''}`;
}

export class Progress {
  readonly tty: boolean;
  private readonly stream: ProgressStream;
  private readonly barWidth: number;
  private readonly interval: number;
  private readonly now: () => number;
  private shown = ''; // the bar currently on screen ('' when none)
  private last = -Infinity;

  constructor(options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stdout;
    this.tty = options.tty ?? !!this.stream.isTTY;
    this.barWidth = options.barWidth ?? 24;
    this.interval = options.interval ?? 100;
    this.now = options.now ?? (() => performance.now());
  }

  /** Redraws the bar (TTY only; at most once per `interval` ms unless done === total). */
  update(done: number, total: number, label: string, fields: Record<string, string> = {}): void {
    if (!this.tty) return;
    const t = this.now();
    if (done < total && t - this.last < this.interval) return;
    this.last = t;
    const cols = this.stream.columns && this.stream.columns > 20 ? this.stream.columns - 1 : 100;
    const text = formatBar(done, total, label, fields, this.barWidth).slice(0, cols);
    this.stream.write(`\r${text}\x1b[K`);
    this.shown = text;
  }

  /** A permanent line of output (the bar, if any, is cleared first and redrawn by the next update). */
  line(text: string): void {
    if (this.tty && this.shown) {
      this.stream.write('\r\x1b[K');
      this.shown = '';
      this.last = -Infinity;
    }
    this.stream.write(`${text}\n`);
  }

  /** Clears the bar (TTY). */
  done(): void {
    if (this.tty && this.shown) this.stream.write('\r\x1b[K');
    this.shown = '';
  }
}

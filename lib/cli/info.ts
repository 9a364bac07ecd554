// natgrad info — which backend runs the kernels, and why; which of them give the same bits for any
// thread count; the memory a call may allocate.
import { backend, memoryInfo } from '../native';
import { helpText, type OptionSpec, parseArgs } from './args';

const INFO_USAGE = 'usage: natgrad info';
const SPEC: Record<string, OptionSpec> = { help: { kind: 'flag', help: 'this help' } };

const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`;

export function info(argv: string[]): number {
  if (parseArgs('info', argv, SPEC, INFO_USAGE).help) {
    console.log(helpText(INFO_USAGE, SPEC, 5));
    return 0;
  }
  const b = backend();
  console.log(`natgrad backend: ${b.name}`);
  console.log(`  blas:    ${b.blas}`);
  console.log(`  threads: ${b.threads}`);
  if (b.device) console.log(`  device:  ${b.device}`);
  console.log(`  why:     ${b.reason}`);
  if (b.kernels) console.log(`  kernels: ${b.kernels}`);
  if (b.cpu) {
    const c = b.cpu;
    console.log(`  cpu:     ${c.isa} CPU; OpenBLAS runs its ${c.openblasCore} (${c.openblasIsa}) kernels; natgrad's micro-kernel: ${c.microKernel}`);
    console.log(
      `  path:    gemm: ${c.gemm === 'natgrad' ? "natgrad's" : "OpenBLAS's"}, float32 Cholesky: ${c.cholesky === 'natgrad' ? "natgrad's" : "OpenBLAS's"} — ${c.why}`
    );
    console.log(`  OpenBLAS's idle threads: ${c.parking} (${c.parks} parks so far)`);
  }
  console.log(
    `  same bits for any thread count: ${b.threadIndependent.length ? b.threadIndependent.join(', ') : 'none'} (every kernel: the same bits run to run)`
  );
  const m = memoryInfo();
  console.log(
    `  memory:  ${gb(m.available)} available to a call (${m.source}${m.limit !== null ? `; capped at ${gb(m.limit)} by NATGRAD_MAX_MEMORY / setMemoryLimit()` : ''})`
  );
  if (b.note) console.log(`  note:    ${b.note}`);
  console.log(`  addon:   ${b.addon}`);
  return 0;
}

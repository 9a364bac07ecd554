// Loads the native addon and selects its backend.
// Order: $NATGRAD_ADDON (an explicit .node file), then node-gyp-build, which
// tries a local build (build/Release) and then the prebuilt binary in
// prebuilds/<platform>-<arch>/ whose tags fit (natgrad.glibc.node: Node-API, glibc).
// A failure throws one error that lists what was tried and what to install.
import * as path from 'node:path';
import type { Floats } from './util/floats';

/** What `backend()` reports. */
export interface BackendInfo {
  /** 'cpu' (OpenBLAS) or 'cuda'. */
  name: 'cpu' | 'cuda';
  /** e.g. 'OpenBLAS 0.3.21 Cooperlake' — the BLAS and the kernel set it chose for this CPU. */
  blas: string;
  /**
   * Threads of this environment's CPU calls (NATGRAD_THREADS, setThreads(), or OpenBLAS's default).
   * Per environment: a Worker's setThreads() leaves the main thread's (and other Workers') as they are.
   */
  threads: number;
  /** GPU name for cuda, '' for cpu. */
  device: string;
  /** Why this backend was chosen, and why CUDA is not in use when it is not. */
  reason: string;
  /** Advice about this machine ('' when none), e.g. an unrecognised CPU. */
  note: string;
  /** Which code runs the fused kernels (cpu: natgrad's own gemm_nt or OpenBLAS; see NATGRAD_CPU_GEMM). */
  kernels: string;
  /**
   * The reproducibility contract. Every kernel gives the same bits run to run at a fixed thread count
   * (and in its sync and Promise forms). The kernels listed here ('gemm', 'gram', 'layerGram', 'layerGramSum',
   * 'choleskySolve float32') also give the same bits for any thread count: those that natgrad's own
   * CPU kernels run on this machine (see `kernels` and NATGRAD_CPU_GEMM). Empty on cuda.
   */
  threadIndependent: string[];
  /** cpu: which code runs on this CPU and why (null on cuda). */
  cpu: CpuPath | null;
  /** The .node file that was loaded. */
  addon: string;
}

/** A vector instruction level: of this CPU, or of the kernel set OpenBLAS runs. */
export type IsaLevel = 'AVX-512' | 'AVX2' | 'AVX' | 'SSE' | 'other';

/**
 * Which code runs the CPU backend's products on this machine (NATGRAD_CPU_GEMM, `natgrad info`).
 * OpenBLAS picks its kernel set from the CPU model when it loads; a model newer than the library runs an
 * older set (an AVX2 or AVX-512 CPU as "Prescott", SSE3). natgrad then runs gemm and the float32
 * Cholesky on its own micro-kernel for the CPU's level, wherever that was measured faster.
 */
export interface CpuPath {
  /** This CPU's level ('other': not x86-64). */
  isa: IsaLevel;
  /** openblas_get_corename(), e.g. 'SkylakeX', 'Haswell', 'Prescott'. */
  openblasCore: string;
  /** That kernel set's level ('other': a name natgrad's table does not know, taken to match the CPU). */
  openblasIsa: IsaLevel;
  /** natgrad's micro-kernel: layerGram and layerGramSum always run on it. */
  microKernel: 'avx512' | 'avx2' | 'portable';
  /** Who runs gemm and gram (one rule for both products), and the float32 Cholesky of choleskySolve. */
  gemm: 'natgrad' | 'openblas';
  cholesky: 'natgrad' | 'openblas';
  /** One sentence: what runs and the measurement behind it (or the NATGRAD_CPU_GEMM override). */
  why: string;
  /**
   * What natgrad does about OpenBLAS's idle threads, which spin after a call and would take a core from
   * natgrad's own parallel regions: 'short timeout (…)' (the default: they sleep ~0.4 ms after a call),
   * 'blas_thread_shutdown_' (parked before natgrad's regions: where the user set OPENBLAS_THREAD_TIMEOUT),
   * 'off (NATGRAD_PARK_OPENBLAS=0)' or 'unavailable (…)'.
   */
  parking: string;
  /** Times they were parked in this process so far. */
  parks: number;
}

export type Precision = 'float32' | 'float64';

/**
 * The arrays a kernel works on: every array of one call is a Float32Array, or (gemm, gram, layerGram,
 * layerGramSum, choleskySolve, pinvSolve) every one a Float64Array — the float64 forms, which run on
 * the CPU (OpenBLAS's d* routines and LAPACK's) on every backend.
 */
export type { Floats };

/** What `memoryInfo()` reports: the memory a natgrad call or step may allocate now. */
export interface MemoryInfo {
  /** Bytes a call may allocate now: min(system, limit). */
  available: number;
  /** Free memory of the machine, or of the cgroup (container) when it has a limit. */
  system: number;
  /** The cap set by NATGRAD_MAX_MEMORY or setMemoryLimit() (bytes), null when none. */
  limit: number | null;
  /** Where `system` comes from, e.g. 'cgroup v2 memory.max …' or '/proc/meminfo MemAvailable'. */
  source: string;
}

/**
 * Each native kernel's positional parameters and result, declared once: the addon's sync and Promise
 * forms (NativeAddon), the task driver's calls (task.ts) and the check against the names the addon
 * registers (`kernelArguments`, test/native_table.test.ts) all follow from this table.
 */
export interface KernelSignatures {
  gemm: [
    args: [transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number, A: Floats, B: Floats, beta: number, C: Floats | null],
    result: Floats,
  ];
  gram: [args: [J: Floats, P: number, M: number, samplesMajor: boolean, accumulate: boolean, K: Floats | null], result: Floats];
  layerGram: [args: [B: Floats, A: Floats, N: number, k: number, widthOut: number, widthIn: number, K: Floats], result: Floats];
  layerGramSum: [args: [bs: readonly Floats[], as: readonly Floats[], N: number, k: number, K: Floats | null], result: Floats];
  choleskySolve: [args: [K: Floats, M: number, R: Floats, nrhs: number, damping: number, precision: Precision, X: Floats | null], result: Floats];
  pinvSolve: [
    args: [K: Floats, M: number, R: Floats, nrhs: number, damping: number, rcond: number, precision: Precision, X: Floats | null],
    /** the rank; { x, rank } when X was null (the addon allocated it) */
    result: number | { x: Floats; rank: number },
  ];
  batchedGramInverse: [args: [G: Float32Array, batch: number, rows: number, k: number, damping: number, out: Float32Array | null], result: Float32Array];
  exactStep: [
    args: [
      layers: readonly number[],
      family: DeviceFamily,
      theta: Float32Array,
      x: Float32Array,
      y: Float32Array,
      N: number,
      damping: number,
      rcond: number,
      lr: number,
      direction: Float32Array | null,
    ],
    result: DeviceStepResult,
  ];
  activationForward: [args: [kind: ActivationKind, z: Floats, n: number, a: Floats | null], result: Floats];
  activationBackward: [args: [kind: ActivationKind, z: Floats, N: number, r: number, width: number, b: Floats], result: Floats];
  rowsContract: [args: [B: Floats, c: Float64Array, N: number, r: number, width: number, Bc: Floats | null, sum: Float64Array], result: Floats];
  rowsDot: [args: [B: Floats, Z: Floats, N: number, r: number, width: number, out: Float64Array], result: Float64Array];
  allFinite: [args: [x: Floats, length: number], result: true];
  im2col: [args: [x: Floats, n: number, geometry: ConvGeometry, cols: Floats | null], result: Floats];
  conv2dInputSeeds: [args: [w: Floats, dy: Floats, rows: number, outChannels: number, geometry: ConvGeometry, dx: Floats | null], result: Floats];
  conv2dForward: [args: [cols: Floats, theta: Floats, n: number, outChannels: number, geometry: ConvGeometry, y: Floats | null], result: Floats];
  conv2dGradients: [args: [dy: Floats, cols: Floats, n: number, r: number, outChannels: number, geometry: ConvGeometry, grads: Floats | null], result: Floats];
  pool2dForward: [args: [mode: 'max' | 'avg', x: Floats, n: number, shape: PoolShape, y: Floats | null], result: Floats];
  pool2dBackward: [args: [mode: 'max' | 'avg', x: Floats, dy: Floats, n: number, r: number, shape: PoolShape, dx: Floats | null], result: Floats];
}

/** A pooling layer's input shape and window for pool2dForward/pool2dBackward: [C, H, W, k] (stride k). */
export type PoolShape = readonly [c: number, h: number, w: number, k: number];

/** A conv2d layer's input geometry for im2col and the other conv2d kernels: [C, H, W, kh, kw, stride, padding]. */
export type ConvGeometry = readonly [c: number, h: number, w: number, kh: number, kw: number, stride: number, padding: number];

/** The activations whose elementwise passes run natively (lib/nn/layers.ts names them the same). */
export type ActivationKind = 'tanh' | 'relu' | 'sigmoid' | 'softplus' | 'gelu';

/** The output families the one-call exact step (`exactStep`) computes natively. */
export type DeviceFamily = 'gaussian' | 'categorical' | 'bernoulli';

/** What the one-call exact step (`exactStep`: on the GPU, or on the CPU backend's kernels) returns. */
export interface DeviceStepResult {
  /** n_θ [P], laid out like the parameters. */
  direction: Float32Array;
  /** Mean loss at θ. */
  loss: number;
  /** Mean loss at θ − lr·n (NaN when lr = 0). */
  trialLoss: number;
  /** gᵀn and nᵀF_θn, the two numbers of the local quadratic model. */
  gn: number;
  nFn: number;
  /** Eigenvalues kept by the pseudo-inverse at λ = 0; −1 when Cholesky ran. */
  rank: number;
  /** Device time of each stage (CUDA events), ms. */
  deviceMs: { upload: number; forward: number; backprop: number; kernel: number; solve: number; update: number };
}
export type KernelName = keyof KernelSignatures;

/** The parameter count of each kernel, as the type above declares it (held against the addon's list by a test). */
export const KERNEL_ARITY: { readonly [K in KernelName]: KernelSignatures[K][0]['length'] } = {
  gemm: 10,
  gram: 6,
  layerGram: 7,
  layerGramSum: 5,
  choleskySolve: 7,
  pinvSolve: 8,
  batchedGramInverse: 6,
  exactStep: 10,
  activationForward: 4,
  activationBackward: 6,
  rowsContract: 7,
  rowsDot: 6,
  allFinite: 2,
  im2col: 4,
  conv2dInputSeeds: 6,
  conv2dForward: 6,
  conv2dGradients: 7,
  pool2dForward: 5,
  pool2dBackward: 7,
};

type KernelFunctions = { [K in KernelName]: (...args: KernelSignatures[K][0]) => KernelSignatures[K][1] } & {
  [K in KernelName as `${K}Async`]: (...args: KernelSignatures[K][0]) => Promise<KernelSignatures[K][1]>;
};

/** The raw addon: positional arguments, checked natively. Use lib/linalg.ts instead. */
export interface NativeAddon extends KernelFunctions {
  /** Each kernel's parameter names in order, as native/addon.cc declares them (Job::kParams). */
  kernelArguments: { [K in KernelName]: string[] };
  backendInfo(): Omit<BackendInfo, 'addon'>;
  selectBackend(name: 'auto' | 'cpu' | 'cuda'): Omit<BackendInfo, 'addon'>;
  setThreads(n: number): Omit<BackendInfo, 'addon'>;
  memoryInfo(): MemoryInfo & { limitInvalid: boolean };
  setMemoryLimit(bytes: number | null): MemoryInfo & { limitInvalid: boolean };
  requireMemory(fn: string, bytes: number, what: string, limit?: number): void;
  workBytes(kernel: 'layerGramSum', widthsOut: readonly number[], n: number, k: number, dtype?: 'float64'): number;
  workBytes(kernel: 'choleskySolve' | 'pinvSolve', m: number, nrhs: number, precision: Precision): number;
  /**
   * maxOrder: the largest M of an M × M matrix (M² ≤ 2³¹ − 1); maxEigenOrder: pinvSolve's (syevd's
   * workspace); checkBytes: requests below this many bytes are never refused for memory (native/memory.h).
   */
  limits: { maxOrder: number; maxEigenOrder: number; checkBytes: number };
  /** The auto rule of NATGRAD_CPU_GEMM for any CPU level and OpenBLAS core (native/cpu/gemm_nt.h). */
  cpuPathRule(cpuIsa: IsaLevel, openblasCore: string): { gemm: 'natgrad' | 'openblas'; cholesky: 'natgrad' | 'openblas'; why: string };
  napiVersion: number;
}

/** The package root: lib/ and dist/ both sit one level below it. */
export const packageRoot = path.resolve(__dirname, '..');

function loadAddon(): { addon: NativeAddon; file: string } {
  const tried: string[] = [];
  const explicit = process.env.NATGRAD_ADDON;
  if (explicit) {
    const file = path.resolve(explicit);
    try {
      return { addon: require(file) as NativeAddon, file };
    } catch (e) {
      throw loadError([`NATGRAD_ADDON=${file}: ${(e as Error).message}`]);
    }
  }
  // node-gyp-build resolves build/Release first, then prebuilds/<platform>-<arch>/.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
  let file: string;
  try {
    file = nodeGypBuild.path(packageRoot);
  } catch (e) {
    tried.push(`node-gyp-build(${packageRoot}): ${(e as Error).message.split('\n')[0]}`);
    throw loadError(tried);
  }
  try {
    return { addon: require(file) as NativeAddon, file };
  } catch (e) {
    tried.push(`${file}: ${(e as Error).message.split('\n')[0]}`);
    throw loadError(tried);
  }
}

/** Alpine and other musl systems: node-gyp-build's test (the glibc prebuilds do not load there). */
function isMusl(): boolean {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return !report?.header?.glibcVersionRuntime;
}

function loadError(tried: string[]): Error {
  const err = new Error(
    'natgrad: could not load the native addon.\n' +
      tried.map((t) => `  tried ${t}\n`).join('') +
      `  Prebuilt binaries: linux-x64 and linux-arm64 with glibc ≥ 2.31 (this is ${process.platform}-${process.arch}` +
      `${process.platform === 'linux' ? (isMusl() ? ', musl' : ', glibc') : ''}).\n` +
      '  Elsewhere natgrad builds from source at install: install a compiler and OpenBLAS, then npm rebuild natgrad:\n' +
      '    Debian/Ubuntu:  sudo apt-get install -y build-essential python3 libopenblas-dev\n' +
      '    Fedora/RHEL:    sudo dnf install -y gcc-c++ make python3 openblas-devel\n' +
      '    Alpine:         apk add build-base python3 openblas-dev\n' +
      '    macOS:          xcode-select --install && brew install openblas\n' +
      '  (NATGRAD_ADDON=/path/to/natgrad.node loads a specific build.)'
  ) as Error & { code: string };
  err.code = 'ERR_NATGRAD_LOAD';
  return err;
}

const loaded = loadAddon();
export const native: NativeAddon = loaded.addon;
export const addonFile: string = loaded.file;

// Backend and threads, from the environment.
const wanted = (process.env.NATGRAD_BACKEND ?? 'auto').toLowerCase();
if (wanted !== 'auto' && wanted !== 'cpu' && wanted !== 'cuda') {
  throw Object.assign(new Error(`natgrad: NATGRAD_BACKEND must be auto, cpu or cuda, got '${process.env.NATGRAD_BACKEND}'`), {
    code: 'ERR_INVALID_ARG_VALUE',
  });
}
native.selectBackend(wanted);
const threadsEnv = process.env.NATGRAD_THREADS;
if (threadsEnv !== undefined && threadsEnv !== '') {
  const n = Number(threadsEnv);
  if (!Number.isInteger(n) || n < 1) {
    throw Object.assign(new Error(`natgrad: NATGRAD_THREADS must be a positive integer, got '${threadsEnv}'`), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
  }
  native.setThreads(n);
}
if (native.memoryInfo().limitInvalid) {
  throw Object.assign(
    new Error(
      `natgrad: NATGRAD_MAX_MEMORY must be a size in bytes, optionally with a K, M, G or T suffix (powers of 1024), got '${process.env.NATGRAD_MAX_MEMORY}'`
    ),
    { code: 'ERR_INVALID_ARG_VALUE' }
  );
}

/** Which backend runs the kernels, and why. */
export function backend(): BackendInfo {
  return { ...native.backendInfo(), addon: addonFile } as BackendInfo;
}

/**
 * Sets the threads of this environment's CPU calls: natgrad's worker pool and OpenBLAS (same as
 * NATGRAD_THREADS). Per environment: a Worker's setThreads() does not change the main thread's calls.
 */
export function setThreads(n: number): BackendInfo {
  native.setThreads(n);
  return backend();
}

/**
 * The memory a call may allocate now. Every kernel and optimizer step compares the bytes it will
 * allocate (outputs, work buffers, LAPACK workspace, float64 copies) with `available` before
 * allocating, and throws ERR_OUT_OF_MEMORY (with `bytesNeeded`, `bytesAvailable`) when they do not fit.
 */
export function memoryInfo(): MemoryInfo {
  const { limitInvalid: _, ...m } = native.memoryInfo();
  return m;
}

/** Caps what one call or step of this environment may allocate (bytes; null: no cap). Same as NATGRAD_MAX_MEMORY. */
export function setMemoryLimit(bytes: number | null): MemoryInfo {
  const { limitInvalid: _, ...m } = native.setMemoryLimit(bytes);
  return m;
}

/**
 * Throws ERR_OUT_OF_MEMORY (naming `what` and the bytes) when `bytes` do not fit in memoryInfo().available,
 * or under `limit` (an optimizer's maxMemory) when that is smaller.
 */
export function requireMemory(fn: string, bytes: number, what: string, limit?: number): void {
  native.requireMemory(fn, bytes, what, limit);
}

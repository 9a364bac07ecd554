// Whether an exact step fits: the 32-bit limits of BLAS/LAPACK and the memory it will allocate,
// checked before anything of the step is computed.
import { native, requireMemory } from '../native';
import type { Sequential } from '../nn/sequential';
import type { StepBatch } from './batch';
import type { ExactConfig, Workspace } from './exact_config';

/**
 * The bytes a step allocates from here on, all resident at once, checked against the memory available
 * (ERR_OUT_OF_MEMORY naming them) before the first of them is allocated:
 *   kernel space, layer:  K M² (unless the workspace holds it) + layerGramSum's work + the solve's work
 *   dense / parameter:    S P·M + K (M² or P²) + the solve's work
 * with M = N·r, 4 bytes a float; the kernels' work buffers as the addon counts them (workBytes: the
 * Cholesky's factor, or at λ = 0 the eigendecomposition). stepAsync's kernel calls work on private
 * copies of the kernel (+4M² or 4P²). The Cholesky's rare pinv fallback is checked when it happens (solve()).
 */
export function exactMemoryBytes(model: Sequential, n: number, r: number, space: 'kernel' | 'parameter', cfg: ExactConfig, ws: Workspace, promiseForm = false) {
  const m = n * r,
    p = model.numParameters;
  const size = space === 'kernel' ? m : p;
  const parts: [string, number][] = [];
  if (space === 'kernel' && cfg.assembly === 'layer') {
    if (ws.kernel?.length !== m * m) parts.push([`kernel ${m}×${m}`, 4 * m * m]);
    parts.push([
      `layer kernel work`,
      native.workBytes(
        'layerGramSum',
        model.slots.map(({ layer }) => layer.outFeatures),
        n,
        r
      ),
    ]);
  } else {
    parts.push([`S ${p}×${m}`, 4 * p * m], [`kernel ${size}×${size}`, 4 * size * size]);
  }
  if (cfg.damping === 0) parts.push([`${cfg.precision} eigendecomposition`, native.workBytes('pinvSolve', size, 1, cfg.precision)]);
  else parts.push([`${cfg.precision} Cholesky factor`, native.workBytes('choleskySolve', size, 1, cfg.precision)]);
  if (promiseForm) parts.push(["the Promise form's copy of the kernel", 4 * size * size]);
  return { bytes: parts.reduce((acc, [, b]) => acc + b, 0), parts };
}

const INT32_MAX = 2 ** 31 - 1;

/**
 * Before anything of an exact step is computed (its forward pass and backpropagation take seconds at
 * N = 46,000): ERR_OUT_OF_RANGE past the 32-bit limit, ERR_OUT_OF_MEMORY when exactMemoryBytes() do
 * not fit. r is the output family's Fisher rank, known before the forward pass.
 */
export function checkExactSize(batch: StepBatch, cfg: ExactConfig, ws: Workspace, promiseForm = false): void {
  const { fn, model, family: fam, n } = batch;
  const r = fam.rank(model.outDim),
    p = model.numParameters,
    m = n * r;
  const space = cfg.space === 'auto' ? (p < m ? 'parameter' : 'kernel') : cfg.space;
  const size = space === 'kernel' ? m : p;
  // BLAS and LAPACK index a matrix with 32-bit integers; at λ = 0 syevd's workspace must fit one too
  const limit = cfg.damping === 0 ? native.limits.maxEigenOrder : native.limits.maxOrder;
  const range = (msg: string) => Object.assign(new RangeError(`${fn}: ${msg}`), { code: 'ERR_OUT_OF_RANGE' });
  if (size > limit) {
    const what = space === 'kernel' ? `N·r = ${n}·${r} = ${size}` : `P = ${size}`;
    const why =
      cfg.damping === 0
        ? `the λ = 0 eigendecomposition's limit of ${limit} (syevd's workspace in 32-bit integers)`
        : `the 32-bit BLAS/LAPACK limit of ${limit} (2³¹ − 1 elements)`;
    const advice =
      space === 'kernel' ? 'use smaller batches' + (p <= limit ? " or space: 'parameter' (P × P)" : '') : `use space: 'kernel' with N·r ≤ ${limit}`;
    throw range(`the ${space}-space system has order ${what}, past ${why}; ${advice}`);
  }
  if ((space === 'parameter' || cfg.assembly === 'dense') && p * m > INT32_MAX)
    throw range(
      `S [P, N·r] = [${p}, ${m}] has ${p * m} elements, past the 32-bit BLAS limit (2³¹ − 1); use smaller batches${space === 'kernel' ? " or assembly: 'layer'" : ''}`
    );
  const { bytes, parts } = exactMemoryBytes(model, n, r, space, cfg, ws, promiseForm);
  const text = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`);
  const what = `${space} space, N·r = ${n * r}, P = ${model.numParameters}: ${parts.map(([w, b]) => `${w} ${text(b)}`).join(', ')}`;
  requireMemory(fn, bytes, what, cfg.maxMemory);
}

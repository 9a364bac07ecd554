// Fuzzes the native boundary; run as a child process by test/fuzz.test.ts so that a
// crash cannot take the test runner down.
//   node --expose-gc test/fuzz-child.cjs <addon.node> <calls> <seed>
// Prints one JSON line (see `report` below).
//
// Every call is generated from a seeded PRNG: a valid call at small sizes (1–7; now and then
// choleskySolve with M in 65–104, the recursive float32 Cholesky, and layerGramSum with N·k > 96,
// several tiles on the worker pool), then
// possibly 1–3 arguments replaced by something else — wrong types, wrong lengths, sizes
// 0 and 2³¹ and 2³¹ − 1, products beyond 2³¹ − 1, NaN/±Inf in numbers and in arrays,
// alpha beyond float32, detached buffers, overlapping outputs, too few arguments; for
// layerGramSum's lists of layers: not an Array (a Proxy of one, an array-like, a Float32Array),
// no layers or more than 4096, bs and as of different lengths, a hole, a layer of the wrong type
// or length or detached or holding NaN/±Inf, K overlapping (or just touching) bs[l] or as[l] — or by
// an equally valid variant (offset subarray views with NaN sentinels around them, arrays
// on a SharedArrayBuffer or a resizable ArrayBuffer, a Float32Array subclass). Arrays
// are placed in those containers at random in valid calls too. Sync and Promise forms are
// mixed; while Promise-form calls are pending, JavaScript does what it may to their arrays:
// overwrites inputs (also with NaN), transfers inputs or outputs away (then runs the GC),
// shrinks resizable buffers, calls the same kernel on the same arrays synchronously, or
// starts a second Promise-form call on them.
//
// Every call is checked against an oracle written here, independently of the addon:
// - a JS mirror of the argument rules says whether the call is valid; an invalid one must
//   throw (sync) or reject (async) a TypeError/RangeError with code ERR_INVALID_ARG_TYPE /
//   ERR_OUT_OF_RANGE — when exactly one rule is broken, of the right class and naming the
//   argument;
// - a valid call with NaN/Inf in an array the kernel reads must fail with ERR_NON_FINITE
//   naming the first such argument (for layerGramSum 'bs[l]'/'as[l]') and the index in it;
// - otherwise the result must match a float64 reference (per-element bounds scaled by
//   float32 rounding and, for the solves, the condition number computed by a Jacobi
//   eigensolver here): gemm, gram (also exactly symmetric), layerGram, layerGramSum (also exactly
//   symmetric), choleskySolve (or
//   ERR_NOT_POSITIVE_DEFINITE exactly when K + λI is not positive definite), pinvSolve
//   (the rank too) and batchedGramInverse. Where the reference cannot decide (K + λI
//   within rounding of singular, an eigenvalue at the cutoff, a float32 overflow) any
//   documented outcome is accepted and counted as `undecided`;
// - nothing is written outside an output's view (sentinels checked), a sync call leaves
//   its inputs bit-identical, and a Promise-form call's result is the one for the inputs
//   as they were when it was called, or ERR_INVALID_STATE when its output lost its memory.
'use strict';
const addon = require(require('node:path').resolve(process.argv[2]));
const TOTAL = Number(process.argv[3] || 5000);
let seed = Number(process.argv[4] || 1) >>> 0;
const rand = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const int = (n) => Math.floor(rand() * n);
const choose = (a) => a[int(a.length)];
const EPS = 2 ** -23;
const FLT_MAX = 3.4028234663852886e38;
const INT32_MAX = 2147483647;
const hasGc = typeof global.gc === 'function';

// ---------------------------------------------------------------- the arguments
// kinds: b boolean, s size, f float32 scale (alpha, beta), d number ≥ 0, p precision, a Float32Array,
// l Array of Float32Arrays
const SPECS = {
  gemm: { kinds: 'bbsssfaafa', names: ['transA', 'transB', 'm', 'n', 'k', 'alpha', 'A', 'B', 'beta', 'C'], out: 9 },
  gram: { kinds: 'assbba', names: ['J', 'P', 'M', 'samplesMajor', 'accumulate', 'K'], out: 5 },
  layerGram: { kinds: 'aassssa', names: ['B', 'A', 'N', 'k', 'widthOut', 'widthIn', 'K'], out: 6 },
  // l: an Array of Float32Arrays, one per layer (bs[l]: N·k × widthOut_l, as[l]: N × widthIn_l, widths from the lengths)
  layerGramSum: { kinds: 'llssa', names: ['bs', 'as', 'N', 'k', 'K'], out: 4 },
  choleskySolve: { kinds: 'asasdpa', names: ['K', 'M', 'R', 'nrhs', 'damping', 'precision', 'X'], out: 6 },
  pinvSolve: { kinds: 'asasddpa', names: ['K', 'M', 'R', 'nrhs', 'damping', 'rcond', 'precision', 'X'], out: 7 },
  batchedGramInverse: { kinds: 'asssda', names: ['G', 'batch', 'rows', 'k', 'damping', 'out'], out: 5 },
};
for (const s of Object.values(SPECS)) s.kinds = s.kinds.split('');
// The oracle is written independently, but over the same parameter lists as the addon's (Job::kParams).
for (const [fn, s] of Object.entries(SPECS)) {
  if (JSON.stringify(addon.kernelArguments[fn]) !== JSON.stringify(s.names))
    throw new Error(`fuzz-child: ${fn}'s parameters here ${JSON.stringify(s.names)} differ from the addon's ${JSON.stringify(addon.kernelArguments[fn])}`);
}

// Expected lengths of the arrays from the (valid) sizes; null when a product exceeds 2³¹ − 1.
function product(...d) {
  let p = 1;
  for (const x of d) {
    if (p > Math.floor(INT32_MAX / x)) return null;
    p *= x;
  }
  return p;
}
function lengths(fn, a) {
  switch (fn) {
    case 'gemm':
      return { 6: product(a[2], a[4]), 7: product(a[4], a[3]), 9: product(a[2], a[3]) };
    case 'gram':
      return { 0: product(a[1], a[2]), 5: product(a[2], a[2]) };
    case 'layerGram': {
      const nk = product(a[2], a[3]);
      return { 0: nk === null ? null : product(nk, a[4]), 1: product(a[2], a[5]), 6: nk === null ? null : product(nk, nk) };
    }
    case 'layerGramSum': {
      const nk = product(a[2], a[3]);
      return { 4: nk === null ? null : product(nk, nk) }; // (the addon names both products 'K')
    }
    case 'choleskySolve':
      return { 0: product(a[1], a[1]), 2: product(a[1], a[3]), 6: product(a[1], a[3]) };
    case 'pinvSolve':
      return { 0: product(a[1], a[1]), 2: product(a[1], a[3]), 7: product(a[1], a[3]) };
    default:
      return { 0: product(a[1], a[2], a[3]), 5: product(a[1], a[3], a[3]) };
  }
}
// [output, input, may be the same array] pairs that must not overlap
const OVERLAP = {
  gemm: [
    [9, 6],
    [9, 7],
  ],
  gram: [[5, 0]],
  layerGram: [
    [6, 0],
    [6, 1],
  ],
  layerGramSum: [], // K against every bs[l] and as[l]: see overlapPairs
  choleskySolve: [
    [6, 0],
    [6, 2, true],
  ],
  pinvSolve: [
    [7, 0],
    [7, 2, true],
  ],
  batchedGramInverse: [[5, 0]],
};

function isDetached(ab) {
  if (typeof SharedArrayBuffer !== 'undefined' && ab instanceof SharedArrayBuffer) return false;
  try {
    new Uint8Array(ab);
    return false;
  } catch {
    return true;
  }
}
const isF32 = (v) => require('node:util').types.isFloat32Array(v); // false for a Proxy, as for the addon
const usable = (v) => isF32(v) && !isDetached(v.buffer);
// an Array for the addon (napi_is_array): a JS Array or a subclass of it, not a Proxy of one
const isList = (v) => Array.isArray(v) && !require('node:util').types.isProxy(v);
const MAX_LAYERS = 4096;
// Every Float32Array the call holds: top-level arguments and the elements of Array arguments.
function arraysIn(args) {
  const out = [];
  for (const x of args) {
    if (isF32(x)) out.push(x);
    else if (isList(x)) for (let l = 0; l < x.length; l++) if (isF32(x[l])) out.push(x[l]);
  }
  return out;
}
// [output, input, its name, may be the same array] for every pair that must not overlap
function overlapPairs(fn, args) {
  if (fn !== 'layerGramSum') return OVERLAP[fn].map(([o, i, sameOk]) => [args[o], args[i], SPECS[fn].names[i], sameOk]);
  const pairs = [];
  for (let l = 0; l < args[0].length; l++) pairs.push([args[4], args[0][l], `bs[${l}]`], [args[4], args[1][l], `as[${l}]`]);
  return pairs;
}

// An output the addon may allocate itself: null or undefined where the kernel only writes it (not
// layerGram's K, nor gram's with accumulate, which they add to, nor gemm's C with beta ≠ 0, which it reads).
function allocatable(fn, args, i) {
  if (i !== SPECS[fn].out || (args[i] !== null && args[i] !== undefined)) return false;
  if (fn === 'layerGram') return false;
  if (fn === 'gram') return args[4] === false;
  if (fn === 'gemm') return typeof args[8] === 'number' && Math.abs(args[8]) <= FLT_MAX && Math.fround(args[8]) === 0;
  return true;
}

// The argument rules of native/addon.cc, written again: a list of broken rules.
function violations(fn, args) {
  const spec = SPECS[fn];
  if (args.length < spec.kinds.length) return [{ cls: TypeError, arg: null, what: 'count' }];
  const v = [];
  let sizesOk = true;
  spec.kinds.forEach((kind, i) => {
    const x = args[i],
      name = spec.names[i];
    const bad = (cls, what) => v.push({ cls, arg: name, what });
    if (kind === 'b' && typeof x !== 'boolean') bad(TypeError, 'boolean');
    if (kind === 's' || kind === 'f' || kind === 'd') {
      if (typeof x !== 'number') bad(TypeError, 'number');
      else if (!Number.isFinite(x)) bad(RangeError, 'finite');
      else if (kind === 's' && (!Number.isInteger(x) || x < 1 || x > INT32_MAX)) bad(RangeError, 'size');
      else if (kind === 'f' && Math.abs(x) > FLT_MAX) bad(RangeError, 'float32');
      else if (kind === 'd' && x < 0) bad(RangeError, 'nonnegative');
      if (kind === 's' && !(typeof x === 'number' && Number.isInteger(x) && x >= 1 && x <= INT32_MAX)) sizesOk = false;
    }
    if (kind === 'p' && x !== 'float32' && x !== 'float64') bad(TypeError, 'precision');
    if (kind === 'a' && !allocatable(fn, args, i)) {
      if (!isF32(x)) bad(TypeError, 'Float32Array');
      else if (isDetached(x.buffer)) bad(TypeError, 'detached');
    }
    if (kind === 'l') {
      if (!isList(x)) bad(TypeError, 'Array');
      else if (x.length === 0 || x.length > MAX_LAYERS) bad(RangeError, 'layer count');
    }
  });
  if (!sizesOk) return v.length ? v : [{ cls: RangeError, arg: null, what: '?' }];
  if (fn === 'layerGramSum') {
    // one matrix per layer in each list; each a Float32Array whose length is a positive multiple of N·k (bs) or N (as)
    const [bs, as, N, k] = args,
      nk = product(N, k);
    const listOk = (x) => isList(x) && x.length >= 1 && x.length <= MAX_LAYERS;
    if (listOk(bs) && listOk(as) && bs.length !== as.length) v.push({ cls: RangeError, arg: 'bs', what: 'one matrix per layer' });
    if (nk !== null)
      for (const [list, name, unit] of [
        [bs, 'bs', nk],
        [as, 'as', N],
      ]) {
        if (!isList(list)) continue;
        for (let l = 0; l < list.length; l++) {
          const x = list[l],
            el = `${name}[${l}]`;
          if (!isF32(x)) v.push({ cls: TypeError, arg: el, what: 'Float32Array' });
          else if (isDetached(x.buffer)) v.push({ cls: TypeError, arg: el, what: 'detached' });
          else if (x.length === 0 || x.length % unit !== 0) v.push({ cls: RangeError, arg: el, what: 'length' });
        }
      }
  }
  if (fn === 'batchedGramInverse' && args[3] > 256) v.push({ cls: RangeError, arg: 'k', what: 'k ≤ 256' });
  const want = lengths(fn, args);
  for (const [i, len] of Object.entries(want)) {
    if (len === null) {
      v.push({ cls: RangeError, arg: spec.names[i], what: 'product' });
      return v; // the addon stops at the first oversized product
    }
    const x = args[i];
    if (usable(x) && x.length !== len) v.push({ cls: RangeError, arg: spec.names[i], what: 'length' });
  }
  if (v.length === 0) {
    for (const [a, b, , sameOk] of overlapPairs(fn, args)) {
      if (!isF32(a) || !isF32(b) || !sharesMemory(a, b)) continue;
      const same = a.byteOffset === b.byteOffset && a.length === b.length;
      const lo = Math.max(a.byteOffset, b.byteOffset),
        hi = Math.min(a.byteOffset + a.byteLength, b.byteOffset + b.byteLength);
      if (lo < hi && !(sameOk && same)) v.push({ cls: RangeError, arg: spec.names[spec.out], what: 'overlap' });
    }
  }
  return v;
}
function sharesMemory(a, b) {
  return a.buffer === b.buffer;
}

// ---------------------------------------------------------------- arrays in their containers
const GUARD = 0x7fcadbad; // a NaN payload around offset views: reading it gives NaN, writing it is caught
const guards = new WeakMap(); // array → [u32 view of its buffer, [start, end) ranges that must keep GUARD]
class SubFloat32Array extends Float32Array {}
const stats = { containers: {}, hazards: {}, outcomes: {}, byFn: {}, layerGramSum: {}, sizes: {} };
const bump = (o, k, by = 1) => (o[k] = (o[k] || 0) + by);

function container(n, kind) {
  bump(stats.containers, kind);
  switch (kind) {
    case 'offset': {
      const off = 1 + int(5),
        tail = 1 + int(3);
      const base = new Float32Array(off + n + tail);
      const u = new Uint32Array(base.buffer);
      u.fill(GUARD);
      const a = base.subarray(off, off + n);
      guards.set(a, [
        u,
        [
          [0, off],
          [off + n, off + n + tail],
        ],
      ]);
      return a;
    }
    case 'shared':
      return new Float32Array(new SharedArrayBuffer(4 * n));
    case 'sharedOffset': {
      const base = new Float32Array(new SharedArrayBuffer(4 * (n + 3)));
      new Uint32Array(base.buffer).fill(GUARD);
      const a = base.subarray(2, 2 + n);
      guards.set(a, [
        new Uint32Array(base.buffer),
        [
          [0, 2],
          [2 + n, n + 3],
        ],
      ]);
      return a;
    }
    case 'resizable':
      return new Float32Array(new ArrayBuffer(4 * n, { maxByteLength: 8 * n + 8 }), 0, n);
    case 'tracking':
      return new Float32Array(new ArrayBuffer(4 * n, { maxByteLength: 8 * n + 8 })); // length-tracking view
    case 'subclass':
      return new SubFloat32Array(n);
    default:
      return new Float32Array(n);
  }
}
const CONTAINERS = ['plain', 'plain', 'plain', 'offset', 'offset', 'shared', 'sharedOffset', 'resizable', 'tracking', 'subclass'];
function arr(values, kind = choose(CONTAINERS)) {
  const a = container(values.length, kind);
  a.set(values);
  return a;
}
const uniform = (n, s = 1) => Array.from({ length: n }, () => (rand() * 2 - 1) * s);
function values(n) {
  switch (int(8)) {
    case 0:
      return Array.from({ length: n }, () => int(7) - 3); // small integers: exact arithmetic
    case 1:
      return uniform(n, 10 ** (int(7) - 3)); // scaled 1e-3 … 1e3
    case 2:
      return uniform(n).map((v) => (rand() < 0.3 ? 0 : v)); // sparse
    default:
      return uniform(n);
  }
}
function garbage(n) {
  // an output-only array: its contents must not matter
  return Array.from({ length: n }, () => choose([NaN, Infinity, -1e30, 0, rand()]));
}
function detached(n) {
  const a = new Float32Array(n);
  structuredClone(a.buffer, { transfer: [a.buffer] });
  return a;
}

// ---------------------------------------------------------------- valid calls
function symmetricFrom(eig, n) {
  // Q diag(eig) Qᵀ with Q from Gram–Schmidt on a random matrix (float64, then float32)
  const q = uniform(n * n);
  for (let j = 0; j < n; j++) {
    for (let p = 0; p < j; p++) {
      let d = 0;
      for (let i = 0; i < n; i++) d += q[i * n + j] * q[i * n + p];
      for (let i = 0; i < n; i++) q[i * n + j] -= d * q[i * n + p];
    }
    let s = 0;
    for (let i = 0; i < n; i++) s += q[i * n + j] ** 2;
    s = Math.sqrt(s) || 1;
    for (let i = 0; i < n; i++) q[i * n + j] /= s;
  }
  const k = new Array(n * n).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let p = 0; p < n; p++) k[i * n + j] += q[i * n + p] * eig[p] * q[j * n + p];
  return k;
}
function squareMatrix(m, forPinv) {
  const scale = 10 ** (int(5) - 2);
  switch (int(forPinv ? 3 : 6)) {
    case 0: {
      // clear spectrum: some exact zeros, the rest away from them
      const e = Array.from({ length: m }, () => (rand() < 0.3 ? 0 : (0.1 + rand()) * scale * (forPinv && rand() < 0.3 ? -1 : 1)));
      return symmetricFrom(e, m);
    }
    case 1: {
      // random symmetric, possibly indefinite
      const k = uniform(m * m, scale);
      for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) k[i * m + j] = k[j * m + i];
      return k;
    }
    case 2: {
      // only the upper triangle is meaningful: garbage below
      const k = symmetricFrom(
        Array.from({ length: m }, () => (0.2 + rand()) * scale),
        m
      );
      for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) k[i * m + j] = rand() < 0.5 ? NaN : 1e6;
      return k;
    }
    case 3: {
      // diagonally dominant
      const k = uniform(m * m, 0.3 * scale);
      for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) k[i * m + j] = k[j * m + i];
      for (let i = 0; i < m; i++) k[i * m + i] = (m + rand()) * scale;
      return k;
    }
    case 4: {
      // low rank, positive semidefinite (singular without damping)
      const r = 1 + int(Math.max(1, m - 1)),
        g = uniform(r * m);
      const k = new Array(m * m).fill(0);
      for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) for (let p = 0; p < r; p++) k[i * m + j] += g[p * m + i] * g[p * m + j] * scale;
      return k;
    }
    default:
      return Array.from({ length: m * m }, (_, i) => (Math.floor(i / m) === i % m ? 1 : 0)).map((v) => v * scale); // identity
  }
}
const damping = () => choose([0, 0, 1e-3, 0.1, 1, rand(), 10 ** (int(9) - 6)]);

// layerGramSum: 1–3 layers at small sizes; now and then N·k > 96 (several 96-wide tiles, partial
// ones, the worker pool). Layers may share an array (bs[1] = bs[0]) or one buffer (inputs may overlap
// each other; only K must not overlap them). K is output only: garbage in it must not matter.
function layerGramSumCall() {
  const big = rand() < 0.04;
  const N = big ? 20 + int(40) : 1 + int(7),
    k = big ? 3 + int(3) : 1 + int(3),
    L = 1 + int(3),
    nk = N * k;
  if (nk > 96) bump(stats.sizes, 'layerGramSum N·k > 96');
  const bs = [],
    as = [];
  for (let l = 0; l < L; l++) {
    const wo = 1 + int(big ? 24 : 7),
      wi = 1 + int(big ? 24 : 7);
    if (l > 0 && rand() < 0.15) {
      bs.push(bs[0]); // the same array twice
      as.push(rand() < 0.5 ? as[0] : arr(values(N * wi)));
    } else if (rand() < 0.1) {
      // bs[l] and as[l] are views of one buffer (overlapping each other, which is allowed)
      const base = arr(values(nk * wo + N * wi + 2), 'plain');
      bs.push(base.subarray(0, nk * wo));
      const start = int(nk * wo + 2);
      as.push(base.subarray(start, start + N * wi));
      if (as[l].length !== N * wi) as[l] = arr(values(N * wi));
    } else {
      bs.push(arr(values(nk * wo)));
      as.push(arr(values(N * wi)));
    }
  }
  return ['layerGramSum', [bs, as, N, k, arr(garbage(nk * nk))]];
}

// The output passed as null / undefined, where the addon may allocate it; false where it may not.
function allocateOutput(fn, args) {
  const o = SPECS[fn].out,
    saved = args[o];
  args[o] = rand() < 0.5 ? null : undefined;
  if (allocatable(fn, args, o)) return true;
  args[o] = saved;
  return false;
}
function validCall() {
  let m = 1 + int(7);
  const n = 1 + int(7),
    k = 1 + int(7);
  const fn = choose(Object.keys(SPECS));
  switch (fn) {
    case 'gemm': {
      const beta = choose([0, 0, 1, 0.5, -2, rand()]);
      const c = beta === 0 && rand() < 0.5 ? garbage(m * n) : values(m * n);
      return [fn, [rand() < 0.5, rand() < 0.5, m, n, k, choose([1, 1, -0.5, 2, 0, rand() * 4 - 2]), arr(values(m * k)), arr(values(k * n)), beta, arr(c)]];
    }
    case 'gram': {
      // accumulate: K must be symmetric; only its upper triangle is read, so the lower one gets other values
      const accumulate = rand() < 0.3;
      let k0 = garbage(m * m);
      if (accumulate) {
        k0 = values(m * m);
        const other = values(m * m);
        for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) k0[i * m + j] = other[i * m + j];
      }
      return [fn, [arr(values(k * m)), k, m, rand() < 0.5, accumulate, arr(k0)]];
    }
    case 'layerGram': {
      const N = m,
        kk = 1 + int(3);
      return [fn, [arr(values(N * kk * n)), arr(values(N * k)), N, kk, n, k, arr(values(N * kk * N * kk))]];
    }
    case 'layerGramSum':
      return layerGramSumCall();
    case 'choleskySolve':
    case 'pinvSolve': {
      // now and then M > 64: the float32 solve's recursive Cholesky (native/cpu/potrf_recursive.cc)
      if (fn === 'choleskySolve' && rand() < 0.03) {
        m = 65 + int(40);
        bump(stats.sizes, 'choleskySolve M > 64');
      }
      const K = arr(squareMatrix(m, fn === 'pinvSolve'));
      const R = arr(values(m * n));
      const X = rand() < 0.2 ? R : arr(garbage(m * n));
      const prec = choose(['float32', 'float64']);
      if (fn === 'choleskySolve') return [fn, [K, m, R, n, damping(), prec, X]];
      return [fn, [K, m, R, n, choose([0, 0, 1e-3, 1e-2]), choose([0, 0, 1e-3, 0.1]), prec, X]];
    }
    default: {
      const batch = m,
        kk = 1 + int(5),
        rows = Math.max(1, kk + int(5) - 1);
      return [fn, [arr(values(batch * rows * kk)), batch, rows, kk, choose([0, 0.1, 1, 1e-3]), arr(garbage(batch * kk * kk))]];
    }
  }
}

// ---------------------------------------------------------------- bad (or equally valid) replacements
function badValue(kind, current) {
  const n = isF32(current) ? current.length : 4;
  const common = [
    undefined,
    null,
    'x',
    {},
    [],
    Symbol('s'),
    () => 0,
    10n,
    {
      valueOf: () => {
        throw new Error('valueOf must not be called');
      },
    },
  ];
  if (kind === 'a') {
    const pick = int(28);
    const hot = (v) => {
      const a = arr(values(n));
      a[int(n)] = v;
      return a;
    };
    switch (pick) {
      case 0:
        return new Float64Array(n);
      case 1:
        return Array.from({ length: n }, () => 1);
      case 2:
        return new Int32Array(n);
      case 3:
        return new Uint8Array(n * 4);
      case 4:
        return arr(values(n + 1));
      case 5:
        return arr(values(Math.max(0, n - 1)));
      case 6:
        return new Float32Array(0);
      case 7:
        return detached(n);
      case 8:
        return new DataView(new ArrayBuffer(n * 4));
      case 9:
        return new ArrayBuffer(n * 4);
      case 10:
        return new SharedArrayBuffer(n * 4);
      case 11:
        return new Proxy(new Float32Array(n), {});
      case 12:
        return { length: n, 0: 1 };
      case 13:
        return new BigInt64Array(n);
      case 14: {
        const a = container(n, 'resizable');
        a.buffer.resize(0);
        return a;
      } // out of bounds: length 0
      case 15:
        return hot(NaN);
      case 16:
        return hot(Infinity);
      case 17:
        return hot(-Infinity);
      case 18:
        return arr(values(n), 'offset'); // equally valid
      case 19:
        return arr(values(n), 'shared');
      case 20:
        return arr(values(n), 'subclass');
      case 21:
        return arr(values(n), 'tracking');
      case 22:
        return arr(uniform(n, 1e30), 'plain'); // huge but finite: may overflow float32
      case 23: {
        const a = new Float32Array(n + 2);
        return a.subarray(1, 1 + Math.max(0, n - 1));
      }
      default:
        return choose(common);
    }
  }
  if (kind === 's') {
    const c = typeof current === 'number' ? current : 3;
    return choose([
      ...common,
      0,
      -1,
      -0,
      1.5,
      NaN,
      Infinity,
      -Infinity,
      2 ** 31,
      2 ** 31 - 1,
      2 ** 32,
      2 ** 53,
      1e300,
      '3',
      true,
      65536,
      46341,
      c + 1,
      Math.max(1, c - 1),
      c,
    ]);
  }
  if (kind === 'l') {
    // current: the list of layers (or what replaced it already)
    const list = isList(current) && current.length > 0 && current.length <= MAX_LAYERS ? current.slice() : [arr(values(12))];
    const l = int(list.length);
    const n = isF32(list[l]) && usable(list[l]) ? list[l].length : 12;
    switch (int(19)) {
      case 0:
      case 1:
      case 2:
      case 3: // one layer's matrix replaced (wrong type or length, detached, NaN/±Inf, empty, …)
        list[l] = badValue('a', list[l]);
        return list;
      case 14:
      case 15: {
        // NaN or ±Infinity in one layer (a copy of it, in the same kind of container)
        const a = arr(usable(list[l]) && list[l].length > 0 ? Array.from(list[l]) : values(n));
        a[int(a.length)] = choose([NaN, Infinity, -Infinity]);
        if (rand() < 0.3) a[int(a.length)] = NaN;
        list[l] = a;
        return list;
      }
      case 16:
        list[l] = arr(values(n + choose([-1, 1, -2, 2])));
        return list; // a length off by a little (possibly 0)
      case 17:
        list[l] = arr(values(2 * n));
        return list; // twice the width: equally valid for bs (another widthOut) and as
      case 18: {
        const a = new Float32Array(n);
        structuredClone(a.buffer, { transfer: [a.buffer] });
        list[l] = a;
        return list;
      } // detached
      case 4:
        list.push(list[l]);
        return list; // one more layer (a count mismatch unless both lists change)
      case 5:
        return list.length > 1 ? list.slice(1) : [];
      case 6: {
        const h = list.slice();
        delete h[l];
        return h;
      } // a hole: undefined
      case 7:
        return new Array(MAX_LAYERS + 1).fill(list[0]); // too many layers
      case 8:
        return new Proxy(list, {}); // Array.isArray, but not an Array for Node-API
      case 9:
        return { length: list.length, ...list }; // array-like
      case 10:
        return list[0]; // a Float32Array where an Array is due
      case 11:
        return [list]; // nested
      case 12: {
        class Layers extends Array {}
        return Layers.from(list);
      } // equally valid
      case 13:
        return Object.freeze(list); // equally valid
      default:
        return choose(common);
    }
  }
  if (kind === 'b') return choose([...common, 0, 1, 'true', new Boolean(true), true, false]);
  if (kind === 'p') return choose([...common, 'float16', 'FLOAT32', 32, 'float64 ', new String('float32'), 'float32', 'float64']);
  if (kind === 'f') return choose([...common, NaN, Infinity, -Infinity, 1e39, -1e39, 3.4e38, 1e-50, -0, '1', true, 1e20]);
  return choose([...common, NaN, Infinity, -Infinity, -1, -1e-30, -0, '1', true, 1e308, 1e-320, 1e30]); // 'd'
}

function mutate(fn, args) {
  const spec = SPECS[fn];
  const kind = int(10);
  if (kind === 0) {
    // every size the same huge value: a product beyond 2³¹ − 1 (or a size beyond it)
    const big = choose([46341, 65536, 2 ** 31 - 1, 2 ** 31, 0]);
    spec.kinds.forEach((k, i) => {
      if (k === 's') args[i] = big;
    });
    return 'oversize';
  }
  if (kind === 1 && fn === 'layerGramSum') {
    // K in one buffer with bs[l] or as[l]: overlapping its start, its end, all of it, or adjacent (valid)
    const which = int(2),
      list = args[which],
      l = int(list.length),
      src = list[l],
      K = args[4];
    const n = src.length,
      kn = K.length;
    const base = new Float32Array(kn + n + kn + 2); // [0] · room for K · src · room for K · [last]
    base.set(src, 1 + kn);
    list[l] = base.subarray(1 + kn, 1 + kn + n);
    // K ending just before src (valid), ending on its first element, starting on its last, starting
    // inside it, starting just after it (valid), anywhere
    const start = choose([1, 2, 1 + kn + n - 1, 1 + kn + int(n), 1 + kn + n, int(n + kn + 3)]);
    args[4] = base.subarray(start, start + kn);
    return 'overlap';
  }
  if (kind === 1) {
    // output overlapping an input: the same array, or a view sharing part of its memory
    const [o, i] = choose(OVERLAP[fn]);
    const src = args[i];
    if (isF32(src) && src.length > 0) {
      const base = new Float32Array(src.length * 2 + 2);
      base.set(src, 1);
      args[i] = base.subarray(1, 1 + src.length);
      args[o] = rand() < 0.5 ? args[i] : base.subarray(1 + int(src.length), 1 + int(src.length) + (isF32(args[o]) ? args[o].length : 1));
      return 'overlap';
    }
  }
  const count = 1 + int(3);
  for (let t = 0; t < count; t++) {
    const pos = int(args.length);
    args[pos] = badValue(spec.kinds[pos], args[pos]);
  }
  if (rand() < 0.05) args.length = int(args.length); // too few arguments
  return 'replaced';
}

// ---------------------------------------------------------------- float64 references
function jacobi(S, n) {
  // eigenvalues and eigenvectors (columns of v) of a symmetric n×n matrix, in float64
  const a = Float64Array.from(S),
    v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0,
      tot = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        tot += a[i * n + j] ** 2;
        if (i !== j) off += a[i * n + j] ** 2;
      }
    if (off <= 1e-32 * tot || off === 0) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1),
          s = t * c;
        for (let r = 0; r < n; r++) {
          const arp = a[r * n + p],
            arq = a[r * n + q];
          a[r * n + p] = c * arp - s * arq;
          a[r * n + q] = s * arp + c * arq;
        }
        for (let r = 0; r < n; r++) {
          const apr = a[p * n + r],
            aqr = a[q * n + r];
          a[p * n + r] = c * apr - s * aqr;
          a[q * n + r] = s * apr + c * aqr;
        }
        for (let r = 0; r < n; r++) {
          const vrp = v[r * n + p],
            vrq = v[r * n + q];
          v[r * n + p] = c * vrp - s * vrq;
          v[r * n + q] = s * vrp + c * vrq;
        }
      }
  }
  return { e: Array.from({ length: n }, (_, i) => a[i * n + i]), v };
}
// (S⁺ restricted to kept eigenvalues) R, float64
function spectralSolve(eig, M, R, nrhs, keep) {
  const X = new Float64Array(M * nrhs);
  for (let p = 0; p < M; p++) {
    if (!keep(p)) continue;
    for (let c = 0; c < nrhs; c++) {
      let d = 0;
      for (let i = 0; i < M; i++) d += eig.v[i * M + p] * R[i * nrhs + c];
      d /= eig.e[p];
      for (let i = 0; i < M; i++) X[i * nrhs + c] += eig.v[i * M + p] * d;
    }
  }
  return X;
}
function upperSym(K, M, lambda) {
  const S = new Float64Array(M * M);
  for (let i = 0; i < M; i++) for (let j = i; j < M; j++) S[i * M + j] = S[j * M + i] = K[i * M + j];
  for (let i = 0; i < M; i++) S[i * M + i] += lambda;
  return S;
}
const maxAbs = (a) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

// What a valid, finite call must produce:
//   { value: Float64Array, tol: Float64Array|number, free?: boolean[] (unchecked entries), symmetric?: M, rank?: n|[lo, hi] }
//   { error: code, detail? }          (must fail with it)
//   { undecided: [codes] , finite? }  (a documented error from the list, or a result — finite if `finite`)
function reference(fn, a) {
  switch (fn) {
    case 'gemm': {
      const [ta, tb, m, n, k] = a,
        alpha = Math.fround(a[5]),
        beta = Math.fround(a[8]);
      const A = a[6],
        B = a[7],
        C = a[9];
      const value = new Float64Array(m * n),
        tol = new Float64Array(m * n),
        free = [];
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let s = 0,
            abs = 0;
          for (let l = 0; l < k; l++) {
            const x = ta ? A[l * m + i] : A[i * k + l],
              y = tb ? B[j * k + l] : B[l * n + j];
            s += x * y;
            abs += Math.abs(x * y);
          }
          const c0 = beta === 0 ? 0 : C[i * n + j];
          value[i * n + j] = alpha * s + beta * c0;
          const scale = Math.abs(alpha) * abs + Math.abs(beta * c0);
          tol[i * n + j] = (k + 4) * 2 * EPS * scale + 1e-37;
          free[i * n + j] = scale >= FLT_MAX / 2 || abs >= FLT_MAX / 2;
        }
      return { value, tol, free };
    }
    case 'gram': {
      const [J, P, M, mp, accumulate, K0] = a;
      const at = (p, i) => (mp ? J[i * P + p] : J[p * M + i]);
      const value = new Float64Array(M * M),
        tol = new Float64Array(M * M),
        free = [];
      for (let i = 0; i < M; i++)
        for (let j = 0; j < M; j++) {
          let s = 0,
            abs = 0;
          for (let p = 0; p < P; p++) {
            s += at(p, i) * at(p, j);
            abs += Math.abs(at(p, i) * at(p, j));
          }
          if (accumulate) {
            const k0 = K0[Math.min(i, j) * M + Math.max(i, j)]; // the upper triangle
            s += k0;
            abs += Math.abs(k0);
          }
          value[i * M + j] = s;
          tol[i * M + j] = (P + 4) * 2 * EPS * abs + 1e-37;
          free[i * M + j] = abs >= FLT_MAX / 2;
        }
      return { value, tol, free, symmetric: M };
    }
    case 'layerGram': {
      const [B, A, N, k, wo, wi, K0] = a,
        nk = N * k;
      const value = new Float64Array(nk * nk),
        tol = new Float64Array(nk * nk),
        free = [];
      for (let r = 0; r < nk; r++)
        for (let c = 0; c < nk; c++) {
          let bb = 0,
            babs = 0,
            aa = 0,
            aabs = 0;
          for (let o = 0; o < wo; o++) {
            bb += B[r * wo + o] * B[c * wo + o];
            babs += Math.abs(B[r * wo + o] * B[c * wo + o]);
          }
          const i = Math.floor(r / k),
            i2 = Math.floor(c / k);
          for (let q = 0; q < wi; q++) {
            aa += A[i * wi + q] * A[i2 * wi + q];
            aabs += Math.abs(A[i * wi + q] * A[i2 * wi + q]);
          }
          const k0 = K0[r * nk + c];
          value[r * nk + c] = k0 + bb * (aa + 1);
          const scale = Math.abs(k0) + babs * (aabs + 1);
          tol[r * nk + c] = (wo + wi + 8) * 2 * EPS * scale + 1e-37;
          free[r * nk + c] = scale >= FLT_MAX / 2 || babs >= FLT_MAX / 2 || aabs >= FLT_MAX / 2;
        }
      return { value, tol, free };
    }
    case 'layerGramSum': {
      // K = Σ_l (B_l B_lᵀ) ⊙ (expand_k(A_l A_lᵀ) + 1), overwriting K; exactly symmetric
      const [bs, as, N, k] = a,
        nk = N * k,
        L = bs.length;
      const value = new Float64Array(nk * nk),
        scale = new Float64Array(nk * nk),
        free = [];
      let widest = 0;
      for (let l = 0; l < L; l++) {
        const B = bs[l],
          A = as[l],
          wo = B.length / nk,
          wi = A.length / N;
        widest = Math.max(widest, wo + wi);
        const E = new Float64Array(N * N),
          Eabs = new Float64Array(N * N);
        for (let i = 0; i < N; i++)
          for (let i2 = 0; i2 < N; i2++) {
            let aa = 0,
              aabs = 0;
            for (let q = 0; q < wi; q++) {
              aa += A[i * wi + q] * A[i2 * wi + q];
              aabs += Math.abs(A[i * wi + q] * A[i2 * wi + q]);
            }
            E[i * N + i2] = aa;
            Eabs[i * N + i2] = aabs;
          }
        for (let r = 0; r < nk; r++)
          for (let c = 0; c < nk; c++) {
            let bb = 0,
              babs = 0;
            for (let o = 0; o < wo; o++) {
              bb += B[r * wo + o] * B[c * wo + o];
              babs += Math.abs(B[r * wo + o] * B[c * wo + o]);
            }
            const e = Math.floor(r / k) * N + Math.floor(c / k);
            value[r * nk + c] += bb * (E[e] + 1);
            scale[r * nk + c] += babs * (Eabs[e] + 1);
            if (babs >= FLT_MAX / 2 || Eabs[e] >= FLT_MAX / 2) free[r * nk + c] = true; // a float32 intermediate overflows
          }
      }
      // per layer a length-wo and a length-wi dot product, a product and a sum; L − 1 sums across layers
      const tol = new Float64Array(nk * nk);
      for (let i = 0; i < nk * nk; i++) {
        tol[i] = (widest + L + 8) * 2 * EPS * scale[i] + 1e-37;
        if (scale[i] >= FLT_MAX / 2) free[i] = true;
      }
      return { value, tol, free, symmetric: nk };
    }
    case 'choleskySolve': {
      const [K, M, R, nrhs, lambda0, prec] = a;
      if (lambda0 > 1e30) return { undecided: ['ERR_NOT_POSITIVE_DEFINITE'], finite: true, M }; // (K + λI)⁻¹ R underflows; float32 λ may overflow
      const lambda = prec === 'float32' ? Math.fround(lambda0) : lambda0; // what the factorisation adds
      const eig = jacobi(upperSym(K, M, lambda), M);
      const emax = maxAbs(eig.e),
        emin = Math.min(...eig.e);
      const band = (prec === 'float64' ? 1e-9 : 1e-3) * emax;
      if (emax === 0 || emin < -band) return { error: 'ERR_NOT_POSITIVE_DEFINITE', M };
      if (emin <= band) return { undecided: ['ERR_NOT_POSITIVE_DEFINITE'], finite: false, M };
      const value = spectralSolve(eig, M, R, nrhs, () => true);
      const cond = emax / emin;
      const xmax = maxAbs(value);
      if (xmax >= FLT_MAX / 4) return { undecided: [], finite: false }; // X overflows float32
      const tol = (prec === 'float64' ? 4 * EPS * xmax + 1e-12 * cond * xmax : 50 * M * EPS * cond * xmax) + 1e-37;
      return { value, tol };
    }
    case 'pinvSolve': {
      const [K, M, R, nrhs, lambda0, rcond, prec] = a;
      if (lambda0 > 1e30 || rcond >= 1) return { undecided: [], finite: true, rankRange: [0, M] };
      const lambda = prec === 'float32' ? Math.fround(lambda0) : lambda0;
      const eig = jacobi(upperSym(K, M, lambda), M);
      const emax = maxAbs(eig.e);
      const cut = (rcond > 0 ? rcond : M * EPS) * emax;
      const slack = (prec === 'float64' ? 1e-9 : 16 * M * EPS) * emax;
      const lo = eig.e.filter((e) => Math.abs(e) > cut + slack).length;
      const hi = eig.e.filter((e) => Math.abs(e) > cut - slack).length;
      if (emax === 0) return { value: new Float64Array(M * nrhs), tol: 0, rank: 0 };
      if (lo !== hi) return { undecided: ['ERR_LAPACK'], finite: true, rankRange: [lo, hi] };
      const kept = eig.e.map((e) => Math.abs(e) > cut);
      const value = spectralSolve(eig, M, R, nrhs, (p) => kept[p]);
      const keptMin = Math.min(...eig.e.filter((_e, p) => kept[p]).map(Math.abs));
      const droppedMax = Math.max(0, ...eig.e.filter((_e, p) => !kept[p]).map(Math.abs));
      const gap = keptMin - droppedMax;
      const xmax = maxAbs(value),
        rmax = maxAbs(R);
      if (xmax >= FLT_MAX / 4) return { undecided: [], finite: false, rankRange: [lo, hi] };
      const e32 = prec === 'float64' ? 1e-12 : EPS;
      // rounding of K (and of the float32 factorisation) moves the kept subspace by ~ e·emax/gap
      const tol = 50 * M * e32 * (emax / keptMin) * (emax / gap) * (xmax + rmax / keptMin) + 4 * EPS * xmax + 1e-37;
      return { value, tol, rank: lo };
    }
    default: {
      const [G, batch, rows, k, lambda0] = a;
      const lambda = Math.fround(lambda0); // the kernel works in float32
      if (lambda0 > 1e30) return { undecided: ['ERR_NOT_POSITIVE_DEFINITE'], finite: true, batch }; // λ beyond float32
      let overflow = false;
      const value = new Float64Array(batch * k * k),
        tol = new Float64Array(batch * k * k);
      let undecided = false;
      for (let b = 0; b < batch; b++) {
        const S = new Float64Array(k * k);
        let gabs = 0;
        for (let i = 0; i < k; i++)
          for (let j = 0; j < k; j++) {
            let s = 0;
            for (let r = 0; r < rows; r++) s += G[(b * rows + r) * k + i] * G[(b * rows + r) * k + j];
            S[i * k + j] = s + (i === j ? lambda : 0);
            gabs = Math.max(gabs, Math.abs(S[i * k + j]));
          }
        if (gabs >= FLT_MAX / 4) {
          overflow = true; // GᵀG overflows float32
          continue;
        }
        const eig = jacobi(S, k);
        const emax = maxAbs(eig.e),
          emin = Math.min(...eig.e);
        if (!(emin > 1e-3 * emax)) {
          undecided = true;
          continue;
        }
        const inv = spectralSolve(eig, k, identity(k), k, () => true);
        const t = 50 * (k + rows) * EPS * (emax / emin) * maxAbs(inv) + 1e-37;
        for (let e = 0; e < k * k; e++) {
          value[b * k * k + e] = inv[e];
          tol[b * k * k + e] = t;
        }
      }
      if (overflow) return { undecided: ['ERR_NOT_POSITIVE_DEFINITE', 'ERR_NON_FINITE'], finite: true, batch };
      if (undecided) return { undecided: ['ERR_NOT_POSITIVE_DEFINITE'], finite: false, batch };
      return { value, tol };
    }
  }
}
function identity(k) {
  const I = new Float64Array(k * k);
  for (let i = 0; i < k; i++) I[i * k + i] = 1;
  return I;
}

// Arrays the kernel reads, in the order the addon checks them for NaN/Inf.
function readArrays(fn, a) {
  switch (fn) {
    case 'gemm':
      return Math.fround(a[8]) !== 0 ? [6, 7, 9] : [6, 7];
    case 'gram':
      return a[4] === true ? [0, 5] : [0];
    case 'layerGram':
      return [0, 1, 6];
    case 'layerGramSum':
      return []; // (its layers: see namedReadArrays)
    case 'choleskySolve':
    case 'pinvSolve':
      return [0, 2];
    default:
      return [0];
  }
}

// [name, array] of the arrays a (valid) call reads, in the order the addon checks them for NaN/Inf.
function namedReadArrays(fn, args) {
  if (fn !== 'layerGramSum') return readArrays(fn, args).map((i) => [SPECS[fn].names[i], args[i]]);
  const out = [];
  for (let l = 0; l < args[0].length; l++) out.push([`bs[${l}]`, args[0][l]], [`as[${l}]`, args[1][l]]);
  return out;
}

// The full expectation for a call with these arguments, as they are now.
function expectation(fn, args) {
  const v = violations(fn, args);
  if (v.length) return { argError: v };
  for (const [name, a] of namedReadArrays(fn, args)) {
    const bad = a.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) return { error: 'ERR_NON_FINITE', arg: name, index: bad };
  }
  // the reference works on float64 copies of the values
  const copy = args.map((x) => (isF32(x) ? Float64Array.from(x) : isList(x) ? x.map((y) => Float64Array.from(y)) : x));
  return reference(fn, copy);
}

// ---------------------------------------------------------------- checking an outcome
const report = {
  calls: 0,
  sync: 0,
  async: 0,
  returned: 0,
  rejected: 0,
  correct: 0,
  undecided: 0,
  argErrors: 0,
  kernelErrors: 0,
  getterProbes: 0,
  invalidState: 0,
  raced: 0,
  lapackFailures: 0,
  bitIdentical: 0,
  wrong: [],
  undocumented: [],
  wrongCount: 0,
};
function fail(list, item) {
  if (list === report.wrong) report.wrongCount++;
  if (list.length < 20) list.push(item);
}
const bitsOf = (a) => Buffer.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).toString('base64');

function guardsIntact(a) {
  const g = guards.get(a);
  if (!g || isDetached(g[0].buffer)) return true;
  const [u, ranges] = g;
  for (const [s, e] of ranges) for (let i = s; i < e && i < u.length; i++) if (u[i] !== GUARD) return false;
  return true;
}

// `call`: { fn, args, isAsync, exp, outIndex, lost, label }. `res`: { ok, value } | { ok: false, error }.
function check(call, res) {
  const { fn, args, exp } = call;
  const name = call.isAsync ? fn + 'Async' : fn;
  const where = { fn: name, label: call.label };
  if (call.debug) where.args = call.debug;
  const allocated = allocatable(fn, args, SPECS[fn].out); // the call made its output: it is what came back
  for (const x of arraysIn(args)) if (!guardsIntact(x)) return fail(report.wrong, { ...where, why: 'wrote outside an array view' });
  if (fn === 'layerGramSum') {
    // what the layerGramSum calls came to: the error code and, for a single broken rule, which
    const one = exp.argError && exp.argError.length === 1 ? `: ${exp.argError[0].what} of ${String(exp.argError[0].arg).replace(/\d+/, 'l')}` : '';
    bump(
      stats.layerGramSum,
      res.ok ? (call.lost || call.raced || exp.undecided ? 'returned (unchecked)' : 'returned') : ((res.error && res.error.code) || 'no code') + one
    );
  }
  if (!res.ok) {
    const e = res.error;
    report.rejected++;
    bump(stats.outcomes, (e && e.code) || 'no code');
    if (!(e instanceof Error) || typeof e.code !== 'string' || !e.message) return fail(report.undocumented, { ...where, error: String(e) });
    // argument errors name the function called; kernel errors the kernel (the same for both forms)
    if (!e.message.startsWith(name + ':') && !e.message.startsWith(fn + ':'))
      return fail(report.undocumented, { ...where, why: 'message does not start with the function', message: e.message });
    if (exp.argError) {
      report.argErrors++;
      const one = exp.argError.length === 1 ? exp.argError[0] : null;
      const argCode = e instanceof TypeError ? 'ERR_INVALID_ARG_TYPE' : e instanceof RangeError ? 'ERR_OUT_OF_RANGE' : null;
      if (e.code !== argCode) return fail(report.undocumented, { ...where, code: e.code, message: e.message });
      if (one && !(e instanceof one.cls))
        return fail(report.wrong, { ...where, why: `expected ${one.cls.name} (${one.what} of ${one.arg})`, message: e.message });
      const named = one && one.what === 'product' ? `${one.arg} has more than 2147483647 elements` : one && `'${one.arg}'`;
      if (one && one.arg && !e.message.includes(named)) return fail(report.wrong, { ...where, why: `message does not name '${one.arg}'`, message: e.message });
      if (one && one.what === 'count' && !/expected \d+ arguments/.test(e.message)) return fail(report.wrong, { ...where, why: 'count', message: e.message });
      return;
    }
    if (call.raced) {
      report.raced++;
      return; // a documented error is all that can be asked
    }
    if (call.lost && e.code === 'ERR_INVALID_STATE' && !exp.error) {
      report.invalidState++;
      return;
    }
    if (exp.error) {
      if (e.code !== exp.error) return fail(report.wrong, { ...where, why: `expected ${exp.error}`, code: e.code, message: e.message });
      if (exp.arg && !e.message.includes(`argument '${exp.arg}'`))
        return fail(report.wrong, { ...where, why: `ERR_NON_FINITE should name '${exp.arg}'`, message: e.message });
      if (exp.arg && !e.message.endsWith(` at index ${exp.index}`))
        return fail(report.wrong, { ...where, why: `ERR_NON_FINITE should give index ${exp.index}`, message: e.message });
      if (e.code === 'ERR_NOT_POSITIVE_DEFINITE' && fn === 'choleskySolve' && !(e.column >= 1 && e.column <= exp.M))
        return fail(report.wrong, { ...where, why: 'column', column: e.column });
      report.kernelErrors++;
      return;
    }
    if (e.code === 'ERR_LAPACK' && fn === 'pinvSolve') {
      // syevd did not converge. Seen on well-conditioned 7×7 matrices with OpenBLAS 0.3.21's generic
      // Prescott kernels and 2 threads, after some earlier dsyevd calls (not with 1 thread or the
      // Haswell/SkylakeX kernels): a documented failure, counted and reported
      report.lapackFailures++;
      report.kernelErrors++;
      return;
    }
    if (exp.undecided && exp.undecided.includes(e.code)) {
      if (e.code === 'ERR_NOT_POSITIVE_DEFINITE' && fn === 'batchedGramInverse' && !(e.index >= 0 && e.index < exp.batch))
        return fail(report.wrong, { ...where, why: 'index', index: e.index });
      report.undecided++;
      report.kernelErrors++;
      return;
    }
    return fail(report.wrong, { ...where, why: 'unexpected error', code: e.code, message: e.message, exp: describeExp(exp) });
  }
  // returned
  report.returned++;
  bump(stats.outcomes, 'returned');
  if (exp.argError || (exp.error && !call.raced)) return fail(report.wrong, { ...where, why: 'returned but should have failed', exp: describeExp(exp) });
  if (call.lost) return fail(report.wrong, { ...where, why: 'resolved although its output lost its memory' });
  const isPinv = fn === 'pinvSolve';
  let out = args[SPECS[fn].out],
    rank = res.value;
  if (allocated) {
    // a fresh Float32Array of the output's length ({ x, rank } for pinvSolve)
    out = isPinv ? res.value && res.value.x : res.value;
    rank = isPinv ? res.value && res.value.rank : undefined;
    if (!isF32(out) || out.length !== lengths(fn, args)[SPECS[fn].out])
      return fail(report.wrong, { ...where, why: 'did not return a new output array of the right length' });
    report.allocated = (report.allocated || 0) + 1;
  } else if (isPinv ? typeof res.value !== 'number' : res.value !== out)
    return fail(report.wrong, { ...where, why: 'returned something other than the output array' });
  if (call.raced) {
    report.raced++;
    return;
  }
  if (exp.undecided) {
    if (exp.finite && out.some((x) => !Number.isFinite(x))) return fail(report.wrong, { ...where, why: 'non-finite result' });
    if (isPinv && exp.rankRange && !(rank >= exp.rankRange[0] && rank <= exp.rankRange[1]))
      return fail(report.wrong, { ...where, why: 'rank', rank, range: exp.rankRange });
    report.undecided++;
    return;
  }
  if (isPinv && rank !== exp.rank) return fail(report.wrong, { ...where, why: 'rank', rank, want: exp.rank });
  for (let i = 0; i < exp.value.length; i++) {
    if (exp.free && exp.free[i]) continue;
    const t = typeof exp.tol === 'number' ? exp.tol : exp.tol[i];
    const d = Math.abs(out[i] - exp.value[i]);
    if (!(d <= t)) return fail(report.wrong, { ...where, why: 'wrong value', index: i, got: out[i], want: exp.value[i], tol: t });
  }
  if (exp.symmetric) {
    const M = exp.symmetric;
    for (let i = 0; i < M; i++)
      for (let j = 0; j < i; j++) if (!Object.is(out[i * M + j], out[j * M + i])) return fail(report.wrong, { ...where, why: 'not exactly symmetric' });
  }
  report.correct++;
}
function describeExp(exp) {
  if (exp.argError) return exp.argError.map((v) => `${v.cls.name} ${v.what} ${v.arg}`).join('; ');
  return exp.error || (exp.undecided ? 'undecided' : 'value');
}

// ---------------------------------------------------------------- driving the calls
function inputsOf(fn, args) {
  // [name, array] the call only reads (for the sync "inputs unchanged" check)
  const o = args[SPECS[fn].out];
  const out = [];
  SPECS[fn].kinds.forEach((k, i) => {
    const name = SPECS[fn].names[i];
    if (k === 'a' && i !== SPECS[fn].out) out.push([name, args[i]]);
    if (k === 'l' && isList(args[i])) for (let l = 0; l < args[i].length; l++) out.push([`${name}[${l}]`, args[i][l]]);
  });
  return out.filter(([, a]) => usable(a) && !(isF32(o) && o.buffer === a.buffer));
}
const DEBUG = !!process.env.NATGRAD_FUZZ_DEBUG; // wrong calls then carry their arguments
const debugOne = (x) =>
  usable(x) && x.length
    ? Array.from(x)
    : typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean'
      ? x
      : isList(x) && x.length <= 16
        ? Array.from(x, debugOne)
        : typeof x;
const debugArgs = (args) => (DEBUG ? args.map(debugOne) : undefined);
function runSync(fn, args, label, raced = false) {
  const exp = expectation(fn, args);
  const debug = debugArgs(args);
  const inputs = inputsOf(fn, args);
  const before = inputs.map(([, a]) => bitsOf(a));
  report.calls++;
  report.sync++;
  bump(stats.byFn, fn);
  let res;
  try {
    res = { ok: true, value: addon[fn](...args) };
  } catch (error) {
    res = { ok: false, error };
  }
  check({ fn, args, isAsync: false, exp, label, debug, raced }, res);
  if (!raced)
    inputs.forEach(([name, a], j) => {
      if (usable(a) && bitsOf(a) !== before[j]) fail(report.wrong, { fn, label, why: `input '${name}' was modified` });
    });
  return res;
}
function startAsync(fn, args, label, pending) {
  const exp = expectation(fn, args);
  report.calls++;
  report.async++;
  bump(stats.byFn, fn + 'Async');
  const call = { fn, args, isAsync: true, exp, label, lost: false, debug: debugArgs(args) };
  let p;
  try {
    p = addon[fn + 'Async'](...args);
  } catch (error) {
    fail(report.wrong, { fn: fn + 'Async', label, why: 'the Promise form threw instead of rejecting', message: String(error && error.message) });
    return null;
  }
  // checked as soon as it settles (before any later completion can touch a shared output)
  pending.push(
    p.then(
      (value) => check(call, { ok: true, value }),
      (error) => check(call, { ok: false, error })
    )
  );
  return call;
}

function hazard(call, pending) {
  if (report.calls >= TOTAL) return;
  const { fn, args } = call;
  const outIdx = SPECS[fn].out;
  const arrays = arraysIn(args).filter((x) => usable(x) && x.length > 0); // (a shrunk view has length 0)
  if (arrays.length === 0) return;
  const a = choose(arrays);
  const shared = !(a.buffer instanceof ArrayBuffer);
  const isOut = a === args[outIdx] || (isF32(args[outIdx]) && args[outIdx].buffer === a.buffer);
  // A SharedArrayBuffer is used in place: changing one while a pending call uses it is a data
  // race the caller owns (the result is unspecified, but the process must survive).
  const markRaced = (buffer) => {
    if (buffer instanceof ArrayBuffer) return;
    for (const c of live) if (arraysIn(c.args).some((x) => x.buffer === buffer)) c.raced = true;
  };
  const markLost = (buffer) => {
    for (const c of live) if (isF32(c.args[SPECS[c.fn].out]) && c.args[SPECS[c.fn].out].buffer === buffer) c.lost = true;
  };
  switch (int(6)) {
    case 0: // overwrite (an input: the pending call must not see it; an output: it is overwritten at completion)
      bump(stats.hazards, 'overwrite');
      markRaced(a.buffer);
      a.fill(choose([NaN, 1e30, -1, 0]));
      return;
    case 1: // transfer away, then collect
      if (shared) return;
      bump(stats.hazards, isOut ? 'transferOutput' : 'transferInput');
      markLost(a.buffer);
      structuredClone(a.buffer, { transfer: [a.buffer] });
      if (hasGc && rand() < 0.1) global.gc();
      return;
    case 2: // shrink a resizable buffer (decommits its pages)
      if (shared || !a.buffer.resizable) return;
      bump(stats.hazards, isOut ? 'shrinkOutput' : 'shrinkInput');
      markLost(a.buffer);
      a.buffer.resize(0);
      return;
    case 3: {
      // the same kernel on the same arrays, synchronously
      bump(stats.hazards, 'syncSameArrays');
      const sharedOut = isF32(args[outIdx]) && !(args[outIdx].buffer instanceof ArrayBuffer);
      if (sharedOut) markRaced(args[outIdx].buffer);
      runSync(fn, args, 'sync during async', sharedOut); // a pending call writes a shared output in place too
      return;
    }
    case 4: {
      // a second Promise-form call on the same arrays
      bump(stats.hazards, 'asyncSameArrays');
      const second = startAsync(fn, args, 'async during async', pending);
      track(second);
      if (isF32(args[outIdx])) markRaced(args[outIdx].buffer);
      return;
    }
    default:
      return;
  }
}
let live = [];
const track = (c) => c && live.push(c);

// Getter probes (on unless NATGRAD_FUZZ_GETTERS=0): layerGramSum(Async) with an accessor element in bs or
// as whose getter, run by the addon while it reads the lists, takes the memory of another layer array:
// transfers its buffer away and collects it, or shrinks its resizable buffer. The kernel must not read
// that memory: the only acceptable outcome is an argument error (a detached or empty array). The addon
// reads every element before it checks any array (LayerGramSumJob::parse); before that fix such a call
// read freed memory.
const GETTERS = process.env.NATGRAD_FUZZ_GETTERS !== '0';
async function getterProbe() {
  const N = 2 + int(6),
    k = 1 + int(3),
    nk = N * k,
    L = 2 + int(2);
  const resizable = rand() < 0.5;
  const make = (n) => arr(values(n), resizable ? 'resizable' : 'plain');
  const bs = [],
    as = [];
  for (let l = 0; l < L; l++) bs.push(make(nk * (1 + int(40)))), as.push(make(N * (1 + int(40))));
  // the getter replaces element `at` of list `which`; it takes the memory of bs[0] or as[0] (read earlier)
  const which = int(2),
    at = 1 + int(L - 1),
    victim = choose([bs[0], as[0]]);
  const list = which ? as : bs,
    element = list[at];
  Object.defineProperty(list, at, {
    get() {
      if (resizable) victim.buffer.resize(0);
      else structuredClone(victim.buffer, { transfer: [victim.buffer] });
      if (hasGc) global.gc();
      return element;
    },
    enumerable: true,
    configurable: true,
  });
  const isAsync = rand() < 0.5,
    name = isAsync ? 'layerGramSumAsync' : 'layerGramSum';
  report.calls++;
  report.getterProbes++;
  bump(stats.byFn, name);
  let res;
  try {
    res = { ok: true, value: isAsync ? await addon[name](bs, as, N, k, new Float32Array(nk * nk)) : addon[name](bs, as, N, k, new Float32Array(nk * nk)) };
  } catch (error) {
    res = { ok: false, error };
  }
  const where = { fn: name, label: "getter takes an earlier layer's memory", resizable };
  if (res.ok) {
    report.returned++;
    return fail(report.wrong, { ...where, why: 'returned although an array it had read lost its memory to a later element getter' });
  }
  report.rejected++;
  report.argErrors++;
  const e = res.error;
  bump(stats.outcomes, (e && e.code) || 'no code');
  if (!(e instanceof Error) || !['ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE'].includes(e.code))
    fail(report.undocumented, { ...where, code: e && e.code, message: String(e && e.message) });
}

async function main() {
  const t0 = Date.now();
  while (report.calls < TOTAL) {
    const pending = [];
    live = [];
    const group = 1 + int(6);
    for (let g = 0; g < group && report.calls < TOTAL; g++) {
      if (GETTERS && rand() < 0.02) {
        await getterProbe();
        continue;
      }
      const [fn, args] = validCall();
      let label = 'valid';
      if (rand() < 0.6) label = mutate(fn, args);
      else if (rand() < 0.2 && allocateOutput(fn, args)) label = 'allocated';
      if (rand() < 0.45) {
        const c = startAsync(fn, args, label, pending);
        track(c);
        if (c && live.length && rand() < 0.6) hazard(choose(live), pending);
      } else {
        runSync(fn, args, label);
        if (live.length && rand() < 0.3) hazard(choose(live), pending);
      }
    }
    await Promise.all(pending);
    // now and then: the sync and Promise forms on identical valid inputs agree bit for bit
    if (rand() < 0.1 && report.calls + 2 <= TOTAL) {
      const [fn, args] = validCall();
      const twin = args.map((x) => (isF32(x) ? Float32Array.from(x) : isList(x) ? x.map((y) => Float32Array.from(y)) : x));
      if (args[SPECS[fn].out] === args[2] && fn.endsWith('Solve')) twin[SPECS[fn].out] = twin[2];
      const s = runSync(fn, args, 'twin');
      const p = [];
      startAsync(fn, twin, 'twin', p);
      await Promise.all(p);
      const o = SPECS[fn].out;
      if (s.ok && bitsOf(args[o]) === bitsOf(twin[o])) report.bitIdentical++;
      else if (s.ok) fail(report.wrong, { fn, why: 'sync and async results differ' });
    }
  }
  report.seconds = (Date.now() - t0) / 1000;
  Object.assign(report, stats);
  process.stdout.write(JSON.stringify(report) + '\n');
}
main().catch((e) => {
  process.stderr.write(String(e && e.stack) + '\n');
  process.exit(3);
});

// A small seeded random number generator, so that initialisation is reproducible
// bit for bit on every platform: xoshiro128** (Blackman & Vigna) over four
// uint32 words, seeded by splitmix32. Uniforms carry 53 random bits; normals use
// the Box–Muller transform.

/** splitmix32 step: a well-mixed uint32 from a uint32 state. */
function splitmix32(state: number): [next: number, out: number] {
  const next = (state + 0x9e3779b9) >>> 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return [next, (z ^ (z >>> 16)) >>> 0];
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | null = null;

  /** `seed`: a non-negative safe integer (all 53 bits are used). */
  constructor(seed: number) {
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0)
      throw new RangeError(`Rng: 'seed' must be a non-negative safe integer, got ${String(seed)}`);
    // Fold the high bits in so that seeds ≥ 2³² differ from their low word.
    let st = (seed >>> 0) ^ Math.imul(Math.floor(seed / 0x100000000) >>> 0, 0x632be5ab);
    const w: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [next, out] = splitmix32(st >>> 0);
      st = next;
      w.push(out);
    }
    [this.s0, this.s1, this.s2, this.s3] = w as [number, number, number, number];
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** A uniform uint32. */
  nextUint32(): number {
    // result = rotl(s1 · 5, 7) · 9
    const x = Math.imul(this.s1, 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return result;
  }

  /**
   * Shuffles `a` in place and returns it: Fisher–Yates, for i = n−1 … 1 swap a[i] and a[j] with
   * j = ⌊u·(i + 1)⌋ (u uniform, 53 bits), so every permutation is equally likely. The one shuffle of
   * natgrad (batch orders, data splits), reproducible from the seed on every platform.
   */
  shuffle<A extends { length: number; [i: number]: unknown }>(a: A): A {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.uniform() * (i + 1));
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal N(0, 1) by Box–Muller (pairs; the second value is kept for the next call). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u1 = 1 - this.uniform(); // (0, 1]: log is finite
    const u2 = this.uniform();
    const rad = Math.sqrt(-2 * Math.log(u1));
    this.spare = rad * Math.sin(2 * Math.PI * u2);
    return rad * Math.cos(2 * Math.PI * u2);
  }
}

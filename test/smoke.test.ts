import { describe, expect, it } from 'vitest';
import { backend, gram } from '../lib/index';

describe('smoke', () => {
  it('loads', () => {
    expect(backend().name).toBe('cpu');
    expect(Array.from(gram(new Float32Array([1, 2, 3, 4, 5, 6]), 3, 2))).toEqual([35, 44, 44, 56]);
  });
});

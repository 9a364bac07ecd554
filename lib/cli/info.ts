// natgrad info — which backend runs the kernels, and why.
import { backend } from '../native';

export function info(_argv: string[]): number {
  const b = backend();
  console.log(`natgrad backend: ${b.name}`);
  console.log(`  blas:    ${b.blas}`);
  console.log(`  threads: ${b.threads}`);
  if (b.device) console.log(`  device:  ${b.device}`);
  console.log(`  why:     ${b.reason}`);
  if (b.kernels) console.log(`  kernels: ${b.kernels}`);
  if (b.note) console.log(`  note:    ${b.note}`);
  console.log(`  addon:   ${b.addon}`);
  return 0;
}

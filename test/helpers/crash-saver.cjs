// Saves checkpoint after checkpoint until it is killed (test/robust_checkpoint.test.ts sends
// SIGKILL at a random moment, mid-save or not).
//   node test/helpers/crash-saver.cjs <dist/index.js> <file> [async]
// Save k writes a model whose every parameter equals k, with extra { k }, and a NaturalGradient
// whose damping is k; it prints "start k" before and "done k" after each save.
'use strict';
const [lib, file, mode] = process.argv.slice(2);
const ng = require(lib);
const { sequential, linear, tanh, NaturalGradient, saveCheckpoint, saveCheckpointAsync } = ng;
// ~270k parameters: a checkpoint of ~1.4 MB, so that a save takes a while
const model = sequential([linear(256, 512), tanh(), linear(512, 256), tanh(), linear(256, 10)], { seed: 1 });
const opt = new NaturalGradient(model, { loss: 'categorical' });
const theta = new Float32Array(model.numParameters);
async function main() {
  for (let k = 1; ; k++) {
    theta.fill(k);
    model.setParameters(theta);
    opt.damping = k;
    process.stdout.write(`start ${k}\n`);
    if (mode === 'async') await saveCheckpointAsync(file, { model, optimizer: opt, extra: { k } });
    else saveCheckpoint(file, { model, optimizer: opt, extra: { k } });
    process.stdout.write(`done ${k}\n`);
  }
}
main();

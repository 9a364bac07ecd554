// natgrad — public exports.
export { backend, setThreads, memoryInfo, setMemoryLimit } from './native';
export type { BackendInfo, CpuPath, IsaLevel, Precision, MemoryInfo } from './native';
export * from './linalg';
// Models, output distributions and the natural-gradient optimizer.
export { sequential, Sequential, linear, tanh, relu, sigmoid, softplus, gelu } from './nn';
export type { Layer, LinearLayer, ActivationLayer, ActivationName, SequentialOptions } from './nn';
export { distribution, gaussian, categorical, bernoulli } from './distributions';
export type { LossName, OutputFamily } from './distributions';
export { NaturalGradient } from './optim/natural_gradient';
export type { NaturalGradientOptions, NaturalGradientMethod, StepProfile } from './optim/natural_gradient';
// Optimizer baselines, adaptive damping, batching and checkpoints (issue #5).
export { Adam } from './optim/adam';
export type { AdamOptions, AdamState } from './optim/adam';
export { SGD } from './optim/sgd';
export type { SGDOptions, SGDState } from './optim/sgd';
export type { StepInfo } from './optim/common';
export type { NaturalStepInfo, NaturalGradientState, LevenbergMarquardtOptions } from './optim/natural_gradient';
export { LM_DEFAULTS } from './optim/damping';
export { batches, batchCount, permutation } from './data/batches';
export type { Batch, BatchOptions } from './data/batches';
// The natural-chain-rule proposal's question answered with numbers (issue #4): the report behind `natgrad explain`, the training race.
export { explain, formatReport, compareTraining, defaultMethods, formatTraining, trainingSvg } from './explain';
export type { ExplainOptions, ExplainReport, Claim, ClaimId, Verdict, TrainOptions, TrainReport, TrainCurve, TrainMethod } from './explain';
export { fromJSON } from './nn/sequential';
export type { SequentialJSON } from './nn/sequential';
export { saveCheckpoint, saveCheckpointAsync, loadCheckpoint, restoreOptimizer, encodeCheckpoint, decodeCheckpoint } from './checkpoint';
export type { Checkpoint, CheckpointInput, Optimizer, OptimizerState } from './checkpoint';

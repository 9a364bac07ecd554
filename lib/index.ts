// natgrad — public exports, grouped by purpose.

// Backend, threads and memory: which code runs the kernels, and the limits a call works under.
export { backend, setThreads, memoryInfo, setMemoryLimit } from './native';
export type { BackendInfo, CpuPath, IsaLevel, Precision, MemoryInfo } from './native';
export type { ArrayOf, Dtype, Floats } from './util/floats';

// Native kernels over Float32Array (README, "Native kernels"): each has a Promise form (…Async) that
// runs off the event loop.
export {
  gemm,
  gemmAsync,
  gram,
  gramAsync,
  layerGram,
  layerGramAsync,
  layerGramSum,
  layerGramSumAsync,
  choleskySolve,
  choleskySolveAsync,
  pinvSolve,
  pinvSolveAsync,
  batchedGramInverse,
  batchedGramInverseAsync,
} from './linalg';
export type { GemmOptions, GramOptions, SolveOptions, PinvOptions, PinvResult, BatchedGramInverseOptions } from './linalg';

// Models: layers and sequential networks (sequential.fromJSON / Sequential.fromJSON read model.toJSON()).
export {
  sequential,
  Sequential,
  mlp,
  linear,
  tanh,
  relu,
  sigmoid,
  softplus,
  gelu,
  conv2d,
  maxPool2d,
  avgPool2d,
  flatten,
  layerNorm,
  residual,
  embedding,
  batchNorm,
  dropout,
} from './nn';
export type {
  Layer,
  LinearLayer,
  ActivationLayer,
  ActivationName,
  SequentialOptions,
  InputDerivatives,
  Conv2dOptions,
  LayerNormOptions,
  ModuleLayer,
  BoundModule,
  FactoredRows,
} from './nn';
export type { SequentialJSON } from './nn/sequential';
export type { Structure, LinearSlot, ModuleSlot, Trace } from './nn/structure';
export type { Call, Task } from './task';

// Output distributions: loss, gradient and Fisher factor of the network's output.
export { distribution, gaussian, categorical, bernoulli } from './distributions';
export type { LossName, OutputFamily } from './distributions';

// Optimizers: the natural gradient, its Levenberg–Marquardt damping, and the first-order baselines.
export { NaturalGradient } from './optim/natural_gradient';
export { ResidualLoss, residualLoss } from './optim/residual_loss';
export type { ResidualSet, ResidualPoint, ResidualPartials, ResidualLossOptions } from './optim/residual_loss';
export type { SecondOrder } from './nn/derivatives';
export type {
  NaturalGradientOptions,
  CommonNaturalGradientOptions,
  ExactNaturalGradientOptions,
  ProposalNaturalGradientOptions,
  NaturalGradientMethod,
  NaturalGradientState,
  NaturalStepInfo,
  LevenbergMarquardtOptions,
  StepProfile,
  Assembly,
  Space,
} from './optim/natural_gradient';
export type { DampingRule } from './optim/damping';
export { LM_DEFAULTS } from './optim/damping';
export { Adam } from './optim/adam';
export type { AdamOptions, AdamState } from './optim/adam';
export { SGD } from './optim/sgd';
export type { SGDOptions, SGDState } from './optim/sgd';
export type { StepInfo } from './optim/common';

// Training in one call: epochs, validation, a learning-rate schedule, early stopping, callbacks; and evaluation.
export { fit } from './train/fit';
export type { FitOptions, FitCallbacks, History, EpochLog, EarlyStopping } from './train/fit';
export { evaluate } from './train/trainer';
export type { OptimizerName, TrainOptimizer, StepEvent } from './train/trainer';

// A model bundle: the model with its input columns, their standardization and the class labels; predicts on raw inputs.
export { loadModel, ModelBundle, predict } from './bundle';
export type { ModelBundleJSON, BundleInfo, Prediction, Evaluation, InputRows } from './bundle';

// Training data: CSV files, tables to datasets (class labels of any text), splits, standardization, seeded mini-batches.
export type { Dataset, Dataset32 } from './data/dataset';
export { readCsv, parseCsv, detectDelimiter, CsvError } from './data/csv';
export type { CsvTable, CsvOptions } from './data/csv';
export { tableData } from './data/table';
export type { TableData, TableOptions } from './data/table';
export { encodeLabels } from './data/labels';
export type { EncodedLabels } from './data/labels';
export { trainTestSplit, takeRows } from './data/split';
export { fitStandardizer, applyStandardizer } from './data/standardize';
export type { Standardizer } from './data/standardize';
export { batches, batchCount, permutation } from './data/batches';
export type { Batch, BatchOptions } from './data/batches';

// Checkpoints: atomic, checksummed saves of a model and its optimizer.
export { saveCheckpoint, saveCheckpointAsync, loadCheckpoint, restoreOptimizer, encodeCheckpoint, decodeCheckpoint } from './checkpoint';
export type { Checkpoint, CheckpointInput, Optimizer, OptimizerState } from './checkpoint';

// The natural-chain-rule proposal measured: the report behind `natgrad explain`, and its training race.
export { explain, formatReport, compareTraining, defaultMethods, formatTraining, trainingSvg } from './explain';
export type { ExplainOptions, ExplainReport, Claim, ClaimId, Verdict, Detail, CostPoint, TrainOptions, TrainReport, TrainCurve, TrainMethod } from './explain';

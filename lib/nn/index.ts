// Models: layers, the sequential container and its per-sample output Jacobians.
export { linear, tanh, relu, sigmoid, softplus, gelu, activation, ACTIVATION_NAMES, isActivationName } from './layers';
export type { Layer, LinearLayer, ActivationLayer, ActivationName } from './layers';
export { conv2d, type Conv2dOptions } from './conv2d';
export { maxPool2d, avgPool2d } from './pool2d';
export { flatten } from './flatten';
export { layerNorm, type LayerNormOptions } from './layer_norm';
export { residual } from './residual';
export { embedding } from './embedding';
export { batchNorm, dropout } from './refused';
export type { ModuleLayer, BoundModule, FactoredRows } from './module';
export { mlp, sequential, Sequential } from './sequential';
export type { SequentialOptions, LinearSlot, ModuleSlot, Trace } from './sequential';
export type { InputDerivatives } from './derivatives';
export { Rng } from '../util/random';

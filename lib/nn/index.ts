// Models: layers, the sequential container and its per-sample output Jacobians.
export { linear, tanh, relu, sigmoid, softplus, gelu, activation, ACTIVATION_NAMES, isActivationName } from './layers';
export type { Layer, LinearLayer, ActivationLayer, ActivationName } from './layers';
export { mlp, sequential, Sequential } from './sequential';
export type { SequentialOptions, LinearSlot, Trace } from './sequential';
export type { InputDerivatives } from './derivatives';
export { Rng } from '../util/random';

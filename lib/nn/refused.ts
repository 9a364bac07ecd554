// Layers natgrad refuses, by name, with the reason: the exact natural gradient of a batch,
//
//   n_θ = (F_θ + λI)⁺ g_θ,   F_θ = (1/N) Σ_i J_iᵀ H_i J_i   (J_i = ∂η_i/∂θ, sample i's own Jacobian),
//
// is a sum over samples, each output depending on its own input and θ alone. These layers break that:
//  - batchNorm normalises each feature by the batch's mean and variance, so η_i depends on every sample
//    of the batch (J_i is not sample i's own, and F_θ is not a sum over samples);
//  - dropout multiplies by a random mask drawn at every call, so J_i (and F_θ) is a random draw, not a
//    property of θ.
// Approximating either silently would give a direction that is not the natural gradient of anything, so
// calling them throws (code ERR_LAYER_REFUSED) with the way out.

function refuse(name: string, why: string, instead: string): never {
  throw Object.assign(
    new TypeError(
      `${name}: natgrad refuses this layer: ${why}, so the per-sample Fisher, and with it the exact natural gradient of a batch, is not defined. ${instead}`
    ),
    {
      code: 'ERR_LAYER_REFUSED',
    }
  );
}

/** Refused (throws ERR_LAYER_REFUSED): BatchNorm couples the samples of a batch. Use layerNorm(features). */
export function batchNorm(..._args: unknown[]): never {
  return refuse(
    'batchNorm',
    "it normalises each feature by the mean and variance of the batch, so every sample's output depends on the other samples",
    'Use layerNorm(features), which normalises each sample by its own statistics.'
  );
}

/** Refused (throws ERR_LAYER_REFUSED): dropout draws a random mask at every call. Regularise with damping instead. */
export function dropout(..._args: unknown[]): never {
  return refuse(
    'dropout',
    'it multiplies by a random mask drawn at every call, so each per-sample Jacobian is a random draw',
    "Regularise with the optimizer's damping (λ: NaturalGradient's option 'damping') or a smaller model instead."
  );
}

// The natural-chain-rule proposal's question answered with numbers: explain() walks through the proposal's argument claim by
// claim on a real network (float64 references), compareTraining() races exact, per-sample, chain and
// Adam. See lib/cli/explain.ts for the command line.
export { explain, formatReport } from './report';
export type { ExplainOptions, ExplainReport } from './report';
export type { Claim, ClaimId, Detail, Verdict } from './claim';
export type { CostPoint } from './practical_claims';
export type { ProblemOptions } from './problem';
export { compareTraining, defaultMethods, formatTraining, trainingSvg } from './train';
export type { TrainOptions, TrainReport, TrainCurve, TrainMethod } from './train';
export { builtinData } from './data';

// natgrad — public exports.
export { backend, setThreads } from './native';
export type { BackendInfo, Precision } from './native';
export * from './linalg';

export * from './worker-program.js';
export * from './declared-cases.js';
export * from './compute-conformance.js';
export * from './storage-conformance.js';

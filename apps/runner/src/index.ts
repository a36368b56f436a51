export * from './runner.js';
export * from './executor.js';
export * from './noop-executor.js';
export * from './dispatch-executor.js';
export * from './replay.js';

export * from './process-compute-provider.js';

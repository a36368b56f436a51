export * from './docker-compute-provider.js';
export * from './image-ref.js';
export * from './secret-refs.js';
export * from './log-demux.js';

export * from './local-storage-provider.js';

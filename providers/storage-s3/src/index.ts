export * from './s3-storage-provider.js';

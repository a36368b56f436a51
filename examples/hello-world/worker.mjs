// The hello-world worker: the smallest thing a compute provider can run. It greets the name in
// its worker input and exits 0.
const input = JSON.parse(process.env.AGORA_WORKER_INPUT ?? '{}');
console.log(`hello, ${input.name ?? 'world'} (run ${process.env.AGORA_RUN_ID}, item ${process.env.AGORA_ITEM_ID})`);

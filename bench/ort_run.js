// Times ONNX Runtime (onnxruntime-node, CPU) on one model and input:
//   node bench/ort_run.js MODEL.onnx INPUT_NAME INPUT.npy THREADS RUNS OUT.bin
// Prints "ms_per_run N"; writes the first output's raw float32 to OUT.bin.
const ort = require('onnxruntime-node');
const fs = require('fs');

function readNpy(path) {
  const buf = fs.readFileSync(path);
  const headerLen = buf.readUInt16LE(8);
  const header = buf.toString('latin1', 10, 10 + headerLen);
  const descr = /'descr': '([^']+)'/.exec(header)[1];
  const shape = /'shape': \(([^)]*)\)/.exec(header)[1].split(',')
      .map(s => s.trim()).filter(s => s.length).map(Number);
  const data = buf.subarray(10 + headerLen);
  const copy = new Uint8Array(data).buffer;
  if (descr === '<f4') return new ort.Tensor('float32', new Float32Array(copy), shape);
  if (descr === '<i8') return new ort.Tensor('int64', new BigInt64Array(copy), shape);
  throw new Error('unsupported dtype ' + descr);
}

async function main() {
  const [model, inputName, inputPath, threads, runs, outPath] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads), interOpNumThreads: 1,
    executionMode: 'sequential', graphOptimizationLevel: 'all'});
  const feeds = {[inputName]: readNpy(inputPath)};
  let out = await session.run(feeds);  // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < Number(runs); ++i) out = await session.run(feeds);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / Number(runs);
  const first = out[session.outputNames[0]];
  fs.writeFileSync(outPath, Buffer.from(first.data.buffer));
  console.log('ms_per_run', ms);
}
main().catch(e => { console.error(e.message); process.exit(1); });

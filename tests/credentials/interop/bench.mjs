// vc.js's side of bench/verify.py: verifications per second of the given credentials, taken in turn, in this
// process (no HTTP), measured two ways for the same time each:
//   signature — the Data Integrity proof through the eddsa-rdfc-2022 suite (jsonld-signatures' verify with vc.js's
//               CredentialIssuancePurpose: RDFC-1.0 of document and proof options, SHA-256, Ed25519, the issuer's
//               key from its DID document);
//   all       — vc.verifyCredential with the Bitstring Status List check: shape, proof, and every status entry (its
//               list credential loaded and its own proof verified), as verify.mjs does.
// Input on stdin: {"credentials": [...], "documents": {...}, "seconds": 5}. Each credential must verify, with every
// status bit clear, before timing starts; both ways are warmed up first (up to 2 s each, not counted).
// Output: {"signature": {"n", "wall", "cpu"}, "all": {...}}, cpu in seconds of this process (process.cpuUsage, every
// thread).
import jsigs from 'jsonld-signatures';
import {documentLoaderFor, readInput, suite, vc, verifyAll} from './reference.mjs';

const input = await readInput();
const documentLoader = await documentLoaderFor(input.documents);
const credentials = input.credentials;
const seconds = input.seconds || 5;

const signature = credential => jsigs.verify(credential, {suite, purpose: new vc.CredentialIssuancePurpose(), documentLoader});
const all = credential => verifyAll(credential, documentLoader);

for(const credential of credentials) {
  const s = await signature(credential);
  const a = await all(credential);
  const bits = (a.statusResult?.results || []).map(r => r.status);
  if(!s.verified || !a.verified || bits.length === 0 || bits.some(b => b !== false)) {
    process.stderr.write(`not valid in vc.js: ${JSON.stringify({signature: s.error?.message, all: a.error?.message, bits})}\n`);
    process.exit(1);
  }
}

async function measure(verify) {
  let n = 0;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const stop = start + BigInt(Math.round(seconds * 1e9));
  while(process.hrtime.bigint() < stop) {
    const result = await verify(credentials[n % credentials.length]);
    if(!result.verified) throw new Error('a credential failed while timing');
    n++;
  }
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return {n, wall, cpu: (cpu.user + cpu.system) / 1e6};
}

// warm-up, not counted: the JIT, jsonld.js's context caches
for(const verify of [signature, all]) {
  const until = process.hrtime.bigint() + BigInt(Math.round(Math.min(2, seconds / 2) * 1e9));
  for(let n = 0; process.hrtime.bigint() < until || n < credentials.length; n++) {
    await verify(credentials[n % credentials.length]);
  }
}
const out = {signature: await measure(signature), all: await measure(all)};
process.stdout.write(JSON.stringify(out));

// Verifies credentials with Digital Bazaar's reference stack (@digitalbazaar/vc, data-integrity,
// eddsa-rdfc-2022-cryptosuite, vc-bitstring-status-list; set up in reference.mjs). Input on stdin:
//   {"credentials": [VC, ...], "documents": {"<url or did>": <document>, ...}}
// "documents" holds the issuer's DID document and the status list credentials the platform serves (this script
// makes no network request). Output on stdout, one item per credential: {"verified": bool, "status": [{purpose, value}],
// "statusVerified": bool (null when vc.js ran no status check), "error": "...", "statusError": "..."}.
import {documentLoaderFor, readInput, verifyAll} from './reference.mjs';

const input = await readInput();
const documentLoader = await documentLoaderFor(input.documents);
const results = [];
for(const credential of input.credentials) {
  try {
    const result = await verifyAll(credential, documentLoader);
    const statuses = [];
    const statusResults = result.statusResult?.results || (result.statusResult ? [result.statusResult] : []);
    for(const s of statusResults) {
      if(s.credentialStatus) statuses.push({purpose: s.credentialStatus.statusPurpose, value: s.status});
    }
    const error = result.error ? (result.error.errors || [result.error]).map(e => e.message).join('; ') : null;
    results.push({verified: result.verified, status: statuses, error,
      statusVerified: result.statusResult ? result.statusResult.verified === true : null,
      statusError: result.statusResult?.error ? String(result.statusResult.error.message || result.statusResult.error) : null});
  } catch(e) {
    results.push({verified: false, status: [], statusVerified: null, error: String(e && e.message || e)});
  }
}
process.stdout.write(JSON.stringify(results));

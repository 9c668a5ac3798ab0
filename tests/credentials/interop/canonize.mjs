// Canonicalises RDF datasets with rdf-canonize (RDFC-1.0), as vc.js does (run by tests/credentials/test_canon_interop.py).
// Input on stdin: {"datasets": [dataset, ...], "maxWorkFactor": n}; each dataset is either an N-Quads string or an
// array of quads in rdf-canonize's JSON form ({subject, predicate, object, graph}, each {termType, value, ...}).
// Output on stdout: [{"nquads": "..."} | {"error": "..."}, ...], one per dataset, in order.
import * as canonize from 'rdf-canonize';

const input = JSON.parse(await new Promise(resolve => {
  let data = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', chunk => data += chunk);
  process.stdin.on('end', () => resolve(data));
}));

const results = [];
for(const dataset of input.datasets) {
  const options = {algorithm: 'RDFC-1.0', format: 'application/n-quads'};
  if(input.maxWorkFactor !== undefined) {
    options.maxWorkFactor = input.maxWorkFactor === null ? Infinity : input.maxWorkFactor;
  }
  if(typeof dataset === 'string') {
    options.inputFormat = 'application/n-quads';
  }
  try {
    results.push({nquads: await canonize.canonize(dataset, options)});
  } catch(e) {
    results.push({error: String(e && e.message || e)});
  }
}
process.stdout.write(JSON.stringify(results));

// The graphql-http server audit (GraphQL-over-HTTP conformance) against a running service.
//
//   node audit.mjs http://127.0.0.1:8000/graphql
//
// Prints every audit's result and a count per requirement level (MUST, SHOULD, MAY); exits 1
// when any audit is not ok (an error, a warning or a notice), 2 when it cannot run at all.
// tests/http/test_graphql_http_audit.py runs it against a live, seeded service.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs URL');
  process.exit(2);
}

const results = await auditServer({ url });
const levels = { MUST: [0, 0], SHOULD: [0, 0], MAY: [0, 0] };
let failures = 0;
for (const result of results) {
  const level = levels[result.name.split(' ')[0]];
  level[1] += 1;
  if (result.status === 'ok') {
    level[0] += 1;
    console.log(`ok     ${result.id} ${result.name}`);
  } else {
    failures += 1;
    const body = await result.response.text().catch(() => '');
    console.log(`${result.status.padEnd(6)} ${result.id} ${result.name}: ${result.reason}`);
    console.log(`       HTTP ${result.response.status} ${result.response.headers.get('content-type')} ${body.slice(0, 300)}`);
  }
}
console.log(Object.entries(levels).map(([name, [ok, all]]) => `${name} ${ok}/${all}`).join(', '));
process.exit(failures === 0 ? 0 : 1);

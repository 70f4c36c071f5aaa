// PostGraphile v4 for bench/run.py: one Node process serving the bench's throwaway database.
//
//   node server.js       (bench/run.py starts it; configured by the environment only)
//
// BENCH_PG_URL     postgres://user@host:port/db of the throwaway database (functions.sql applied)
// BENCH_PORT       loopback port to listen on
// BENCH_JWT_SECRET, BENCH_JWT_ISSUER, BENCH_JWT_AUDIENCE
//                  the bench's per-run HS256 token is verified as the service verifies it; its
//                  claims reach PostgreSQL as jwt.claims.* (PostGraphile's own way), but no
//                  role is switched to (no claim is named as the role) and no policy reads them.
//
// POST /graphql is PostGraphile's handler; GET /healthz answers 200 once the schema is built.
// Plain `http`, no framework: the least between the socket and PostGraphile.
'use strict';

const http = require('http');
const { postgraphile } = require('postgraphile');

const env = process.env;
// BENCH_NO_AUTH=1: no token checked at all, so no transaction per request to hand its claims to
// PostgreSQL: PostGraphile at its fastest, as an open read-only endpoint would run.
const noAuth = env.BENCH_NO_AUTH === '1';
const required = noAuth ? ['BENCH_PG_URL', 'BENCH_PORT'] : ['BENCH_PG_URL', 'BENCH_PORT', 'BENCH_JWT_SECRET', 'BENCH_JWT_ISSUER', 'BENCH_JWT_AUDIENCE'];
for (const name of required) {
  if (!env[name]) {
    console.error(`server.js: ${name} is not set`);
    process.exit(2);
  }
}

const handler = postgraphile(
  // At most 32 connections, as the service and the reference keep (app/db/session.py POOL_SIZE).
  { connectionString: env.BENCH_PG_URL, max: 32 },
  'public',
  {
    graphiql: false,
    watchPg: false,
    retryOnInitFail: false,
    disableQueryLog: true,
    disableDefaultMutations: true,
    enableQueryBatching: false,
    simpleCollections: 'only', // lists, not Relay connections: the shape the service gives
    setofFunctionsContainNulls: false,
    ignoreRBAC: true,
    dynamicJson: false,
    ...(noAuth
      ? {}
      : {
          jwtSecret: env.BENCH_JWT_SECRET,
          jwtVerifyOptions: {
            algorithms: ['HS256'],
            issuer: env.BENCH_JWT_ISSUER,
            audience: env.BENCH_JWT_AUDIENCE,
          },
          jwtRole: ['pg_role'], // a claim the token does not carry: stay the connecting user
        }),
  },
);

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    handler.getGraphQLSchema().then(
      () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"status":"ok"}');
      },
      (e) => {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end(String(e));
      },
    );
    return;
  }
  handler(req, res);
});
server.keepAliveTimeout = 75000; // the load generator keeps its connections open between requests
server.listen(Number(env.BENCH_PORT), '127.0.0.1');

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}

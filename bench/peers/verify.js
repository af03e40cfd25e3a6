'use strict'
// bench/peers/verify.js: fast-jwt's verify rate for the tokens jws_bench wrote (issue 3).
//
//   node verify.js DIR [SECONDS] [ALG,ALG,...]
//
// DIR holds <ALG>.jws (the token), <ALG>.jwk (public JWK) or HS256.key (base64url secret) and
// payload.json, as `jws_bench --jws_dir=DIR` writes them. For each algorithm: one verifier
// (createVerifier, cache disabled, the one algorithm allowed), a check that it accepts the token
// with exactly our claims and refuses a tampered copy, a warm-up, then as many verifies as fit
// in SECONDS (default 3) on this one thread. Prints one JSON line per algorithm:
//   {"alg":..., "ops_per_s": <per wall second>, "cpu_ops_per_s": <per CPU second of the process>,
//    "iterations":..., "seconds":..., "fast_jwt":..., "node":...}
// Exits non-zero when a check fails.
const fs = require('node:fs')
const path = require('node:path')
const { createPublicKey } = require('node:crypto')
const { createVerifier } = require('fast-jwt')
const fastJwtVersion = require('fast-jwt/package.json').version

const [dir, secondsArg = '3', algsArg = 'HS256,RS256,ES256,EdDSA'] = process.argv.slice(2)
if (!dir) {
  console.error('usage: node verify.js DIR [SECONDS] [ALG,...]')
  process.exit(2)
}
const seconds = Number(secondsArg)
const expectedPayload = JSON.parse(fs.readFileSync(path.join(dir, 'payload.json'), 'utf8'))

function keyFor (alg) {
  if (alg === 'HS256') {
    return Buffer.from(fs.readFileSync(path.join(dir, 'HS256.key'), 'utf8').trim(), 'base64url')
  }
  const jwk = JSON.parse(fs.readFileSync(path.join(dir, `${alg}.jwk`), 'utf8'))
  // fast-jwt takes PEM public keys; node converts our public JWK (RFC 7517) to SPKI PEM.
  return createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' })
}

function fail (msg) {
  console.error(`verify.js: ${msg}`)
  process.exit(1)
}

function measure (alg) {
  const token = fs.readFileSync(path.join(dir, `${alg}.jws`), 'utf8').trim()
  const verify = createVerifier({ key: keyFor(alg), algorithms: [alg], cache: false })

  const claims = verify(token)
  if (JSON.stringify(claims) !== JSON.stringify(expectedPayload)) fail(`${alg}: fast-jwt returned other claims`)
  const parts = token.split('.')
  parts[2] = (parts[2][0] === 'A' ? 'B' : 'A') + parts[2].slice(1)
  let refused = false
  try { verify(parts.join('.')) } catch { refused = true }
  if (!refused) fail(`${alg}: fast-jwt accepted a tampered signature`)

  const batch = 256
  const run = (ns) => {
    let n = 0
    let sink = 0
    const cpu0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    const end = t0 + BigInt(Math.round(ns))
    let t = t0
    while (t < end) {
      for (let i = 0; i < batch; i++) sink += verify(token).exp
      n += batch
      t = process.hrtime.bigint()
    }
    const cpu = process.cpuUsage(cpu0)
    if (sink !== n * expectedPayload.exp) fail(`${alg}: wrong claims inside the loop`)
    return { n, wall: Number(t - t0) / 1e9, cpu: (cpu.user + cpu.system) / 1e6 }
  }
  run(Math.min(1, seconds / 3) * 1e9) // warm-up: JIT, inline caches
  const r = run(seconds * 1e9)
  return {
    alg,
    ops_per_s: r.n / r.wall,
    cpu_ops_per_s: r.n / r.cpu,
    iterations: r.n,
    seconds: r.wall,
    fast_jwt: fastJwtVersion,
    node: process.version
  }
}

for (const alg of algsArg.split(',')) console.log(JSON.stringify(measure(alg)))

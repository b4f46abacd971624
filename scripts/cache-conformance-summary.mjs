// Summarises a results file of the http-cache-tests CLI the way
// cache-tests.fyi classifies results (dependencies honoured).
// Usage: node cache-conformance-summary.mjs SUITE_DIR RESULTS_JSON
import fs from 'fs'
import path from 'path'
import { pathToFileURL } from 'url'

const [suiteDir, resultsFile] = process.argv.slice(2)
const suites = (await import(pathToFileURL(path.join(suiteDir, 'tests/index.mjs')))).default
// npm 0.4.5 keeps Surrogate-Control apart; the upstream suite has none.
if (fs.existsSync(path.join(suiteDir, 'tests/surrogate-control.mjs'))) {
  suites.push((await import(pathToFileURL(path.join(suiteDir, 'tests/surrogate-control.mjs')))).default)
}
const results = JSON.parse(fs.readFileSync(resultsFile, 'utf8'))

const byId = new Map()
for (const s of suites) for (const t of s.tests) byId.set(t.id, { ...t, suite: s.id })

function classify (id) {
  const test = byId.get(id)
  const r = results[id]
  if (r === undefined) return 'untested'
  for (const dep of test.depends_on || []) {
    const d = classify(dep)
    if (d !== 'pass' && d !== 'yes') return 'dependency_fail'
  }
  if (Array.isArray(r) && r[0] === 'Setup') return r[1] === 'retry' ? 'retry' : 'setup_fail'
  if (r === false || (Array.isArray(r) && r[0] !== 'Assertion')) return 'harness_fail'
  const kind = test.kind || 'required'
  if (kind === 'required') return r === true ? 'pass' : 'fail'
  if (kind === 'optimal') return r === true ? 'pass' : 'optional_fail'
  return r === true ? 'yes' : 'no'
}

const counts = {}
const failures = []
const kinds = {} // kind (cdn- prefixed for the RFC 9213 group) -> [passed, total]
function tally (key, ok) {
  const k = kinds[key] || (kinds[key] = [0, 0])
  k[1]++
  if (ok) k[0]++
}
for (const id of byId.keys()) {
  const c = classify(id)
  counts[c] = (counts[c] || 0) + 1
  const t = byId.get(id)
  const ok = c === 'pass' || c === 'yes'
  tally(t.kind || 'required', ok)
  if (t.suite === 'cdn-cache-control') tally('cdn-cache-control (' + (t.kind || 'required') + ')', ok)
  if (t.suite === 'cdn-cache-control' && t.kind !== 'check') tally('cdn-cache-control (required+optimal)', ok)
  if (c === 'fail' || c === 'setup_fail' || c === 'harness_fail' || c === 'optional_fail') {
    const r = results[id]
    failures.push(`${c.padEnd(13)} ${id}: ${Array.isArray(r) ? r.slice(0, 2).join(': ') : r}`)
  }
}
for (const f of failures) console.log(f)
console.log(JSON.stringify(counts))
const required = (counts.pass || 0) + (counts.fail || 0)
console.log(`required+optimal passed: ${counts.pass || 0}; required failed: ${counts.fail || 0} (of ${required}); optimal not met: ${counts.optional_fail || 0}`)
for (const [k, [p, n]] of Object.entries(kinds)) console.log(`${k}: ${p}/${n}`)

// Summarises a results file of the http-cache-tests CLI the way
// cache-tests.fyi classifies results (dependencies honoured).
// Usage: node cache-conformance-summary.mjs SUITE_DIR RESULTS_JSON
import fs from 'fs'
import path from 'path'
import { pathToFileURL } from 'url'

const [suiteDir, resultsFile] = process.argv.slice(2)
const suites = (await import(pathToFileURL(path.join(suiteDir, 'tests/index.mjs')))).default
const surrogate = (await import(pathToFileURL(path.join(suiteDir, 'tests/surrogate-control.mjs')))).default
suites.push(surrogate)
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
for (const id of byId.keys()) {
  const c = classify(id)
  counts[c] = (counts[c] || 0) + 1
  if (c === 'fail' || c === 'setup_fail' || c === 'harness_fail' || c === 'optional_fail') {
    const r = results[id]
    failures.push(`${c.padEnd(13)} ${id}: ${Array.isArray(r) ? r.slice(0, 2).join(': ') : r}`)
  }
}
for (const f of failures) console.log(f)
console.log(JSON.stringify(counts))
const required = (counts.pass || 0) + (counts.fail || 0)
console.log(`required+optimal passed: ${counts.pass || 0}; required failed: ${counts.fail || 0} (of ${required}); optimal not met: ${counts.optional_fail || 0}`)

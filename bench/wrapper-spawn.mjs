#!/usr/bin/env node
// The wrapper's two ways of starting the app, in one process, alternating, same environment
// (the runner's variables plus 5 secrets of 64 bytes):
// - native: the addon's secret store (memfd_secret) + posix_spawnp with envp pointing into it,
//   exit reported by a waiter thread (what the wrapper does with its addon);
// - child_process: the values as strings, Node's spawn (libuv fork+exec), 'exit' event (fallback).
// Reports the synchronous cost of the spawn call and the time until /bin/true's exit is known.
// Builds the addon with gcc into a temp dir; needs no OpenBao.
import {execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

const N = Number(process.env.RUNS ?? 300)
const root = new URL('..', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-bench-spawn-'))
try {
  const addon = join(dir, 'cloudtaser-native.node')
  execFileSync(join(root, 'runtime/wrapper/native/build.sh'), [addon])
  const m = {exports: {}}
  process.dlopen(m, addon)
  const native = m.exports
  const secrets = Object.fromEntries(Array.from({length: 5}, (_, i) => [`SECRET_${i}`, 'x'.repeat(64)]))
  const base = Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined))
  const baseList = Object.entries(base).map(([k, v]) => `${k}=${v}`)
  const raw = Buffer.from('x'.repeat(64))

  const viaNative = () =>
    new Promise((resolve, reject) => {
      const t0 = performance.now()
      const store = native.storeCreate(5 * 80)
      if (store.kind !== 'memfd_secret') throw new Error(`store is ${store.kind}`)
      for (const name of Object.keys(secrets)) native.storePut(store.handle, name, raw, 0, raw.length, false)
      const r = native.spawn('/bin/true', ['/bin/true'], baseList, store.handle, (code) => {
        native.release(r.slot)
        if (code === 0) resolve({call, total: performance.now() - t0})
        else reject(new Error(`exit ${code}`))
      })
      native.storeWipe(store.handle)
      const call = performance.now() - t0
    })
  const viaNode = () =>
    new Promise((resolve, reject) => {
      const t0 = performance.now()
      const p = spawn('/bin/true', [], {env: {...base, ...secrets}, stdio: 'inherit'})
      const call = performance.now() - t0
      p.once('exit', (code) => (code === 0 ? resolve({call, total: performance.now() - t0}) : reject(new Error(`exit ${code}`))))
    })

  const res = {native: {call: [], total: []}, node: {call: [], total: []}}
  for (let i = 0; i < N + 20; i++) {
    for (const which of i % 2 === 0 ? ['native', 'node'] : ['node', 'native']) {
      const r = await (which === 'native' ? viaNative() : viaNode())
      if (i >= 20) {
        res[which].call.push(r.call)
        res[which].total.push(r.total)
      }
    }
  }
  const med = (a) => a.toSorted((x, y) => x - y)[Math.floor(a.length / 2)]
  const p90 = (a) => a.toSorted((x, y) => x - y)[Math.floor(a.length * 0.9)]
  console.log(`spawn /bin/true, ${N} runs each, alternating; env: ${baseList.length} base variables + 5 secrets`)
  for (const [label, k] of [['native (memfd_secret + posix_spawnp)', 'native'], ['child_process (fallback)          ', 'node']]) {
    console.log(`${label}  spawn call median ${med(res[k].call).toFixed(3)} ms p90 ${p90(res[k].call).toFixed(3)}  |  until exit known median ${med(res[k].total).toFixed(3)} ms p90 ${p90(res[k].total).toFixed(3)}`)
  }
  console.log(`ratio native/child_process: spawn call ${(med(res.native.call) / med(res.node.call)).toFixed(2)}, until exit ${(med(res.native.total) / med(res.node.total)).toFixed(2)}`)
} finally {
  rmSync(dir, {recursive: true, force: true})
}

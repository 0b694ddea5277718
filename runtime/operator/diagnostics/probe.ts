// One GET of OpenBao's /v1/sys/health from the operator's network: does the address the wrapper
// dials answer at all? Names, routes and ports are what break after a plan's address is wrong.
import {request as httpRequest} from 'node:http'
import {request as httpsRequest} from 'node:https'

export type Probe = (address: string) => Promise<{reachable?: boolean; detail: string}>

const HEALTH: Record<number, string> = {
  200: 'initialized, unsealed, active',
  429: 'unsealed standby',
  472: 'disaster-recovery secondary',
  473: 'performance standby',
  501: 'not initialized',
  503: 'sealed',
}

/**
 * The certificate is not verified here: the Pod's CA ConfigMap is the wrapper's to read, not the
 * operator's (no ConfigMap access in its RBAC). A TLS failure in the wrapper's termination
 * message is the authority on trust; this answers "is anything there".
 */
export const probeOpenBao: Probe = (address) =>
  new Promise((resolve) => {
    let url: URL
    try {
      url = new URL('/v1/sys/health?standbyok=true&perfstandbyok=true', address)
    } catch {
      return resolve({reachable: false, detail: `not a URL: ${address}`})
    }
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest
    const req = request(url, {method: 'GET', timeout: 3000, rejectUnauthorized: false}, (res) => {
      res.resume()
      const code = res.statusCode ?? 0
      const what = HEALTH[code]
      resolve(what ? {reachable: true, detail: `OpenBao answered from the operator's network: ${what} (HTTP ${code}; certificate not verified here)`} : {reachable: false, detail: `something answered with HTTP ${code}, not OpenBao's health endpoint`})
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer within 3 s'), {code: 'ETIMEDOUT'})))
    req.on('error', (err: NodeJS.ErrnoException) => resolve({reachable: false, detail: `${err.code ?? 'ERROR'}: ${err.message}`}))
    req.end()
  })

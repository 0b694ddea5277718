import {BaoClient} from './bao-client.js'
import type {ConnectionSettings} from './config.js'
import {UndiciTransport} from './undici-transport.js'

export {BaoClient, type BaoResponse, type CallOptions, type ClientStats} from './bao-client.js'

/** BaoClient over undici: what the CLI and the operator use. */
export class OpenBaoClient extends BaoClient {
  constructor(settings: ConnectionSettings, options: {connections?: number; backoffMs?: number} = {}) {
    super(settings, new UndiciTransport({ca: settings.ca, connections: options.connections, timeoutMs: settings.timeoutMs}), options)
  }
}

import {BaoClient} from './bao-client.js'
import type {ConnectionSettings} from './config.js'
import {HttpTransport} from './http-transport.js'

export {BaoClient, type BaoResponse, type CallOptions, type ClientStats} from './bao-client.js'

/** BaoClient over node:http(s) (http-transport.ts): what the CLI, the operator, the bridge and the S3 proxy use. */
export class OpenBaoClient extends BaoClient {
  constructor(settings: ConnectionSettings, options: {connections?: number; backoffMs?: number} = {}) {
    super(settings, new HttpTransport({ca: settings.ca, connections: options.connections}), options)
  }
}

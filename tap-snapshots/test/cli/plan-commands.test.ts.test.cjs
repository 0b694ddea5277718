/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`test/cli/plan-commands.test.ts > TAP > plan show: progress per tenant > show result shape 1`] = `
Object {
  "cluster": Object {
    "fingerprint": "0f6a4a36-4cf3-4d93-9f0b-5e2d8f6e1c2a",
    "name": "prod-eu-1",
  },
  "counts": Object {
    "failed": 0,
    "migrated": 0,
    "pending": 5,
    "skipped": 0,
    "total": 5,
  },
  "createdAt": "2026-11-21T14:03:10Z",
  "createdBy": "platform-bot@ci-runner-7",
  "name": "prod-eu-1",
  "notProtectable": 1,
  "tenants": Array [
    Object {
      "counts": Object {
        "failed": 0,
        "migrated": 0,
        "pending": 2,
        "skipped": 0,
        "total": 2,
      },
      "name": "payments",
      "namespace": "payments",
      "policy": "cloudtaser-prod-eu-1-payments",
      "role": "cloudtaser-prod-eu-1-payments",
      "workloads": Array [
        Object {
          "kind": "Deployment",
          "name": "api",
          "secrets": Array [
            "secret/data/prod-eu-1/payments/payments-db",
            "secret/data/prod-eu-1/payments/psp-api",
          ],
          "state": "pending",
        },
        Object {
          "kind": "StatefulSet",
          "name": "ledger",
          "secrets": Array [
            "secret/data/prod-eu-1/payments/payments-db",
            "secret/data/prod-eu-1/payments/ledger-tls",
          ],
          "state": "pending",
        },
      ],
    },
    Object {
      "counts": Object {
        "failed": 0,
        "migrated": 0,
        "pending": 2,
        "skipped": 0,
        "total": 2,
      },
      "name": "search",
      "namespace": "search",
      "policy": "cloudtaser-prod-eu-1-search",
      "role": "cloudtaser-prod-eu-1-search",
      "workloads": Array [
        Object {
          "kind": "DaemonSet",
          "name": "log-shipper",
          "secrets": Array [
            "secret/data/prod-eu-1/search/es-credentials",
          ],
          "state": "pending",
        },
        Object {
          "kind": "CronJob",
          "name": "reindex",
          "secrets": Array [
            "secret/data/prod-eu-1/search/es-credentials",
          ],
          "state": "pending",
        },
      ],
    },
    Object {
      "counts": Object {
        "failed": 0,
        "migrated": 0,
        "pending": 1,
        "skipped": 0,
        "total": 1,
      },
      "name": "identity",
      "namespace": "identity",
      "policy": "cloudtaser-prod-eu-1-identity",
      "role": "cloudtaser-prod-eu-1-identity",
      "workloads": Array [
        Object {
          "kind": "Deployment",
          "name": "keycloak",
          "secrets": Array [
            "secret/data/prod-eu-1/identity/keycloak-admin",
          ],
          "state": "pending",
        },
      ],
    },
  ],
  "vaultInjected": 1,
}
`

exports[`test/cli/plan-commands.test.ts > TAP > plan validate --json: typed result, exit code kept > validate result shape 1`] = `
Object {
  "files": Array [
    Object {
      "file": "examples/plans/invalid/bad-status.yaml",
      "issues": Array [
        Object {
          "code": "PLAN_SCHEMA",
          "col": 18,
          "file": "examples/plans/invalid/bad-status.yaml",
          "line": 13,
          "message": "state \\"done\\" must be one of \\"pending\\", \\"migrated\\", \\"skipped\\", \\"failed\\"",
          "pointer": "/tenants/0/workloads/0/status/state",
        },
      ],
      "valid": false,
    },
    Object {
      "file": "examples/plans/partially-migrated.yaml",
      "issues": Array [],
      "valid": true,
    },
  ],
  "valid": false,
}
`

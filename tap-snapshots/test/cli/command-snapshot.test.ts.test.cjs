/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`test/cli/command-snapshot.test.ts > TAP > commands and flags 1`] = `
Array [
  Object {
    "args": Array [
      "file",
    ],
    "flags": Array [
      Object {
        "aliases": undefined,
        "char": undefined,
        "multiple": undefined,
        "name": "json",
        "type": "boolean",
      },
      Object {
        "aliases": undefined,
        "char": undefined,
        "multiple": undefined,
        "name": "no-color",
        "type": "boolean",
      },
    ],
    "id": "plan:show",
  },
  Object {
    "args": Array [
      "file",
    ],
    "flags": Array [
      Object {
        "aliases": undefined,
        "char": undefined,
        "multiple": undefined,
        "name": "json",
        "type": "boolean",
      },
      Object {
        "aliases": undefined,
        "char": undefined,
        "multiple": undefined,
        "name": "no-color",
        "type": "boolean",
      },
    ],
    "id": "plan:validate",
  },
  Object {
    "args": Array [],
    "flags": Array [
      Object {
        "aliases": undefined,
        "char": undefined,
        "multiple": undefined,
        "name": "json",
        "type": "boolean",
      },
      Object {
        "aliases": undefined,
        "char": undefined,
        "multiple": undefined,
        "name": "no-color",
        "type": "boolean",
      },
    ],
    "id": "version",
  },
]
`

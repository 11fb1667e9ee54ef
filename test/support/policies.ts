// Policies used by the end-to-end tests: short durations so expiry can be watched in real time.
export const E2E_POLICY = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
  - { name: sec, groups: [security] }
admins: { groups: [security] }
auditors: { groups: [security] }
resources:
  - { name: prod-orders, kind: postgres, address: "127.0.0.1:5432", database: orders, labels: { env: prod } }
roles:
  - name: read
    resources: { labels: { env: prod } }
    max_duration: 4h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: true, pattern: "^[A-Z]+-[0-9]+", hint: "Start with a ticket such as OPS-123." }
    pending_timeout: 30m
`;

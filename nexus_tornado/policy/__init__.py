"""Security and validation as plain objects: JWT -> principal, ACLs, schemas, limits.

Nothing here imports Tornado; clocks are injected so every rule is testable without I/O.
"""

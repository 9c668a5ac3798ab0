"""Shared kit for every VET platform service: configuration, database, errors, auth, pagination,
object store, outbox, idempotency and logging. It holds no domain logic."""

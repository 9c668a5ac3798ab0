"""Data Integrity proofs for credentials: bundled JSON-LD contexts, RDF canonicalisation, the ``eddsa-rdfc-2022``
cryptosuite, multibase/Multikey encodings and the protection of issuers' private keys."""

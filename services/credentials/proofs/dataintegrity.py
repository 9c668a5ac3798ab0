"""The ``eddsa-rdfc-2022`` Data Integrity cryptosuite (W3C VC Data Integrity EdDSA Cryptosuites v1.0).

Signing: the proof options (the proof without ``proofValue``, with the document's ``@context``) and the document
without its proof are canonicalised with RDFC-1.0; the data signed with Ed25519 is
``SHA-256(canonical proof options) ‖ SHA-256(canonical document)``; ``proofValue`` is the signature in multibase
base58btc. Verification recomputes the same bytes and checks the signature."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from cachetools import LRUCache
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.credentials.proofs.contexts import canonize
from services.credentials.proofs.multibase import MultibaseError, decode_base58btc, encode_base58btc

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-rdfc-2022"


#: what an eddsa-rdfc-2022 proof of this platform holds; anything else is not understood
_PROOF_MEMBERS = frozenset({"id", "type", "cryptosuite", "created", "expires", "verificationMethod", "proofPurpose", "proofValue"})


class ProofError(Exception):
    """The proof is missing, malformed, or of a kind this verifier does not handle."""


def xsd_datetime(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


#: SHA-256 of canonical proof options by their JSON text. The options (contexts, type, cryptosuite, created,
#: verification method, purpose) are the same for every credential of a batch — signed at one instant with one key —
#: and for every check of one credential, so their canonicalisation is done once. A pure function of the key.
_options_hashes: LRUCache[str, bytes] = LRUCache(maxsize=1024)


def _options_hash(options: dict[str, Any]) -> bytes:
    key = json.dumps(options, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = _options_hashes.get(key)
    if digest is None:
        digest = _options_hashes[key] = hashlib.sha256(canonize(options).encode("utf-8")).digest()
    return digest


def clear_caches() -> None:
    """Forget cached proof-option hashes (benchmarks measure the cold path with it)."""
    _options_hashes.clear()


def hash_data(document: dict[str, Any], proof_options: dict[str, Any]) -> bytes:
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    options = {k: v for k, v in proof_options.items() if k != "proofValue"}
    options["@context"] = unsecured.get("@context")
    return _options_hash(options) + hashlib.sha256(canonize(unsecured).encode("utf-8")).digest()


def sign(
    document: dict[str, Any],
    private_key: Ed25519PrivateKey,
    verification_method: str,
    *,
    created: datetime,
    proof_purpose: str = "assertionMethod",
) -> dict[str, Any]:
    """A copy of ``document`` with a ``proof``."""
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": xsd_datetime(created),
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    signature = private_key.sign(hash_data(document, proof))
    return {**{k: v for k, v in document.items() if k != "proof"}, "proof": proof | {"proofValue": encode_base58btc(signature)}}


def single_proof(document: dict[str, Any]) -> dict[str, Any]:
    proof = document.get("proof")
    if isinstance(proof, list):
        if len(proof) != 1:
            raise ProofError("exactly one proof is expected")
        proof = proof[0]
    if not isinstance(proof, dict):
        raise ProofError("the credential has no proof")
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        raise ProofError(f"the proof must be a {PROOF_TYPE} with cryptosuite {CRYPTOSUITE}")
    if not isinstance(proof.get("verificationMethod"), str) or not isinstance(proof.get("proofValue"), str):
        raise ProofError("the proof needs a verificationMethod and a proofValue")
    if proof.get("proofPurpose") != "assertionMethod":
        raise ProofError("the proof purpose must be assertionMethod")
    extra = set(proof) - _PROOF_MEMBERS
    if extra:
        raise ProofError(f"the proof member {sorted(extra)[0]!r} is not understood")
    if "created" in proof and not isinstance(proof["created"], str):
        raise ProofError("created must be a date-time string")
    return proof


def signature_of(proof: dict[str, Any]) -> bytes:
    try:
        signature = decode_base58btc(proof["proofValue"])
    except MultibaseError as exc:
        raise ProofError(f"proofValue: {exc}") from exc
    if len(signature) != 64:
        raise ProofError("an Ed25519 signature has 64 bytes")
    return signature


def verify(document: dict[str, Any], public_key: Ed25519PublicKey) -> bool:
    """True when the document's single proof is a valid signature by ``public_key``. Raises :class:`ProofError`
    for a malformed proof and the errors of :func:`canonize` for JSON-LD problems."""
    proof = single_proof(document)
    signature = signature_of(proof)
    try:
        public_key.verify(signature, hash_data(document, proof))
    except InvalidSignature:
        return False
    return True

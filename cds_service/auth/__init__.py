"""CDS Hooks client authentication: which EHRs may call, and proof that a call comes from one of them."""

from cds_service.auth.client_auth import ClientAuth, authenticate_call, client_for_call, client_for_discovery
from cds_service.auth.issuers import TrustedIssuer, TrustedIssuersError, load_trusted_issuers, trusted_issuers_for
from cds_service.auth.verify import ALLOWED_ALGORITHMS, AuthenticationFailed, TokenVerifier, VerifiedClient

__all__ = [
    "ALLOWED_ALGORITHMS",
    "AuthenticationFailed",
    "ClientAuth",
    "TokenVerifier",
    "TrustedIssuer",
    "TrustedIssuersError",
    "VerifiedClient",
    "authenticate_call",
    "client_for_call",
    "client_for_discovery",
    "load_trusted_issuers",
    "trusted_issuers_for",
]

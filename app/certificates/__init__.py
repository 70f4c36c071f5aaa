"""E-certificates (电子证照): issuer signing keys and the signed documents they make."""

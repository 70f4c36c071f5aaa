"""The tamper-evident audit log (SPEC section 7): chain.py is pure hashing, store.py the one writer."""

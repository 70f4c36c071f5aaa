"""How a GraphQL request is executed: planned once per query text, then run (see compiled.py)."""

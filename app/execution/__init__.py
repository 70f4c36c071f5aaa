"""How a GraphQL operation is executed: planned once per parsed operation (plan.py), run (run.py), inside strawberry's pipeline (executor.py)."""

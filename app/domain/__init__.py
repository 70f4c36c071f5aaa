"""Domain vocabulary and pure rules: no database, no HTTP."""

"""Xinzheng (信证): GraphQL credit and e-certificate service."""

"""Example shipper plugins: `parser: acme_vault` and `type: acme_archive` (see README.md)."""

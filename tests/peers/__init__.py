"""Strict protocol peers for servers that cannot be installed here (Fluentd, Elasticsearch)."""

"""shipper: ships the audit trails of data platforms, normalised to ECS."""

__version__ = "0.1.0"

"""The pytest plugin (registered by entry point): control plane fixtures."""

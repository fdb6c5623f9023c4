"""The scheduled jobs: each one a story told over the store and the domain, in transactions of its own."""

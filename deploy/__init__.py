"""What `make deploy` runs around `sam deploy`: the configuration hash that gives every change a new version."""

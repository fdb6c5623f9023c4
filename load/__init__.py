"""`make load`: concurrent clients against the local stack, and the faults they must ride through."""

"""The X-Ray Tracer, for the functions whose calls to other services are worth a trace.

Kept apart from observability: the X-Ray SDK (with botocore) more than doubles a handler's cold
import. Functions that only talk to Postgres rely on Lambda's active tracing of the invocation.
"""

from aws_lambda_powertools import Tracer

from resilience_lambda.observability import SERVICE

tracer = Tracer(service=SERVICE)
